"""Flow pipelines: IR validation, versions, the in-process executor, DLQ and replays, scoring."""

from __future__ import annotations

import copy
from typing import Any

import pytest

from kaireon_mcp.core.models import get_scorer
from kaireon_mcp.errors import ConflictError, NotFoundError, ValidationError
from kaireon_mcp.storage.db import Database
from kaireon_mcp.storage.tables import AlgorithmModel, Pipeline
from kaireon_mcp.tools.registry import execute
from tests.conftest import make_tool_ctx
from tests.data.conftest import Call
from tests.data.http_stub import http_stub

SOURCE_ROWS = [
    {"CustomerID": "C1", "mail": "ann@example.com", "age": "34", "tier": "g"},
    {"CustomerID": "C2", "mail": None, "age": "51", "tier": "s"},  # fails the email rule
    {"CustomerID": "C3", "mail": "bob@example.com", "age": "19", "tier": "s"},
    {"CustomerID": "C1", "mail": "ann@example.com", "age": "34", "tier": "g"},  # duplicate
]


def _t(node_id: str, op: str, **config: Any) -> dict[str, Any]:
    return {"id": node_id, "kind": "transform", "op": op, "config": config}


def make_ir(rows: list[dict[str, Any]] | None = None) -> dict[str, Any]:
    email_rule = {"name": "email_required", "field": "mail", "operator": "is_not_null"}
    return {
        "kind": "pipeline",
        "irVersion": "1.0",
        "nodes": [
            {"id": "src", "kind": "source", "config": {"rows": rows if rows is not None else SOURCE_ROWS}},
            _t("ren", "rename", mapping={"CustomerID": "customer_id"}),
            _t("dedup", "deduplicate", keys=["customer_id"]),
            _t("cast", "cast", field="age", to="integer"),
            {"id": "check", "kind": "validate", "config": {"rules": [email_rule]}},
            _t("tier", "map_values", field="tier", mapping={"g": "gold", "s": "silver"}),
            _t("mask", "mask_pii", fields=["mail"]),
            _t("senior", "expression", field="is_senior", expression="age >= 50"),
            {"id": "out", "kind": "target", "config": {}},
        ],
    }


async def _setup(call: Call) -> tuple[str, str]:
    schema = await call(
        "createSchema",
        {
            "name": "members",
            "displayName": "Members",
            "entityType": "customer",
            "fields": [
                {"name": "customer_id", "isPrimaryKey": True},
                {"name": "mail"},
                {"name": "age", "dataType": "integer"},
                {"name": "tier"},
                {"name": "is_senior", "dataType": "integer"},
            ],
        },
    )
    connector = await call("createConnector", {"name": "upload", "type": "csv_upload"})
    return schema["id"], connector["id"]


async def _pipeline(call: Call, ir: dict[str, Any] | None = None) -> tuple[str, str]:
    schema_id, connector_id = await _setup(call)
    out = await call(
        "createFlowPipeline",
        {"name": "members load", "connectorId": connector_id, "schemaId": schema_id, "ir": ir or make_ir()},
    )
    return out["id"], schema_id


async def test_invalid_ir_lists_every_problem(call: Call) -> None:
    schema_id, connector_id = await _setup(call)
    ir = {
        "kind": "pipeline",
        "irVersion": "2",
        "nodes": [
            {"id": "a", "kind": "source"},
            {"id": "a", "kind": "source"},
            {"id": "t", "kind": "transform", "op": "explode"},
            {
                "id": "x",
                "kind": "transform",
                "op": "expression",
                "config": {"field": "f", "expression": "1 +"},
            },
        ],
        "edges": [{"from": "a", "to": "zzz"}],
    }
    with pytest.raises(ValidationError) as info:
        await call(
            "createFlowPipeline", {"name": "p", "connectorId": connector_id, "schemaId": schema_id, "ir": ir}
        )
    problems = info.value.extra["problems"]
    assert 'irVersion: must be "1.0"' in problems
    assert "nodes[1].id: duplicate 'a'" in problems
    assert "nodes[2].op: one of the 19 transform ops (see listTransformTypes)" in problems
    assert any(p.startswith("nodes[3].config.expression:") for p in problems)
    assert "edges[0]: from/to must name existing node ids" in problems
    cyclic = make_ir()
    cyclic["edges"] = [
        {"from": "src", "to": "ren"},
        {"from": "ren", "to": "cast"},
        {"from": "cast", "to": "ren"},
    ]
    with pytest.raises(ValidationError, match="cycle"):
        await call(
            "createFlowPipeline",
            {"name": "p", "connectorId": connector_id, "schemaId": schema_id, "ir": cyclic},
        )


