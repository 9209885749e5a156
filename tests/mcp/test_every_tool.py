"""Every tool through the official ``mcp`` client, in both protocol eras, on a demo tenant.

One sweep per era (module-scoped): an in-process server on a copy of a seeded SQLite database,
one ``mcp.Client`` session that lists every route, calls every write tool in dependency order
and reads its effect back, calls every read tool, then sends invalid arguments to every tool.
The parametrised tests below only judge the recorded outcomes, so each tool and case reports
on its own line while the whole module stays one client session per era.
"""

from __future__ import annotations

import asyncio
import dataclasses
import json
import os
import shutil
import sqlite3
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from jsonschema import Draft202012Validator
from mcp import Client
from mcp.types import CallToolResult
from mcp.types import Tool as WireTool

from kaireon_mcp.config import load_settings
from kaireon_mcp.server.app import ServerDeps, build_server
from kaireon_mcp.server.scope import policy_from_flags
from kaireon_mcp.server.stdio import stdio_binding
from kaireon_mcp.storage.context import TenantContext
from kaireon_mcp.storage.db import Database
from kaireon_mcp.storage.seed import SeedParams, seed_demo
from kaireon_mcp.storage.tables import AiRecommendation, ApprovalRequest, ContentSource, DataSchema
from kaireon_mcp.tools import load_all
from kaireon_mcp.tools.registry import ROUTE_EXAMPLES, Tool
from tests.conftest import DEMO_PARAMS_KW, SECRET
from tests.mcp.conftest import MODES, all_tools
from tests.mcp.tool_examples import (
    MISSING,
    PROVIDER_TOOLS,
    READ_EXAMPLES,
    UNKNOWN_ID_EXAMPLES,
    UNKNOWN_ID_IS_EMPTY,
    WRITE_EXAMPLES,
    dig,
)

REGISTRY = load_all()
TOOLS: list[Tool] = REGISTRY.all()
BY_NAME = {t.name: t for t in TOOLS}
READS = [t.name for t in TOOLS if t.read_only]
WRITE_CASES = [ex.case for ex in WRITE_EXAMPLES]
WRITE_BY_CASE = {ex.case: ex for ex in WRITE_EXAMPLES}

#: tool-catalog.md section 4: tools per route (base set B of 18 included; setRoute not counted)
ROUTE_SIZES = {
    ROUTE_EXAMPLES["DS"]: 21,
    ROUTE_EXAMPLES["FP"]: 21,
    ROUTE_EXAMPLES["DX"]: 20,
    ROUTE_EXAMPLES["DF"]: 54,
    ROUTE_EXAMPLES["TR"]: 42,
    ROUTE_EXAMPLES["AL"]: 33,
    ROUTE_EXAMPLES["DB"]: 21,
    "/data/schemas/sch_1": 21,
    "/algorithms/experiments/x": 33,
}
GENERAL_ROUTES = ("/", "/studio/offers", "/settings")

#: environment variables that would configure an LLM provider or the ML worker
_PROVIDER_ENV_PREFIXES = ("KAIREON_AI_", "ANTHROPIC_", "OPENAI_", "OLLAMA_", "LM_STUDIO_", "ML_WORKER")

#: cases with a known, reported defect: (kind, tool or case) -> reason (strict xfail)
KNOWN_BUGS: dict[tuple[str, str], str] = {}


# ---- deriving invalid arguments from each tool's input model ---------------------------------
def _model_schema(spec: Tool) -> dict[str, Any]:
    return spec.input_model.model_json_schema()


def _resolve_node(node: dict[str, Any], defs: dict[str, Any]) -> dict[str, Any]:
    """A property's own schema: follow ``$ref`` and take the non-null branch of ``X | None``."""
    if "$ref" in node:
        node = {
            **defs.get(node["$ref"].rsplit("/", 1)[-1], {}),
            **{k: v for k, v in node.items() if k != "$ref"},
        }
    if "anyOf" in node:
        options = [o for o in node["anyOf"] if o.get("type") != "null"]
        if len(options) == 1:
            return _resolve_node({**{k: v for k, v in node.items() if k != "anyOf"}, **options[0]}, defs)
    return node


def _properties(spec: Tool) -> dict[str, dict[str, Any]]:
    schema = _model_schema(spec)
    defs = schema.get("$defs", {})
    return {name: _resolve_node(node, defs) for name, node in schema.get("properties", {}).items()}


