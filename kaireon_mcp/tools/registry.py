"""The tool registry: each tool is declared once and served identically to MCP, the bridge and chat.

A tool is an async function ``handler(ctx, args) -> output`` whose ``args`` annotation is a
pydantic input model. ``@tool(...)`` records its name, title, one-line description, read/write
class, annotations and route codes; ``execute`` is the single path every transport calls:
lookup, scope, role and write checks, validation, run, error mapping.
"""

from __future__ import annotations

import dataclasses
import inspect
import json
import logging
import re
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass, field
from typing import Any, get_type_hints

from pydantic import BaseModel, ConfigDict
from pydantic import ValidationError as PydanticValidationError

from kaireon_mcp.config import Settings
from kaireon_mcp.errors import (
    ForbiddenError,
    KaireonError,
    NotFoundError,
    RouteScopeError,
    ValidationError,
    WritesDisabledError,
)
from kaireon_mcp.storage.context import TenantContext
from kaireon_mcp.storage.db import Database, ReadOnlyWrite

log = logging.getLogger("kaireon_mcp.tools")

#: ``ToolContext.services`` key of a composite's open repository: nested tool calls join it
AMBIENT_REPO = "repository"
#: ``ToolContext.services`` flag for a read tool's call: ``repo_for`` reads without a write
#: transaction (no write lock on SQLite, so reads never queue behind writers)
READ_ONLY_CALL = "read_only_call"
#: families that call providers or compose other tools keep one write transaction, so a
#: retry after a refused write never repeats an outside call
_WRITE_TRANSACTION_MODULES = frozenset({"ai", "content", "playbooks", "session"})

#: route codes of tool-catalog.md section 1.7 ("all" = the 18 base tools on every route)
ROUTE_CODES = ("all", "DS", "FP", "DX", "DF", "TR", "AL", "DB")
ROUTE_PATTERNS: tuple[tuple[str, str, str], ...] = (
    ("/data/schemas", "DS", "Data"),
    ("/data/flow-pipelines", "FP", "Data"),
    ("/data", "DX", "Data"),
    ("/studio/decision-flows", "DF", "Studio"),
    ("/studio/treatments", "TR", "Studio"),
    ("/algorithms", "AL", "Algorithms"),
    ("/dashboards", "DB", "Dashboards"),
)
ROUTE_EXAMPLES = {
    "DS": "/data/schemas",
    "FP": "/data/flow-pipelines",
    "DX": "/data/connectors",
    "DF": "/studio/decision-flows",
    "TR": "/studio/treatments",
    "AL": "/algorithms/models",
    "DB": "/dashboards/overview",
}


class ToolInput(BaseModel):
    """Base of every input model: unknown arguments are refused, not silently dropped."""

    model_config = ConfigDict(extra="forbid", populate_by_name=True)


class NoArgs(ToolInput):
    """For tools that take no parameters."""


def normalize_route(route: str | None) -> str:
    route = (route or "/").split("?", 1)[0].split("#", 1)[0].strip() or "/"
    if not route.startswith("/"):
        route = "/" + route
    return route.rstrip("/") or "/"


def route_code(route: str | None) -> str | None:
    """The catalog's first-match route pattern, or None for the general (all tools) route."""
    path = normalize_route(route)
    for pattern, code, _ in ROUTE_PATTERNS:
        if path == pattern or path.startswith(pattern + "/"):
            return code
    return None


def route_module(route: str | None) -> str:
    code = route_code(route)
    return next((module for _, c, module in ROUTE_PATTERNS if c == code), "General")


@dataclass
class ToolContext:
    """What a tool may use: the database, the acting principal, settings and optional services."""

    db: Database
    principal: TenantContext
    settings: Settings
    route: str = "/"
    #: optional services wired by the transport (LLM client factory, ML worker client, session hooks)
    services: dict[str, Any] = field(default_factory=dict)

    @property
    def tenant_id(self) -> str:
        return self.principal.tenant_id


Handler = Callable[[ToolContext, Any], Awaitable[Any]]


