"""Analyzers over the demo tenant: heuristic fallbacks without a provider, routing, confirmation."""

from __future__ import annotations

import httpx
import pytest
from sqlalchemy import insert

from kaireon_mcp.core.ai.analyzers import confirmation
from kaireon_mcp.core.ai.ml_worker import MLWorkerClient
from kaireon_mcp.mlworker import create_worker_app
from kaireon_mcp.storage.tables import SchemaRow
from tests.bridge.conftest import TENANT_B, Bridge, build_app, mint_keys


async def test_segments_fall_back_to_percentile_buckets(demo_bridge: Bridge) -> None:
    schema_id = await _demo_schema(demo_bridge)
    async with demo_bridge.client("demo", "editor") as client:
        body = (await client.post("/api/v1/ai/analyze/segments", json={"schemaId": schema_id})).json()
    assert body["source"] == "llm" and body["fallback"] is True and body["analysisType"] == "segments"
    names = [r["name"] for r in body["results"]]
    assert len(names) == 3 and names[0].startswith("Low ") and names[2].startswith("High ")
    assert sum(r["size"] for r in body["results"]) > 0
    assert body["results"][1]["filterRules"][0]["operator"] == "gte"
    assert len(body["recommendationIds"]) == 3
    async with demo_bridge.client("demo", "viewer") as client:
        recs = (await client.get("/api/v1/ai/recommendations", params={"type": "segment"})).json()
    assert recs["recommendations"][0]["payload"]["schemaId"] == schema_id


async def _demo_schema(bridge: Bridge) -> str:
    from sqlalchemy import select

    from kaireon_mcp.storage.context import TenantContext
    from kaireon_mcp.storage.tables import DataSchema

    async with bridge.db.tenant(TenantContext("demo")) as repo:
        return str((await repo.session.execute(select(DataSchema.id).limit(1))).scalar_one())


async def test_policies_and_content_fall_back(demo_bridge: Bridge) -> None:
    async with demo_bridge.client("demo", "editor") as client:
        policies = (await client.post("/api/v1/ai/analyze/policies", json={})).json()
        content = (await client.post("/api/v1/ai/analyze/content", json={})).json()
    assert policies["fallback"] is True and policies["analysisType"] == "policies"
    for result in policies["results"]:
        assert result["payload"]["ruleType"] == "frequency_cap"
        assert result["title"].startswith("Set frequency cap to ")
    if not policies["results"]:
        assert policies["warnings"]
    assert content["fallback"] is True
    for insight in content["results"]:
        assert insight["classification"] in {"top_performer", "underperformer"}
        assert insight["findings"]


async def test_analyze_validation_and_not_found(demo_bridge: Bridge) -> None:
    async with demo_bridge.client("demo", "editor") as client:
        assert (await client.post("/api/v1/ai/analyze/bogus", json={})).status_code == 400
        missing = await client.post("/api/v1/ai/analyze/segments", json={})
        assert missing.status_code == 400 and missing.json()["error"]["field"] == "schemaId"
        assert (
            await client.post("/api/v1/ai/analyze/segments", json={"schemaId": "nope"})
        ).status_code == 404
        tier = await client.post("/api/v1/ai/analyze/policies", json={"preferredTier": "ml_worker"})
        assert tier.status_code == 503 and tier.json()["error"]["code"] == "ML_WORKER_UNAVAILABLE"
    schema_id = await _demo_schema(demo_bridge)
    async with demo_bridge.client(TENANT_B, "editor") as other:
        foreign = await other.post("/api/v1/ai/analyze/segments", json={"schemaId": schema_id})
    assert foreign.status_code == 404


def test_confirmation_strings_match_the_documented_example() -> None:
    body = confirmation(50_000)
    assert body["warning"] == (
        "Dataset has 50,000 rows. For datasets over 5,000 rows, enable the ML Worker for faster and "
        "cheaper analysis."
    )
    assert body["confirmationMeta"]["costEstimate"] == (
        "Proceeding with LLM will use approximately 3,750,500 tokens (~$0.56)."
    )
    assert body["tier"] == "ml_worker" and body["requiresConfirmation"] is True


async def _big_schema(bridge: Bridge, rows: int) -> str:
    from kaireon_mcp.storage.context import TenantContext
    from kaireon_mcp.storage.tables import DataSchema, SchemaField

    async with bridge.db.tenant(TenantContext(TENANT_B)) as repo:
        schema = await repo.create(
            DataSchema, {"name": "big", "display_name": "Big", "table_name": "ds_big", "primary_key": "id"}
        )
        for i, name in enumerate(("spend", "visits")):
            await repo.create(
                SchemaField,
                {
                    "schema_id": schema.id,
                    "name": name,
                    "display_name": name.title(),
                    "data_type": "integer",
                    "ordinal": i,
                },
            )
        values = [
            {"id": f"r{i}", "tenant_id": TENANT_B, "schema_id": schema.id, "row_key": f"{i:06d}",
             "data": {"spend": (i % 97) * (3 if i % 2 else 1), "visits": i % 13}}
            for i in range(rows)
        ]  # fmt: skip
        await repo.session.execute(insert(SchemaRow), values)
        return str(schema.id)


async def test_large_dataset_asks_for_confirmation_then_runs(bridge: Bridge) -> None:
    schema_id = await _big_schema(bridge, 5001)
    async with bridge.client(TENANT_B, "editor") as client:
        first = (await client.post("/api/v1/ai/analyze/segments", json={"schemaId": schema_id})).json()
        assert first["requiresConfirmation"] is True and first["confirmationMeta"]["rowCount"] == 5001
        listed = (await client.get("/api/v1/ai/recommendations")).json()
        assert listed["recommendations"] == []
        confirmed = await client.post(
            "/api/v1/ai/analyze/segments",
            json={"schemaId": schema_id, "confirmed": True, "preferredTier": "llm"},
        )
    body = confirmed.json()
    assert body["fallback"] is True and body["results"][0]["name"] == "Low Spend"


@pytest.mark.parametrize("kind", ["segments", "policies", "content"])
async def test_large_dataset_goes_to_a_connected_ml_worker(db, kind: str) -> None:  # type: ignore[no-untyped-def]
    worker_app = create_worker_app()
    worker = MLWorkerClient("http://worker.test", transport=httpx.ASGITransport(app=worker_app))
    app = build_app(db, ml_worker=worker)
    bridge = Bridge(db, app, await mint_keys(db, (TENANT_B,)))
    schema_id = await _big_schema(bridge, 5001)
    async with bridge.client(TENANT_B, "editor") as client:
        body = {"schemaId": schema_id} if kind == "segments" else {"preferredTier": "ml_worker"}
        response = (await client.post(f"/api/v1/ai/analyze/{kind}", json=body)).json()
    assert response["source"] == "ml_worker" and response["analysisType"] == kind
    assert response["jobId"].startswith("job_")
    for task in list(worker_app.state.jobs.tasks):
        await task
    job = await worker.job("http://worker.test", response["jobId"])
    assert job["status"] == "completed", job
    if kind == "segments":
        assert job["result"]["algorithm"] == "kmeans" and 2 <= job["result"]["k"] <= 8