def _required(spec: Tool) -> list[str]:
    return list(_model_schema(spec).get("required", []))


def example_args(name: str) -> dict[str, Any] | None:
    if name in READ_EXAMPLES:
        return READ_EXAMPLES[name]
    return next((ex.args for ex in WRITE_EXAMPLES if ex.tool == name), None)


_WRONG = {
    "string": 12345,
    "integer": "not-a-number",
    "number": "NaN-ish",
    "boolean": "maybe",
    "array": 7,
    "object": 7,
}


def wrong_type_case(spec: Tool) -> tuple[str, Any] | None:
    """(property, value of the wrong type), preferring a required property of a simple type."""
    props = _properties(spec)
    order = _required(spec) + [p for p in props if p not in _required(spec)]
    for name in order:
        node = props[name]
        if "enum" in node:
            return name, 12345
        if node.get("type") in _WRONG:
            return name, _WRONG[node["type"]]
    return None


def out_of_range_case(spec: Tool) -> tuple[str, Any] | None:
    """(property, value) outside a declared bound: numeric bounds first, then sizes, then lengths."""
    props = _properties(spec)
    for name, node in props.items():
        if "minimum" in node:
            return name, node["minimum"] - 1
        if "exclusiveMinimum" in node:
            return name, node["exclusiveMinimum"]
        if "maximum" in node:
            return name, node["maximum"] + 1
        if "exclusiveMaximum" in node:
            return name, node["exclusiveMaximum"]
    for name, node in props.items():
        if node.get("minItems", 0) >= 1:
            return name, []
        if "maxItems" in node:
            return name, ["x"] * (node["maxItems"] + 1)
    for name, node in props.items():
        if node.get("minLength", 0) >= 1:
            return name, ""
        if "maxLength" in node:
            return name, "x" * (node["maxLength"] + 1)
    return None


def _id_key(args: dict[str, Any], spec: Tool) -> str | None:
    required = _required(spec)
    for key in required:
        if (key == "id" or key.endswith("Id")) and isinstance(args.get(key), str):
            return key
    return None


def unknown_id_args(name: str) -> dict[str, Any] | None:
    if name in UNKNOWN_ID_EXAMPLES:
        return UNKNOWN_ID_EXAMPLES[name]
    if name in UNKNOWN_ID_IS_EMPTY:
        return None
    args = example_args(name)
    if args is None:
        return None
    key = _id_key(args, BY_NAME[name])
    return None if key is None else {**args, key: MISSING}


MISSING_CASES = [t.name for t in TOOLS if _required(t)]
WRONG_TYPE_CASES = {t.name: c for t in TOOLS if (c := wrong_type_case(t)) is not None}
RANGE_CASES = {t.name: c for t in TOOLS if (c := out_of_range_case(t)) is not None}
UNKNOWN_ID_CASES = {t.name: a for t in TOOLS if (a := unknown_id_args(t.name)) is not None}


# ---- the sweep ---------------------------------------------------------------------------------
@dataclass
class Outcome:
    args: dict[str, Any] | None = None
    result: CallToolResult | None = None
    problem: str | None = None  # a prerequisite was missing or the client raised
    readback: Any = None
    readback_problem: str | None = None


@dataclass
class World:
    mode: str
    listed: dict[str, list[WireTool]] = field(default_factory=dict)
    outcomes: dict[tuple[str, str], Outcome] = field(default_factory=dict)
    state: dict[str, Any] = field(default_factory=dict)


class Unresolved(KeyError):
    pass


def resolve(value: Any, state: dict[str, Any]) -> Any:
    if isinstance(value, str) and value.startswith("$"):
        if value[1:] not in state:
            raise Unresolved(f"prerequisite {value} was not created (an earlier step failed)")
        return state[value[1:]]
    if isinstance(value, dict):
        return {k: resolve(v, state) for k, v in value.items()}
    if isinstance(value, list):
        return [resolve(v, state) for v in value]
    return value


def data_of(result: CallToolResult) -> dict[str, Any]:
    return json.loads(result.content[0].text)  # type: ignore[union-attr]


def error_of(result: CallToolResult) -> dict[str, Any]:
    assert result.is_error, f"expected an error, got {str(data_of(result))[:300]}"
    return data_of(result)["error"]  # type: ignore[no-any-return]


