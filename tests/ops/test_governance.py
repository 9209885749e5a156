"""Audit log (admin only, chain check), multi-stage approvals with four-eyes, tenant settings."""

from __future__ import annotations

import json
from typing import Any

import pytest
from sqlalchemy import update

from kaireon_mcp.errors import ConflictError, ForbiddenError, NotFoundError, ValidationError
from kaireon_mcp.storage.context import TenantContext
from kaireon_mcp.storage.tables import (
    ApprovalRequest,
    AuditLog,
    DecisionFlow,
    DecisionFlowNode,
    DecisionFlowVersion,
    Offer,
    Tenant,
)
from tests.ops.conftest import Call, Fixture

T1 = TenantContext(tenant_id="t1")
STAGES = [{"stageName": "review", "requiredRole": "editor"}, {"stageName": "final", "requiredRole": "admin"}]


async def _approval(fx: Fixture, **values: Any) -> str:
    async with fx.db.tenant(T1) as repo:
        values = {"entity_type": "offer", "action": "update", "requester_id": "alice", **values}
        return str((await repo.create(ApprovalRequest, values)).id)


async def _offer(fx: Fixture) -> Offer:
    async with fx.db.tenant(T1) as repo:
        return await repo.get(Offer, fx.offers["O1"])


async def test_audit_log_is_admin_only_and_verifies_the_chain(call: Call, live: Fixture) -> None:
    with pytest.raises(ForbiddenError, match="admin"):
        await call("queryAuditLog", {}, role="editor")
    out = await call("queryAuditLog", {"entityType": "offer"})
    assert out["total"] == 2 and {e["entityName"] for e in out["items"]} == {"Offer O1", "Offer O2"}
    assert "before" not in out["items"][0] and out["items"][0]["changes"]
    assert out["verify"]["intact"] is True and out["verify"]["total"] == 4  # 2 offers + 2 channels
    page = await call("queryAuditLog", {"limit": 1, "page": 2})
    assert len(page["items"]) == 1 and page["total"] == 4
    assert (await call("queryAuditLog", {"startDate": "2999-01-01"}))["total"] == 0
    with pytest.raises(ValidationError, match="startDate"):
        await call("queryAuditLog", {"startDate": "yesterday"})
    async with live.db.tenant(T1) as repo:
        await repo.session.execute(
            update(AuditLog)
            .where(AuditLog.tenant_id == "t1", AuditLog.seq == 2)
            .values(changes={"forged": 1})
        )
    broken = await call("queryAuditLog", {})
    assert broken["verify"]["intact"] is False and broken["verify"]["brokenReason"] == "hash_mismatch"
    assert (await call("queryAuditLog", {}, tenant="t2"))["total"] == 0


async def test_four_eyes_refuses_self_approval_then_stages_apply_the_payload(
    call: Call, live: Fixture
) -> None:
    await call(
        "updateTenantSettings",
        {"settings": {"aiAnalyzerSettings": {"governance": {"fourEyesEnabled": True}}}},
    )
    approval_id = await _approval(live, entity_id=live.offers["O1"], payload={"priority": 90}, stages=STAGES)
    listed = await call("listApprovals")
    assert listed["items"][0]["currentStage"]["stageName"] == "review"
    with pytest.raises(ForbiddenError, match="four-eyes"):
        await call("decideApproval", {"approvalId": approval_id, "action": "approve"}, user="alice")
    with pytest.raises(ForbiddenError, match="no user identity"):
        await call("decideApproval", {"approvalId": approval_id, "action": "approve"})
    first = await call(
        "decideApproval", {"approvalId": approval_id, "action": "approve"}, role="editor", user="bob"
    )
    assert first["status"] == "pending" and first["applied"] is None
    assert first["currentStage"]["stageName"] == "final"
    assert (await _offer(live)).priority == 50
    with pytest.raises(ForbiddenError, match="admin"):
        await call(
            "decideApproval", {"approvalId": approval_id, "action": "approve"}, role="editor", user="bob"
        )
    final = await call(
        "decideApproval", {"approvalId": approval_id, "action": "approve", "comments": "ok"}, user="carol"
    )
    assert final["status"] == "approved"
    assert final["applied"] == {"entityType": "offer", "entityId": live.offers["O1"], "action": "update"}
    assert [d["by"] for d in final["decisions"]] == ["bob", "carol"]
    offer = await _offer(live)
    assert offer.priority == 90 and offer.version == 2
    with pytest.raises(ConflictError, match="already approved"):
        await call("decideApproval", {"approvalId": approval_id, "action": "reject"}, user="carol")


