"""Conversations and recommendations: success paths, 404s, cross-tenant isolation, apply twice."""

from __future__ import annotations

from sqlalchemy import select

from kaireon_mcp.storage.context import TenantContext
from kaireon_mcp.storage.tables import ContactPolicy, QualificationRule
from tests.bridge.conftest import TENANT_A, TENANT_B, Bridge

REC = {
    "type": "policy",
    "title": "Set frequency cap to 3/week",
    "description": "Conversion peaks at 3 contacts a week.",
    "payload": {"ruleType": "frequency_cap", "scope": "global", "maxContactsPerWeek": 3},
    "confidence": "high",
}


async def test_conversation_lifecycle(bridge: Bridge) -> None:
    async with bridge.client(**{"X-User-Id": "user_001"}) as client:
        created = await client.post("/api/v1/ai/conversations", json={"title": "  Top offers  "})
        assert created.status_code == 201
        conv = created.json()
        assert conv["title"] == "Top offers" and conv["userId"] == "user_001" and conv["tenantId"] == TENANT_A
        default = (await client.post("/api/v1/ai/conversations", json={})).json()
        assert default["title"] == "New conversation"
        listed = (await client.get("/api/v1/ai/conversations")).json()
        assert [c["id"] for c in listed] == [default["id"], conv["id"]]
        assert listed[1]["user"] == {"name": "user_001", "image": None}
        one = (await client.get(f"/api/v1/ai/conversations/{conv['id']}")).json()
        assert one["messages"] == []
        deleted = await client.delete(f"/api/v1/ai/conversations/{conv['id']}")
        assert deleted.json() == {"success": True}
        assert (await client.get(f"/api/v1/ai/conversations/{conv['id']}")).status_code == 404


async def test_conversation_title_bounds(bridge: Bridge) -> None:
    async with bridge.client() as client:
        response = await client.post("/api/v1/ai/conversations", json={"title": "x" * 201})
    assert response.status_code == 400
    assert response.json()["error"]["field"] == "title"


async def test_other_tenants_never_see_conversations_or_recommendations(bridge: Bridge) -> None:
    async with bridge.client(TENANT_A) as a, bridge.client(TENANT_B) as b:
        conv = (await a.post("/api/v1/ai/conversations", json={"title": "secret"})).json()
        rec = (await a.post("/api/v1/ai/recommendations", json=REC)).json()["recommendation"]
        assert (await b.get("/api/v1/ai/conversations")).json() == []
        assert (await b.get(f"/api/v1/ai/conversations/{conv['id']}")).status_code == 404
        assert (await b.delete(f"/api/v1/ai/conversations/{conv['id']}")).status_code == 404
        assert (await b.get("/api/v1/ai/recommendations")).json() == {"recommendations": []}
        assert (await b.get(f"/api/v1/ai/recommendations/{rec['id']}")).status_code == 404
        patched = await b.patch(f"/api/v1/ai/recommendations/{rec['id']}", json={"status": "dismissed"})
        assert patched.status_code == 404
        assert (await b.post(f"/api/v1/ai/recommendations/{rec['id']}/apply")).status_code == 404
        assert (await a.get(f"/api/v1/ai/recommendations/{rec['id']}")).status_code == 200


async def test_recommendation_crud_and_filters(bridge: Bridge) -> None:
    async with bridge.client(role="editor") as client:
        created = await client.post("/api/v1/ai/recommendations", json={**REC, "status": "applied"})
        assert created.status_code == 201
        rec = created.json()["recommendation"]
        assert rec["status"] == "new" and rec["source"] == "llm" and rec["appliedEntityId"] is None
        second = {**REC, "type": "rule", "title": "Age rule", "payload": {}}
        await client.post("/api/v1/ai/recommendations", json=second)
        listed = (await client.get("/api/v1/ai/recommendations", params={"type": "policy"})).json()
        assert [r["id"] for r in listed["recommendations"]] == [rec["id"]]
        assert (await client.get("/api/v1/ai/recommendations", params={"status": "bogus"})).status_code == 400
        patched = await client.patch(f"/api/v1/ai/recommendations/{rec['id']}", json={"status": "reviewed"})
        assert patched.json()["recommendation"]["status"] == "reviewed"
        refused = await client.patch(f"/api/v1/ai/recommendations/{rec['id']}", json={"status": "new"})
        assert refused.status_code == 400
        assert (await client.get("/api/v1/ai/recommendations/nope")).status_code == 404


async def test_apply_creates_a_draft_policy_once(bridge: Bridge) -> None:
    async with bridge.client() as client:
        rec = (await client.post("/api/v1/ai/recommendations", json=REC)).json()["recommendation"]
        applied = await client.post(f"/api/v1/ai/recommendations/{rec['id']}/apply")
        assert applied.status_code == 200
        body = applied.json()
        assert body["entityType"] == "policy"
        again = await client.post(f"/api/v1/ai/recommendations/{rec['id']}/apply")
        assert again.status_code == 400
        assert again.json()["error"]["code"] == "CONFLICT"
        stored = (await client.get(f"/api/v1/ai/recommendations/{rec['id']}")).json()["recommendation"]
    assert stored["status"] == "applied" and stored["appliedEntityId"] == body["entityId"]
    async with bridge.db.tenant(TenantContext(TENANT_A)) as repo:
        policies = (await repo.session.execute(select(ContactPolicy))).scalars().all()
    assert len(policies) == 1
    assert (policies[0].status, policies[0].rule_type, policies[0].config) == (
        "draft",
        "frequency_cap",
        {"maxPerWeek": 3},
    )


async def test_apply_rule_recommendation_retries_a_taken_name(bridge: Bridge) -> None:
    rule = {
        "type": "rule",
        "title": "Age >= 25",
        "description": "from parse-rule",
        "payload": {
            "conditions": [{"field": "customer.age", "operator": "gte", "value": 25}],
            "ruleType": "hard",
        },
    }
    async with bridge.client() as client:
        first = (await client.post("/api/v1/ai/recommendations", json=rule)).json()["recommendation"]
        second = (await client.post("/api/v1/ai/recommendations", json=rule)).json()["recommendation"]
        assert (await client.post(f"/api/v1/ai/recommendations/{first['id']}/apply")).status_code == 200
        assert (await client.post(f"/api/v1/ai/recommendations/{second['id']}/apply")).status_code == 200
    async with bridge.db.tenant(TenantContext(TENANT_A)) as repo:
        rules = (await repo.session.execute(select(QualificationRule))).scalars().all()
    assert sorted(r.name for r in rules) == ["Age >= 25", "Age >= 25 (AI)"]
    assert rules[0].config["attribute"] == "customer.age" and rules[0].stage == "eligibility"


async def test_apply_content_without_offer_is_400(bridge: Bridge) -> None:
    content = {"type": "content", "title": "Variant", "description": "d", "payload": {}}
    async with bridge.client() as client:
        rec = (await client.post("/api/v1/ai/recommendations", json=content)).json()["recommendation"]
        response = await client.post(f"/api/v1/ai/recommendations/{rec['id']}/apply")
        assert response.status_code == 400
        assert response.json()["error"]["field"] == "payload.offerId"
        # nothing applied: the transaction rolled back
        stored = (await client.get(f"/api/v1/ai/recommendations/{rec['id']}")).json()["recommendation"]
        assert stored["status"] == "new"