async def _seed_rows(db: Database, state: dict[str, Any]) -> None:
    """Rows no tool creates: a CMS source, a pending approval, an AI recommendation, a spare schema."""
    async with db.tenant(TenantContext("demo")) as repo:
        items = [{"id": "cms1", "title": "Sweep CMS item", "channelType": "email", "body": "Hello"}]
        source = await repo.create(
            ContentSource, {"name": "CMS", "source_type": "contentful", "config": {"items": items}}
        )
        approval = await repo.create(
            ApprovalRequest,
            {
                "entity_type": "offer",
                "entity_id": "off_demo_bogo_5_day_easy",
                "action": "update",
                "payload": {"priority": 66},
                "requester_id": "alice",
            },
        )
        rec = await repo.create(
            AiRecommendation,
            {
                "type": "policy",
                "title": "Sweep weekly cap",
                "payload": {"ruleType": "frequency_cap", "config": {"maxPerWeek": 4}},
            },
        )
        doomed = await repo.create(
            DataSchema, {"name": "sweep_doomed", "display_name": "Doomed", "table_name": "sweep_doomed"}
        )
    state.update(source=source.id, approval=approval.id, airec=rec.id, doomedSchema=doomed.id)


def _db_rows(path: Path, table: str, row_id: str | None) -> Any:
    with sqlite3.connect(path) as conn:
        conn.row_factory = sqlite3.Row
        if row_id is None:
            return [dict(r) for r in conn.execute(f"SELECT * FROM {table}")]  # noqa: S608 - test tables
        row = conn.execute(f"SELECT * FROM {table} WHERE id = ?", (row_id,)).fetchone()  # noqa: S608
        return dict(row) if row else None


async def _call(client: Client, name: str, args: Any, state: dict[str, Any]) -> Outcome:
    out = Outcome()
    try:
        out.args = resolve(args, state)
        out.result = await client.call_tool(name, out.args)
    except Unresolved as exc:
        out.problem = str(exc)
    except Exception as exc:  # noqa: BLE001 - recorded and reported by the test of this case
        out.problem = f"client raised {exc!r}"
    return out


async def _sweep(mode: str, path: Path) -> World:
    world = World(mode)
    settings = dataclasses.replace(
        load_settings(),
        home=path.parent,
        database_url=f"sqlite+aiosqlite:///{path}",
        tenant_id="demo",
        api_key=None,
        api_url=None,
        route="/",
        env="development",
        allow_writes=False,
        read_only=False,
        redis_url=None,
        ml_worker_url=None,
    )
    db = Database(settings.database_url, SECRET)
    try:
        await _seed_rows(db, world.state)
        deps = ServerDeps(db, settings, REGISTRY)

        def server(route: str) -> Any:
            binding = stdio_binding(
                TenantContext("demo", role="admin"), policy_from_flags(route, False, (), ())
            )
            return build_server(binding, deps)

        for route in [*ROUTE_SIZES, *GENERAL_ROUTES]:
            async with Client(server(route), mode=mode) as client:
                world.listed[route] = await all_tools(client)

        async with Client(server("/"), mode=mode) as client:
            await _writes(client, world, path)
            for name, args in READ_EXAMPLES.items():
                world.outcomes["read", name] = await _call(client, name, args, world.state)
            await _invalid(client, world)
    finally:
        await db.dispose()
    return world


async def _writes(client: Client, world: World, path: Path) -> None:
    state = world.state
    for ex in WRITE_EXAMPLES:
        out = await _call(client, ex.tool, ex.args, state)
        world.outcomes["write", ex.case] = out
        if out.result is None or out.result.is_error:
            continue
        data = data_of(out.result)
        for key, where in ex.capture.items():
            value = dig(data, where)
            if value is not None:
                state[key] = value
        if ex.readback is None:
            continue
        kind, target, args = ex.readback
        try:
            if kind == "db":
                out.readback = _db_rows(path, target, resolve(args, state))
            else:
                back = await client.call_tool(target, resolve(args, state))
                if back.is_error:
                    out.readback_problem = f"readback {target} failed: {back.content[0].text}"  # type: ignore[union-attr]
                else:
                    out.readback = data_of(back)
        except Exception as exc:  # noqa: BLE001 - reported by the write test
            out.readback_problem = f"readback {target} raised {exc!r}"