async def test_run_quarantines_the_one_invalid_row_and_writes_the_rest(call: Call) -> None:
    pipeline_id, schema_id = await _pipeline(call)
    run = await call("runFlowPipeline", {"pipelineId": pipeline_id})
    assert run["status"] == "completed_with_errors"
    assert (run["rowsRead"], run["rowsWritten"], run["rowsFailed"]) == (4, 2, 1)
    assert run["errors"] == [
        {
            "nodeId": "check",
            "rule": "email_required",
            "message": "row failed email_required",
            "row": {"customer_id": "C2", "mail": None, "age": 51, "tier": "s"},
        }
    ]
    preview = await call("previewSchemaData", {"schemaId": schema_id})
    assert preview["rows"] == [
        {"customer_id": "C1", "mail": "a***@example.com", "age": 34, "tier": "gold", "is_senior": 0},
        {"customer_id": "C3", "mail": "b***@example.com", "age": 19, "tier": "silver", "is_senior": 0},
    ]
    errors = await call("getFlowRunErrors", {"runId": run["id"]})
    assert errors["byRule"] == {"email_required": 1} and errors["byNode"] == {"check": 1}
    progress = await call("getFlowRunProgress", {"pipelineId": pipeline_id, "runId": run["id"]})
    assert progress["percent"] == 100 and progress["rowsFailed"] == 1
    assert [e["nodeId"] for e in progress["log"][1:]] == [
        "src",
        "ren",
        "dedup",
        "cast",
        "check",
        "tier",
        "mask",
        "senior",
        "out",
    ]
    listed = await call("listPipelines", {})
    assert listed["items"][0]["lastRunStatus"] == "completed_with_errors"
    assert listed["items"][0]["schemaName"] == "members"


async def test_dlq_replay_after_fixing_the_rule_writes_the_quarantined_row(call: Call) -> None:
    pipeline_id, schema_id = await _pipeline(call)
    await call("runFlowPipeline", {"pipelineId": pipeline_id})
    relaxed = make_ir()
    relaxed["nodes"][4]["config"]["rules"][0] = {
        "name": "age_ok",
        "field": "age",
        "operator": "gte",
        "value": 18,
    }
    updated = await call("updateFlowPipeline", {"pipelineId": pipeline_id, "ir": relaxed, "comment": "relax"})
    assert updated["irVersion"] == 2
    replay = await call("runFlowPipeline", {"pipelineId": pipeline_id, "replayDlqOnly": True})
    assert replay["status"] == "completed" and (replay["rowsRead"], replay["rowsWritten"]) == (1, 1)
    rows = (await call("previewSchemaData", {"schemaId": schema_id}))["rows"]
    assert [r["customer_id"] for r in rows] == ["C1", "C2", "C3"]
    assert rows[1] == {"customer_id": "C2", "mail": None, "age": 51, "tier": "silver", "is_senior": 1}


async def test_replay_uses_the_ir_version_of_the_original_run(call: Call) -> None:
    pipeline_id, _ = await _pipeline(call)
    first = await call("runFlowPipeline", {"pipelineId": pipeline_id})
    await call("updateFlowPipeline", {"pipelineId": pipeline_id, "ir": make_ir(SOURCE_ROWS[:1])})
    replay = await call("replayFlowRun", {"runId": first["id"]})
    assert replay["replayOf"] == first["id"] and replay["irVersion"] == 1 and replay["rowsRead"] == 4
    runs = await call("listFlowRuns", {"pipelineId": pipeline_id})
    assert runs["pagination"]["total"] == 2
    assert (await call("listFlowRuns", {"status": "completed"}))["pagination"]["total"] == 0


async def test_node_failure_fails_the_run_without_partial_writes(call: Call) -> None:
    ir = make_ir()
    ir["nodes"].insert(
        8, {"id": "vec", "kind": "transform", "op": "vector_embed", "config": {"field": "mail"}}
    )
    pipeline_id, schema_id = await _pipeline(call, ir)
    run = await call("runFlowPipeline", {"pipelineId": pipeline_id})
    assert run["status"] == "failed" and run["rowsWritten"] == 0
    assert run["errors"][0]["nodeId"] == "vec" and "external service" in run["errors"][0]["message"]
    assert (await call("previewSchemaData", {"schemaId": schema_id}))["total"] == 0


async def test_target_type_errors_are_quarantined_with_the_schema_rule(call: Call) -> None:
    ir = make_ir([{"CustomerID": "C9", "mail": "x@y.z", "age": "old", "tier": "g"}])
    del ir["nodes"][3]  # no cast: the target sees age "old"
    pipeline_id, _ = await _pipeline(call, ir)
    run = await call("runFlowPipeline", {"pipelineId": pipeline_id})
    assert run["rowsFailed"] == 1 and run["errors"][0]["rule"] == "schema:members"
    assert "age" in run["errors"][0]["message"]