@dataclass(frozen=True)
class Tool:
    name: str
    title: str
    description: str
    module: str
    handler: Handler
    input_model: type[BaseModel]
    output_model: type[BaseModel] | None
    write: bool
    routes: frozenset[str]
    destructive: bool = False
    idempotent: bool = False
    open_world: bool = False
    min_role: str = "viewer"

    @property
    def read_only(self) -> bool:
        return not self.write

    def input_schema(self) -> dict[str, Any]:
        schema = lean_schema(inline_single_use_defs(self.input_model.model_json_schema()))
        schema.pop("description", None)  # the tool description already says it
        schema.setdefault("properties", {})
        return schema  # type: ignore[no-any-return]

    def output_schema(self) -> dict[str, Any] | None:
        """The output model's field names (values unconstrained); None for generic entity results.

        Every tools/list pays for output schemas, and a model needs the field names to read a
        result, not their nested shapes; the full model still validates what the tool returns.
        """
        if self.output_model is None:
            return None
        fields = self.output_model.model_json_schema(mode="serialization").get("properties", {})
        if set(fields) <= {"id"}:
            return None
        return {"type": "object", "properties": {name: {} for name in fields}}

    def documented_output_schema(self) -> dict[str, Any] | None:
        """The typed (shallow) output schema published by ``kaireon-mcp tools --json``."""
        if self.output_model is None:
            return None
        return shallow_schema(self.output_model.model_json_schema(mode="serialization"))

    def advertised_title(self) -> str | None:
        """The title when it says more than the name (``listOffers`` already reads "list offers")."""
        words = " ".join(re.findall(r"[A-Z]?[a-z0-9]+|[A-Z]+(?![a-z])", self.name.replace("_", " ")))
        return None if words.lower() == self.title.lower() else self.title

    def annotations(self) -> dict[str, Any]:
        """MCP hints; destructive/idempotent only mean something for write tools, so reads omit them."""
        hints: dict[str, Any] = {"readOnlyHint": self.read_only}
        if self.open_world:
            hints["openWorldHint"] = True  # only tools that reach an outside service (an LLM) say so
        if self.write:
            hints["destructiveHint"] = self.destructive
            if self.idempotent:
                hints["idempotentHint"] = True  # false is the protocol default
        return hints

    def exposed_on(self, code: str | None) -> bool:
        """Route membership: general routes see everything; others see base + their own set."""
        return code is None or "all" in self.routes or code in self.routes

    def exposing_routes(self) -> list[str]:
        if "all" in self.routes:
            return ["every route"]
        named = [ROUTE_EXAMPLES[c] for c in ROUTE_CODES if c in self.routes and c != "all"]
        return [*named, "/ (general)"]


#: string-length bounds are enforced by the server's validation; advertising them costs tokens
_ADVERTISED_NOISE = frozenset({"maxLength", "minLength", "description"})


def inline_single_use_defs(schema: dict[str, Any]) -> dict[str, Any]:
    """Replace ``$ref``s to definitions used once by the definition itself (saves the names)."""
    defs = schema.get("$defs") or {}
    if not defs:
        return schema
    text = json.dumps(schema)
    once = {name for name in defs if text.count(f'"#/$defs/{name}"') == 1}

    def walk(node: Any) -> Any:
        if isinstance(node, dict):
            ref = node.get("$ref", "")
            name = ref.rsplit("/", 1)[-1] if isinstance(ref, str) else ""
            if name in once:
                return walk({**defs[name], **{k: v for k, v in node.items() if k != "$ref"}})
            return {k: walk(v) for k, v in node.items() if k != "$defs"}
        if isinstance(node, list):
            return [walk(item) for item in node]
        return node

    out: dict[str, Any] = walk(schema)
    kept = {name: walk(body) for name, body in defs.items() if name not in once}
    if kept:
        out["$defs"] = kept
    return out


def _without_null(options: list[Any]) -> list[Any]:
    return [o for o in options if not (isinstance(o, dict) and o.get("type") == "null")]


def lean_schema(schema: Any) -> Any:
    """Input schemas as a host pays for them: no pydantic ``title`` noise, optional fields
    without the ``anyOf [..., null]``/``default: null`` wrapping (absence already means null),
    and no ``additionalProperties: false`` (the server refuses unknown arguments anyway).
    Property names that happen to be ``title`` are kept.
    """
    if isinstance(schema, list):
        return [lean_schema(item) for item in schema]
    if not isinstance(schema, dict):
        return schema
    if "anyOf" in schema:
        options = _without_null(schema["anyOf"])
        if len(options) == 1 and isinstance(options[0], dict):
            merged = {**{k: v for k, v in schema.items() if k != "anyOf"}, **options[0]}
            return lean_schema(merged)
    out: dict[str, Any] = {}
    for key, value in schema.items():
        if key == "title" and isinstance(value, str):
            continue
        if (key == "default" and value is None) or (key == "additionalProperties" and value in (False, True)):
            continue
        if key in _ADVERTISED_NOISE and isinstance(value, str | int):
            continue
        if key == "type" and "enum" in schema and isinstance(value, str):
            continue  # the enum already says what the values are
        if key == "default" and value is False and schema.get("type") == "boolean":
            continue  # absent booleans are false
        if key in {"minimum", "maximum"} and schema.get("default") in (20, 25, 50) and "type" in schema:
            continue  # page-size bounds: the server clamps and refuses, the default says enough
        if key in {"properties", "$defs", "definitions"} and isinstance(value, dict):
            out[key] = {name: lean_schema(sub) for name, sub in value.items()}
        else:
            out[key] = lean_schema(value)
    return out