async def test_reject_and_failed_apply_leave_the_entity_alone(call: Call, live: Fixture) -> None:
    rejected = await _approval(live, entity_id=live.offers["O1"], payload={"priority": 1})
    out = await call("decideApproval", {"approvalId": rejected, "action": "reject"}, user="bob")
    assert out["status"] == "rejected" and (await _offer(live)).priority == 50
    bad = await _approval(live, entity_id=live.offers["O1"], payload={"priority": 2, "colour": "red"})
    with pytest.raises(ValidationError, match="colour"):
        await call("decideApproval", {"approvalId": bad, "action": "approve"}, user="bob")
    pending = await call("listApprovals")
    assert [a["id"] for a in pending["items"]] == [bad]  # the failed apply rolled the decision back
    assert [a["id"] for a in (await call("listApprovals", {"status": "rejected"}))["items"]] == [rejected]
    with pytest.raises(NotFoundError):
        await call("decideApproval", {"approvalId": bad, "action": "approve"}, tenant="t2", user="bob")


async def test_create_and_publish_approvals(call: Call, live: Fixture) -> None:
    created = await _approval(
        live,
        entity_type="qualificationRule",
        action="create",
        payload={
            "name": "Adults",
            "ruleType": "attribute_condition",
            "config": {"attribute": "age", "operator": "gte", "value": 18},
        },
    )
    out = await call("decideApproval", {"approvalId": created, "action": "approve"}, user="bob")
    assert out["applied"]["action"] == "create" and out["entityId"] == out["applied"]["entityId"]
    async with live.db.tenant(T1) as repo:
        flow = await repo.create(DecisionFlow, {"key": "nba", "name": "NBA"})
        await repo.create(
            DecisionFlowNode, {"flow_id": flow.id, "node_key": "n1", "position": 0, "type": "filter"}
        )
    publish = await _approval(
        live, entity_type="decisionFlow", entity_id=flow.id, action="publish", payload={"notes": "first"}
    )
    await call("decideApproval", {"approvalId": publish, "action": "approve"}, user="bob")
    async with live.db.tenant(T1) as repo:
        flow = await repo.get(DecisionFlow, flow.id)
        assert (flow.status, flow.published_version, flow.protected) == ("active", 1, True)
        version = await repo.find(DecisionFlowVersion, flow_id=flow.id)
        assert version is not None and version.notes == "first"
        assert version.config_snapshot["nodes"] == [{"id": "n1", "type": "filter", "config": {}}]


async def test_settings_validate_merge_and_hide_secrets(call: Call, live: Fixture) -> None:
    with pytest.raises(ValidationError) as info:
        await call(
            "updateTenantSettings",
            {
                "settings": {
                    "holdoutPercentage": 150,
                    "decisionTraceSampleRate": "x",
                    "maxOffersPerDecision": 2.5,
                    "timezone": "Mars/Olympus",
                }
            },
        )
    assert info.value.extra["problems"] == [
        "holdoutPercentage: must be between 0 and 100",
        "decisionTraceSampleRate: must be a number",
        "maxOffersPerDecision: must be an integer",
        "timezone: unknown IANA zone 'Mars/Olympus'",
    ]
    await call(
        "updateTenantSettings",
        {
            "settings": {
                "aiAnalyzerSettings": {
                    "governance": {"fourEyesEnabled": True},
                    "llmExplanationsEnabled": False,
                }
            }
        },
    )
    out = await call(
        "updateTenantSettings",
        {
            "settings": {
                "decisionTraceSampleRate": 0.25,
                "aiAnalyzerSettings": {"llmExplanationsEnabled": True},
                "aiProvider": {"provider": "openai", "apiKey": "sk-secret"},
                "customFlag": 1,
            }
        },
    )
    settings = out["settings"]
    assert settings["decisionTraceSampleRate"] == 0.25
    assert settings["aiAnalyzerSettings"] == {
        "governance": {"fourEyesEnabled": True},
        "llmExplanationsEnabled": True,
    }
    assert settings["aiProvider"] == {"provider": "openai", "apiKey": "••••••••"}
    assert out["warnings"] == ["customFlag: not a documented setting; stored as given"]
    removed = await call("updateTenantSettings", {"settings": {"customFlag": None}})
    assert "customFlag" not in removed["settings"]
    got = await call("getTenantSettings")
    assert "sk-secret" not in json.dumps(got)
    audit = await call("queryAuditLog", {"entityType": "tenant_settings"})
    assert audit["total"] == 3 and "sk-secret" not in json.dumps(audit)
    async with live.db.session() as session:
        tenant = await session.get(Tenant, "t1")
        assert tenant is not None
        token = tenant.settings["aiProvider"]["apiKeyEncrypted"]
    assert live.db.box.decrypt_json(token) == {"apiKey": "sk-secret"}
    assert (await call("getTenantSettings", {}, tenant="t2"))["settings"] == {}
