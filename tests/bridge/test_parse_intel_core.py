"""Parse-rule fallback, intelligence dispatch, and the core recommend/respond endpoints."""

from __future__ import annotations

import pytest

from kaireon_mcp.storage.context import TenantContext
from kaireon_mcp.storage.tables import Category, SchemaField
from kaireon_mcp.tools import load_all
from tests.bridge.conftest import TENANT_A, Bridge

REGISTRY = load_all()
EXAMPLE = (
    "Only show to customers over 25 who spent more than $500 in the last 90 days and haven't "
    "converted on credit card offers"
)


async def test_parse_rule_worked_example(bridge: Bridge) -> None:
    async with bridge.db.tenant(TenantContext(TENANT_A)) as repo:
        await repo.create(Category, {"name": "Credit Cards"})
    async with bridge.client(role="editor") as client:
        body = (await client.post("/api/v1/ai/parse-rule", json={"text": EXAMPLE})).json()
    assert body["source"] == "heuristic"
    assert [(e["type"], e["name"]) for e in body["entities"]] == [
        ("qualification_rule", "Age >= 25"),
        ("behavioral_metric", "total_spend_90d"),
        ("qualification_rule", "Spend >= $500 (90d)"),
        ("contact_policy", "Suppress after convert \u2013 Credit Cards offers"),
    ]
    policy = body["entities"][3]["payload"]
    assert policy["ruleType"] == "outcome_based" and policy["scope"] == "category" and policy["scopeId"]
    assert policy["config"] == {"afterOutcome": "convert", "suppressForDays": 90}
    assert body["warnings"] == [
        "No 'age' field found in available schemas. The rule may not work until the field is added."
    ]


async def test_parse_rule_knows_schema_fields_and_unresolved_categories(bridge: Bridge) -> None:
    from kaireon_mcp.storage.tables import DataSchema

    async with bridge.db.tenant(TenantContext(TENANT_A)) as repo:
        schema = await repo.create(DataSchema, {"name": "c", "display_name": "C", "table_name": "ds_c"})
        await repo.create(SchemaField, {"schema_id": schema.id, "name": "age", "display_name": "Age"})
    text = "aged 18 or older, spent over $1,200, never clicked loan offers"
    async with bridge.client(role="editor") as client:
        body = (await client.post("/api/v1/ai/parse-rule", json={"text": text})).json()
    names = [e["name"] for e in body["entities"]]
    assert names == ["Age >= 18", "Spend >= $1200", "Suppress after click \u2013 Loan offers"]
    assert body["entities"][2]["payload"]["config"]["suppressForDays"] == 90
    assert "No category named 'loan' found." in body["warnings"]
    assert not any("'age'" in w for w in body["warnings"])
    assert any("'total_spend'" in w for w in body["warnings"])


async def test_parse_rule_window_directly_after_a_negation(bridge: Bridge) -> None:
    async with bridge.client(role="editor") as client:
        text = "customers who haven't converted in the last 4 weeks"
        body = (await client.post("/api/v1/ai/parse-rule", json={"text": text})).json()
    assert body["entities"][0]["payload"]["config"] == {"afterOutcome": "convert", "suppressForDays": 28}


async def test_parse_rule_nothing_matched_and_validation(bridge: Bridge) -> None:
    async with bridge.client(role="editor") as client:
        body = (await client.post("/api/v1/ai/parse-rule", json={"text": "make it nice"})).json()
        assert body["entities"] == [] and body["warnings"] == ["Could not extract any rule from the text."]
        assert (await client.post("/api/v1/ai/parse-rule", json={"text": ""})).status_code == 400
        assert (await client.post("/api/v1/ai/parse-rule", json={})).status_code == 400


async def test_intelligence_refuses_unknown_tools_and_bad_params(bridge: Bridge) -> None:
    async with bridge.client(role="viewer") as client:
        unknown = await client.post("/api/v1/ai/intelligence", json={"tool": "listOffers", "params": {}})
        assert unknown.status_code == 400 and unknown.json()["error"]["field"] == "tool"
        assert (
            await client.post("/api/v1/ai/intelligence", json={"tool": "runHealthCheck"})
        ).status_code == 400
        bad = await client.post("/api/v1/ai/intelligence", json={"tool": "runHealthCheck", "params": []})
        assert bad.status_code == 400


async def test_intelligence_dispatches_with_the_callers_tenant(demo_bridge: Bridge) -> None:
    if "runHealthCheck" not in REGISTRY:
        pytest.skip("runHealthCheck is not registered in this build yet")
    async with demo_bridge.client("demo", "viewer") as client:
        response = await client.post(
            "/api/v1/ai/intelligence", json={"tool": "runHealthCheck", "params": {"tenantId": "other"}}
        )
    assert response.status_code == 200
    assert isinstance(response.json(), dict)


@pytest.mark.skipif("recommend" not in REGISTRY, reason="recommend tool not registered yet")
async def test_recommend_then_respond(demo_bridge: Bridge) -> None:
    async with demo_bridge.client("demo", "editor") as client:
        rec = await client.post(
            "/api/v1/recommend", json={"customerId": "C-0005", "channel": "web", "limit": 2}
        )
        assert rec.status_code == 200, rec.text
        decision = rec.json()["decisions"][0]
        if "recordOutcome" not in REGISTRY:
            pytest.skip("recordOutcome tool not registered yet")
        body = {
            "customerId": "C-0005",
            "recommendationId": decision["recommendationId"],
            "rank": 1,
            "outcome": "click",
        }
        missing = await client.post("/api/v1/respond", json=body)
        assert missing.status_code == 400
        ok = await client.post("/api/v1/respond", json=body, headers={"Idempotency-Key": "k-1"})
        assert ok.status_code == 200, ok.text
        assert (await client.post("/api/v1/recommend", json={"bogus": 1})).status_code == 400