_OUTPUT_NOISE = frozenset({"title", "description", "default", "examples"})


def shallow_schema(schema: dict[str, Any], max_depth: int = 1) -> dict[str, Any]:
    """Output schemas cost context on every tools/list: keep top-level fields typed, nested ones coarse."""
    defs = schema.get("$defs", {})

    def walk(node: Any, depth: int) -> Any:
        if not isinstance(node, dict):
            return node
        if "$ref" in node:
            node = defs.get(node["$ref"].rsplit("/", 1)[-1], {"type": "object"})
        if "anyOf" in node:
            options = [walk(option, depth) for option in node["anyOf"]]
            kinds = [o.get("type") for o in options if isinstance(o, dict) and len(o) == 1 and "type" in o]
            if len(kinds) == len(options):
                return {"type": kinds}
            return {"anyOf": options}
        kind = node.get("type")
        if kind == "object" or "properties" in node:
            if depth >= max_depth or "properties" not in node:
                return {"type": "object"}
            properties = {name: walk(sub, depth + 1) for name, sub in node["properties"].items()}
            if set(properties) <= {"id"}:
                return {"type": "object"}  # a generic entity: its fields vary by entity type
            return {"type": "object", "properties": properties}
        if kind == "array":
            items = walk(node.get("items", {}), depth + 1)
            return (
                {"type": "array"} if items in ({}, {"type": "object"}) else {"type": "array", "items": items}
            )
        return {k: v for k, v in node.items() if k not in _OUTPUT_NOISE}

    return walk(schema, 0)  # type: ignore[no-any-return]


class ToolRegistry:
    def __init__(self) -> None:
        self._tools: dict[str, Tool] = {}

    def add(self, spec: Tool) -> Tool:
        if spec.name in self._tools:
            raise ValueError(f"tool {spec.name} declared twice")
        bad = spec.routes - set(ROUTE_CODES)
        if bad:
            raise ValueError(f"tool {spec.name}: unknown route codes {sorted(bad)}")
        self._tools[spec.name] = spec
        return spec

    def get(self, name: str) -> Tool | None:
        return self._tools.get(name)

    def all(self) -> list[Tool]:
        return [self._tools[name] for name in sorted(self._tools)]

    def __len__(self) -> int:
        return len(self._tools)

    def __contains__(self, name: object) -> bool:
        return name in self._tools


REGISTRY = ToolRegistry()


def tool(
    name: str,
    *,
    title: str,
    description: str,
    module: str,
    write: bool = False,
    routes: Iterable[str] = (),
    output: type[BaseModel] | None = None,
    destructive: bool = False,
    idempotent: bool = False,
    open_world: bool = False,
    min_role: str | None = None,
    registry: ToolRegistry | None = None,
) -> Callable[[Handler], Handler]:
    """Declare a tool. The handler's second parameter annotation is its input model."""

    def decorate(fn: Handler) -> Handler:
        hints = get_type_hints(fn)
        params = list(inspect.signature(fn).parameters)
        input_model = hints.get(params[1]) if len(params) > 1 else NoArgs
        if not (isinstance(input_model, type) and issubclass(input_model, BaseModel)):
            raise TypeError(f"tool {name}: second parameter must be annotated with a pydantic model")
        out_model = output or hints.get("return")
        if not (isinstance(out_model, type) and issubclass(out_model, BaseModel)):
            out_model = None
        (registry or REGISTRY).add(
            Tool(
                name=name,
                title=title,
                description=description,
                module=module,
                handler=fn,
                input_model=input_model,
                output_model=out_model,
                write=write,
                routes=frozenset(routes),
                destructive=destructive,
                idempotent=idempotent,
                open_world=open_world,
                min_role=min_role or ("editor" if write else "viewer"),
            )
        )
        return fn

    return decorate


