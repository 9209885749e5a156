"""Analyzer settings (defaults, per-section partial updates), config and ML worker status."""

from __future__ import annotations

import httpx

from kaireon_mcp.core.ai.analyzer_settings import DEFAULTS
from kaireon_mcp.core.ai.ml_worker import MLWorkerClient
from kaireon_mcp.mlworker import create_worker_app
from tests.bridge.conftest import TENANT_B, Bridge, build_app, mint_keys


async def test_settings_defaults_and_partial_update(bridge: Bridge) -> None:
    async with bridge.client(role="viewer") as viewer, bridge.client() as admin:
        assert (await viewer.get("/api/v1/ai/analyzer-settings")).json() == DEFAULTS
        updated = await admin.put(
            "/api/v1/ai/analyzer-settings",
            json={"segmentation": {"maxClusters": 12}, "policy": {"lookbackDays": 180}},
        )
        body = updated.json()
        assert body["segmentation"]["maxClusters"] == 12 and body["segmentation"]["minClusters"] == 2
        assert body["policy"]["lookbackDays"] == 180 and "validationErrors" not in body
        assert (await viewer.get("/api/v1/ai/analyzer-settings")).json() == body


async def test_an_invalid_section_does_not_block_valid_ones(bridge: Bridge) -> None:
    async with bridge.client() as admin:
        body = (
            await admin.put(
                "/api/v1/ai/analyzer-settings",
                json={
                    "segmentation": {"minClusters": 9, "maxClusters": 3},
                    "content": {"metricWeights": {"ctr": 0.5}},
                    "ruleBuilder": {"allowedOperators": ["regex"]},
                },
            )
        ).json()
    assert body["segmentation"] == DEFAULTS["segmentation"]
    assert body["content"]["metricWeights"] == {"ctr": 0.5, "cvr": 0.34, "revenue": 0.33}
    assert set(body["validationErrors"]) == {"segmentation", "ruleBuilder"}
    assert body["validationErrors"]["ruleBuilder"][0].startswith("ruleBuilder.allowedOperators.0")


async def test_settings_body_must_be_an_object(bridge: Bridge) -> None:
    async with bridge.client() as admin:
        assert (await admin.put("/api/v1/ai/analyzer-settings", json=[1])).status_code == 400


async def test_settings_are_per_tenant(bridge: Bridge) -> None:
    async with bridge.client() as a, bridge.client(TENANT_B, "viewer") as b:
        await a.put("/api/v1/ai/analyzer-settings", json={"policy": {"dailyCap": 1}})
        assert (await b.get("/api/v1/ai/analyzer-settings")).json()["policy"]["dailyCap"] == 3


async def test_config_status_without_provider(bridge: Bridge) -> None:
    async with bridge.client(role="viewer") as client:
        body = (await client.get("/api/v1/ai/config-status")).json()
    assert body["configured"] is False


async def test_config_status_reports_provider_but_never_the_key(db) -> None:  # type: ignore[no-untyped-def]
    app = build_app(db, env={"KAIREON_AI_PROVIDER": "openai", "OPENAI_API_KEY": "sk-secret-123"})
    keys = await mint_keys(db, (TENANT_B,))
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://t") as client:
        response = await client.get(
            "/api/v1/ai/config-status", headers={"X-API-Key": keys[(TENANT_B, "viewer")]}
        )
    assert response.json()["configured"] is True and response.json()["provider"] == "openai"
    assert "sk-secret" not in response.text


async def test_ml_worker_status_not_configured(bridge: Bridge) -> None:
    async with bridge.client(role="viewer") as client:
        body = (await client.get("/api/v1/ai/ml-worker/status")).json()
    assert body == {"connected": False, "url": None, "error": "ML Worker URL not configured"}


async def test_ml_worker_status_connected_and_cached(db) -> None:  # type: ignore[no-untyped-def]
    now = [0.0]
    worker = MLWorkerClient(
        "http://worker.test", transport=httpx.ASGITransport(app=create_worker_app()), clock=lambda: now[0]
    )
    app = build_app(db, ml_worker=worker)
    keys = await mint_keys(db, (TENANT_B,))
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://t") as client:
        headers = {"X-API-Key": keys[(TENANT_B, "viewer")]}
        body = (await client.get("/api/v1/ai/ml-worker/status", headers=headers)).json()
        assert body["connected"] is True and "segmentation" in body["capabilities"]
        worker._transport = httpx.MockTransport(lambda r: httpx.Response(500))
        cached = (await client.get("/api/v1/ai/ml-worker/status", headers=headers)).json()
        assert cached["connected"] is True
        now[0] = 31.0
        expired = (await client.get("/api/v1/ai/ml-worker/status", headers=headers)).json()
        assert expired["connected"] is False and "HTTP 500" in expired["error"]