async def _invalid(client: Client, world: World) -> None:
    state = world.state

    async def attempt(kind: str, name: str, build: Any) -> None:
        out = Outcome()
        try:
            base = resolve(example_args(name) or {}, state)
            out.args = build(base)
            out.result = await client.call_tool(name, out.args)
        except Unresolved as exc:
            out.problem = str(exc)
        except Exception as exc:  # noqa: BLE001
            out.problem = f"client raised {exc!r}"
        world.outcomes[kind, name] = out

    for name in MISSING_CASES:
        await attempt(
            "missing", name, lambda b, n=name: {k: v for k, v in b.items() if k != _required(BY_NAME[n])[0]}
        )
    for name, (prop, value) in WRONG_TYPE_CASES.items():
        await attempt("wrong_type", name, lambda b, p=prop, v=value: {**b, p: v})
    for name, (prop, value) in RANGE_CASES.items():
        await attempt("out_of_range", name, lambda b, p=prop, v=value: {**b, p: v})
    for t in TOOLS:
        await attempt("unknown_arg", t.name, lambda b: {**b, "zzUnknownArgument": 1})
    for name, args in UNKNOWN_ID_CASES.items():
        await attempt("unknown_id", name, lambda b, a=args: resolve(a, state))


@pytest.fixture(scope="module")
def seeded_template(tmp_path_factory: pytest.TempPathFactory, sqlite_template: Path) -> Path:
    path = tmp_path_factory.mktemp("every-tool") / "seeded.db"
    shutil.copy(sqlite_template, path)

    async def seed() -> None:
        db = Database(f"sqlite+aiosqlite:///{path}", SECRET)
        try:
            await seed_demo(db, SeedParams(**DEMO_PARAMS_KW))  # type: ignore[arg-type]
        finally:
            await db.dispose()

    asyncio.run(seed())
    return path