@dataclass(frozen=True)
class ScopePolicy:
    """Route + filters. Server flags are an upper bound; request headers may only narrow them."""

    route: str = "/"
    read_only: bool = False
    include: frozenset[str] = frozenset()
    exclude: frozenset[str] = frozenset()

    def narrowed(
        self,
        route: str | None = None,
        read_only: bool = False,
        exclude: Iterable[str] = (),
    ) -> ScopePolicy:
        return ScopePolicy(
            route=normalize_route(route) if route else self.route,
            read_only=self.read_only or read_only,
            include=self.include,
            exclude=self.exclude | frozenset(exclude),
        )

    def allows(self, spec: Tool, principal: TenantContext | None = None) -> bool:
        if spec.name in self.exclude:
            return False
        if spec.write and (
            self.read_only or (principal is not None and not principal.has_role(spec.min_role))
        ):
            return False
        return spec.exposed_on(route_code(self.route)) or spec.name in self.include

    def visible(self, registry: ToolRegistry, principal: TenantContext | None = None) -> list[Tool]:
        return [spec for spec in registry.all() if self.allows(spec, principal)]


def _validation_error(exc: PydanticValidationError) -> ValidationError:
    first = exc.errors()[0]
    path = ".".join(str(p) for p in first.get("loc", ()) if p != "__root__")
    message = first.get("msg", "invalid value")
    if first.get("type") == "extra_forbidden":
        message = "unknown argument"
    elif first.get("type") == "missing":
        message = "is required"
    text = f"{path}: {message}" if path else message
    return ValidationError(f"invalid arguments: {text}", field=path or None)


def _dump(result: Any) -> Any:
    if isinstance(result, BaseModel):
        return result.model_dump(mode="json", by_alias=True, exclude_none=False)
    return result


async def _call(spec: Tool, ctx: ToolContext, args: Any) -> Any:
    """Run the handler; a read tool first on a read-only repository.

    A read tool that turns out to write is refused before any SQL is sent
    (``ReadOnlyWrite``) and runs again in an ordinary write transaction.
    """
    if spec.write or spec.module in _WRITE_TRANSACTION_MODULES or AMBIENT_REPO in ctx.services:
        return await spec.handler(ctx, args)
    reading = dataclasses.replace(ctx, services={**ctx.services, READ_ONLY_CALL: True})
    try:
        return await spec.handler(reading, args)
    except ReadOnlyWrite:
        log.debug("read tool %s wrote; running it in a write transaction", spec.name)
        return await spec.handler(ctx, args)


async def execute(
    name: str,
    arguments: dict[str, Any] | None,
    ctx: ToolContext,
    scope: ScopePolicy | None = None,
    registry: ToolRegistry | None = None,
) -> dict[str, Any]:
    """Run one tool call. Returns its JSON output; raises ``KaireonError`` for any refusal."""
    reg = registry or REGISTRY
    spec = reg.get(name)
    if spec is None:
        raise NotFoundError(f"unknown tool {name!r}", field="name")
    scope = scope or ScopePolicy(route=ctx.route)
    if spec.name in scope.exclude or not (
        spec.exposed_on(route_code(scope.route)) or spec.name in scope.include
    ):
        raise RouteScopeError(
            f"tool {name} is not available on route {scope.route}; routes that expose it: "
            + ", ".join(spec.exposing_routes())
        )
    if spec.write and scope.read_only:
        raise RouteScopeError(f"tool {name} writes data and this connection is read-only")
    if spec.write and not ctx.settings.writes_enabled:
        raise WritesDisabledError(
            f"write tools are disabled in production; set MCP_ALLOW_WRITES=true to enable {name}"
        )
    if not ctx.principal.has_role(spec.min_role):
        raise ForbiddenError(
            f"tool {name} needs the {spec.min_role} role; this caller is {ctx.principal.role}"
        )
    try:
        args = spec.input_model.model_validate(arguments or {})
    except PydanticValidationError as exc:
        raise _validation_error(exc) from None
    try:
        result = await _call(spec, ctx, args)
    except KaireonError:
        raise
    except PydanticValidationError as exc:
        raise _validation_error(exc) from None
    except Exception as exc:
        log.exception("tool %s failed", name)
        raise KaireonError(f"tool {name} failed unexpectedly ({exc.__class__.__name__})") from exc
    data = _dump(result)
    return data if isinstance(data, dict) else {"result": data}