async def test_branch_lookup_and_schema_source(call: Call) -> None:
    pipeline_id, schema_id = await _pipeline(call)
    await call("runFlowPipeline", {"pipelineId": pipeline_id})
    ir = {
        "kind": "pipeline",
        "irVersion": "1.0",
        "nodes": [
            {"id": "src", "kind": "source", "config": {"schemaId": schema_id}},
            {
                "id": "b",
                "kind": "branch",
                "config": {"condition": {"field": "age", "operator": "gte", "value": 30}},
            },
            {
                "id": "add",
                "kind": "transform",
                "op": "add_field",
                "config": {"field": "tier", "value": "platinum"},
            },
            {"id": "out", "kind": "target"},
            {"id": "arch", "kind": "archive"},
        ],
        "edges": [
            {"from": "src", "to": "b"},
            {"from": "b", "to": "add", "when": "true"},
            {"from": "b", "to": "arch", "when": "false"},
            {"from": "add", "to": "out"},
        ],
    }
    await call("updateFlowPipeline", {"pipelineId": pipeline_id, "ir": ir})
    run = await call("runFlowPipeline", {"pipelineId": pipeline_id})
    assert run["status"] == "completed" and (run["rowsRead"], run["rowsWritten"]) == (2, 1)
    rows = (await call("previewSchemaData", {"schemaId": schema_id}))["rows"]
    assert [(r["customer_id"], r["tier"]) for r in rows] == [("C1", "platinum"), ("C3", "silver")]
    log = {e["nodeId"]: e for e in run["log"] if "nodeId" in e}
    assert log["arch"]["rowsIn"] == 1


async def test_versions_and_legacy_pipelines(call: Call, tdb: Database) -> None:
    pipeline_id, _ = await _pipeline(call)
    await call(
        "updateFlowPipeline", {"pipelineId": pipeline_id, "ir": make_ir(SOURCE_ROWS[:2]), "comment": "two"}
    )
    versions = await call("listFlowPipelineVersions", {"pipelineId": pipeline_id})
    assert [(v["version"], v["comment"]) for v in versions["items"]] == [(2, "two"), (1, "created")]
    v1 = await call("getFlowPipelineIr", {"pipelineId": pipeline_id, "version": 1})
    assert len(v1["ir"]["nodes"][0]["config"]["rows"]) == 4
    async with tdb.tenant(make_tool_ctx(tdb, tenant="t1").principal) as repo:
        legacy = await repo.create(Pipeline, {"name": "old", "ir_native": False, "ir": {}})
    with pytest.raises(ConflictError, match="legacy"):
        await call("getFlowPipelineIr", {"pipelineId": legacy.id})
    promoted = await call("updateFlowPipeline", {"pipelineId": legacy.id, "ir": make_ir()})
    assert promoted["promoted"] is True and promoted["irNative"] is True
    with pytest.raises(NotFoundError):
        await call("getFlowPipelineIr", {"pipelineId": pipeline_id}, tenant="t2")
    with pytest.raises(NotFoundError):
        await call("runFlowPipeline", {"pipelineId": pipeline_id}, tenant="t2")


async def test_yaml_connector_test_fire_returns_a_sample(call: Call) -> None:
    body = {"data": [{"id": i} for i in range(8)]}
    async with http_stub({"/v1/items": (200, body)}) as (base, seen):
        spec = f"name: Items\nbaseUrl: {base}\nendpoints:\n  - id: items\n    path: /v1/items\n"
        con = (await call("createYamlConnector", {"yaml": spec}))["connector"]
        out = await call("testFlowConnector", {"connectorId": con["id"], "params": {"page": 2}})
    assert out["status"] == "ok" and out["httpStatus"] == 200 and out["reachable"] is True
    assert out["sample"] == [{"id": i} for i in range(5)]
    assert seen == ["GET /v1/items?page=2 HTTP/1.1"]
    with pytest.raises(NotFoundError):
        await call("testFlowConnector", {"connectorId": con["id"], "endpointId": "nope"})


async def test_score_customer_matches_the_scorecard(demo_db: Database) -> None:
    ctx = make_tool_ctx(demo_db)
    async with demo_db.tenant(ctx.principal) as repo:
        model = await repo.find(AlgorithmModel, key="offer-scorecard")
        assert model is not None
        config = copy.deepcopy(model.config)
    attrs = {"tier": "gold", "visit_frequency": 5, "age": 30, "income": 80000, "membership_days": 400}
    out = await execute("scoreCustomer", {"modelId": model.id, "attributes": attrs}, ctx)
    expected = get_scorer("scorecard")(config, {}, {**attrs, "customer": attrs})
    assert out["score"] == pytest.approx(expected.score)
    assert out["rawScore"] == pytest.approx(105)  # 50 base + 20 + 15 + 10 + 10
    stored = await execute("scoreCustomer", {"modelId": model.id, "customerId": "C-0001"}, ctx)
    assert 0 <= stored["score"] <= 1 and stored["featuresUsed"] >= 10
    with pytest.raises(NotFoundError):
        await execute("scoreCustomer", {"modelId": model.id, "customerId": "NOPE"}, ctx)
    await demo_db.ensure_tenant("other")
    with pytest.raises(NotFoundError):
        await execute(
            "scoreCustomer", {"modelId": model.id, "attributes": attrs}, make_tool_ctx(demo_db, "other")
        )