@pytest.fixture(scope="module", params=MODES)
def world(
    request: pytest.FixtureRequest, seeded_template: Path, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[World]:
    """One full sweep per protocol era, on its own copy of the seeded database, with no LLM provider."""
    path = tmp_path_factory.mktemp(f"sweep-{request.param}") / "kaireon.db"
    shutil.copy(seeded_template, path)
    with pytest.MonkeyPatch.context() as env:
        for name in list(os.environ):
            if name.startswith(_PROVIDER_ENV_PREFIXES):
                env.delenv(name)
        yield asyncio.run(_sweep(request.param, path))


def _outcome(world: World, kind: str, case: str) -> Outcome:
    out = world.outcomes[kind, case]
    assert out.problem is None, out.problem
    assert out.result is not None
    return out


def _cases(kind: str, names: list[str]) -> list[Any]:
    return [
        pytest.param(n, marks=pytest.mark.xfail(reason=KNOWN_BUGS[kind, n], strict=True))
        if (kind, n) in KNOWN_BUGS
        else n
        for n in names
    ]


def _validates(schema: dict[str, Any] | None, data: Any) -> None:
    if schema is None:
        return
    errors = sorted(Draft202012Validator(schema).iter_errors(data), key=lambda e: list(e.path))
    assert not errors, "output does not match the documented schema: " + "; ".join(
        f"{'/'.join(map(str, e.path))}: {e.message}"[:200] for e in errors[:5]
    )


# ---- 1. counts per route -------------------------------------------------------------------------
def test_every_tool_has_an_example() -> None:
    writes = {ex.tool for ex in WRITE_EXAMPLES}
    assert sorted(set(READS) - set(READ_EXAMPLES)) == []
    assert sorted({t.name for t in TOOLS if t.write} - writes) == []
    assert not (set(READ_EXAMPLES) | writes) - set(BY_NAME), "examples for tools that do not exist"


def test_base_set_is_18_tools() -> None:
    assert len([t for t in TOOLS if "all" in t.routes]) == 18


@pytest.mark.parametrize("route", list(ROUTE_SIZES))
def test_route_tool_counts_match_the_catalog(world: World, route: str) -> None:
    names = [t.name for t in world.listed[route]]
    assert len(names) == len(set(names)), "a tool listed twice"
    assert "setRoute" in names, "session connections list setRoute on every route"
    scoped = set(names) - {"setRoute"}
    assert len(scoped) == ROUTE_SIZES[route]
    assert {t.name for t in TOOLS if "all" in t.routes} <= scoped


@pytest.mark.parametrize("route", GENERAL_ROUTES)
def test_general_routes_list_every_registered_tool(world: World, route: str) -> None:
    assert sorted(t.name for t in world.listed[route]) == sorted(BY_NAME)


# ---- 2. schemas ------------------------------------------------------------------------------
@pytest.mark.parametrize("name", list(BY_NAME))
def test_schemas_are_valid_json_schema(world: World, name: str) -> None:
    wire = {t.name: t for t in world.listed["/"]}[name]
    Draft202012Validator.check_schema(wire.input_schema)
    assert wire.input_schema.get("type") == "object"
    Draft202012Validator.check_schema(BY_NAME[name].input_model.model_json_schema())
    documented = BY_NAME[name].documented_output_schema()
    if documented is not None:
        Draft202012Validator.check_schema(documented)
    assert wire.annotations is not None and wire.annotations.read_only_hint is BY_NAME[name].read_only


# ---- 3. reads --------------------------------------------------------------------------------
@pytest.mark.parametrize("name", _cases("read", READS))
def test_read_tool_returns_documented_data(world: World, name: str) -> None:
    out = _outcome(world, "read", name)
    result = out.result
    assert result is not None
    if name in PROVIDER_TOOLS:
        assert error_of(result)["code"] == "PROVIDER_UNAVAILABLE"
        assert result.structured_content is None
        return
    assert not result.is_error, f"{name}({out.args}) -> {result.content[0].text[:400]}"  # type: ignore[union-attr]
    assert result.structured_content == data_of(result), "structuredContent differs from the text block"
    _validates(BY_NAME[name].documented_output_schema(), result.structured_content)


# ---- 4. writes -------------------------------------------------------------------------------
@pytest.mark.parametrize("case", _cases("write", WRITE_CASES))
def test_write_tool_effect_is_read_back(world: World, case: str) -> None:
    ex = WRITE_BY_CASE[case]
    out = _outcome(world, "write", case)
    result = out.result
    assert result is not None
    assert not result.is_error, f"{ex.tool}({out.args}) -> {result.content[0].text[:400]}"  # type: ignore[union-attr]
    assert result.structured_content == data_of(result)
    _validates(BY_NAME[ex.tool].documented_output_schema(), result.structured_content)
    assert out.readback_problem is None, out.readback_problem
    if ex.readback is not None:
        assert out.readback is not None, f"{ex.readback[1]} found nothing"
    if ex.check is not None:
        ex.check(data_of(result), out.readback)


# ---- 5. invalid arguments ------------------------------------------------------------------------
@pytest.mark.parametrize("name", _cases("missing", MISSING_CASES))
def test_missing_required_argument_is_validation_naming_the_field(world: World, name: str) -> None:
    error = error_of(_outcome(world, "missing", name).result)  # type: ignore[arg-type]
    required = _required(BY_NAME[name])[0]
    assert error["code"] == "VALIDATION", error
    assert error.get("field") == required and required in error["message"], error


@pytest.mark.parametrize("name", _cases("wrong_type", list(WRONG_TYPE_CASES)))
def test_wrong_type_is_validation(world: World, name: str) -> None:
    error = error_of(_outcome(world, "wrong_type", name).result)  # type: ignore[arg-type]
    prop = WRONG_TYPE_CASES[name][0]
    assert error["code"] == "VALIDATION", error
    assert str(error.get("field", "")).split(".")[0] == prop, error


@pytest.mark.parametrize("name", _cases("out_of_range", list(RANGE_CASES)))
def test_out_of_range_is_validation(world: World, name: str) -> None:
    error = error_of(_outcome(world, "out_of_range", name).result)  # type: ignore[arg-type]
    prop = RANGE_CASES[name][0]
    assert error["code"] == "VALIDATION", error
    assert str(error.get("field", "")).split(".")[0] == prop, error


@pytest.mark.parametrize("name", _cases("unknown_arg", list(BY_NAME)))
def test_unknown_argument_is_validation(world: World, name: str) -> None:
    error = error_of(_outcome(world, "unknown_arg", name).result)  # type: ignore[arg-type]
    assert error["code"] == "VALIDATION" and error.get("field") == "zzUnknownArgument", error


@pytest.mark.parametrize("name", _cases("unknown_id", list(UNKNOWN_ID_CASES)))
def test_unknown_id_is_not_found(world: World, name: str) -> None:
    error = error_of(_outcome(world, "unknown_id", name).result)  # type: ignore[arg-type]
    assert error["code"] in {"NOT_FOUND", "VALIDATION"}, error
    assert "Traceback" not in error["message"]
