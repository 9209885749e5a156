"""playbook_bootstrap_new_offer_campaign: exact dry-run plan, one-transaction apply, rollback,
governed queueing and the per-(tenant, playbook) rate limit."""

from __future__ import annotations

from typing import Any

import pytest

from kaireon_mcp.core.playbooks.ratelimit import SlidingWindowLimiter
from kaireon_mcp.errors import ConflictError, RateLimitedError
from kaireon_mcp.storage.db import Database
from kaireon_mcp.storage.tables import (
    ApprovalRequest,
    Category,
    Creative,
    Journey,
    Offer,
    QualificationRule,
    SubCategory,
)
from tests.playbooks.conftest import audit_actions, call, count, row_counts

NAME = "playbook_bootstrap_new_offer_campaign"
RULE = {
    "ruleType": "attribute_condition",
    "config": {"attribute": "customer.age", "operator": "gte", "value": 21},
}


def campaign(**overrides: Any) -> dict[str, Any]:
    args = {
        "categoryName": "Seasonal",
        "subCategoryName": "Autumn",
        "offer": {"name": "Pumpkin Spice Promo", "priority": 70, "status": "active"},
        "channelId": "chn_demo_web",
        "qualificationRule": {**RULE, "status": "active"},
        "journey": {},
    }
    return {**args, **overrides}


EXPECTED_PLAN = [
    {"tool": "createCategory", "arguments": {"name": "Seasonal"}, "ref": "category"},
    {
        "tool": "createSubCategory",
        "arguments": {"categoryId": "$category.id", "name": "Autumn"},
        "ref": "subCategory",
    },
    {
        "tool": "createOffer",
        "arguments": {
            "name": "Pumpkin Spice Promo",
            "priority": 70,
            "status": "active",
            "categoryId": "$category.id",
            "subCategoryId": "$subCategory.id",
        },
        "ref": "offer",
    },
    {
        "tool": "createCreative",
        "arguments": {
            "name": "Pumpkin Spice Promo / Web",
            "templateType": "web_banner",
            "offerId": "$offer.id",
            "channelId": "chn_demo_web",
        },
        "ref": "creative",
    },
    {
        "tool": "createQualificationRule",
        "arguments": {
            "name": "Pumpkin Spice Promo eligibility",
            **RULE,
            "status": "active",
            "scope": "offer",
            "scopeId": "$offer.id",
        },
        "ref": "qualificationRule",
    },
    {
        "tool": "createJourney",
        "arguments": {
            "name": "Pumpkin Spice Promo journey",
            "definition": {
                "nodes": [
                    {"id": "entry", "type": "entry_trigger", "config": {"eventType": "campaign.enrolled"}},
                    {
                        "id": "send",
                        "type": "channel_action",
                        "config": {
                            "offerId": "$offer.id",
                            "creativeId": "$creative.id",
                            "channelId": "chn_demo_web",
                        },
                    },
                    {"id": "wait", "type": "wait", "config": {"delayHours": 72}},
                    {"id": "exit", "type": "exit", "config": {"reason": "campaign_complete"}},
                ],
                "edges": [
                    {"from": "entry", "to": "send"},
                    {"from": "send", "to": "wait"},
                    {"from": "wait", "to": "exit"},
                ],
            },
            "entryCondition": {"event": "campaign.enrolled"},
        },
        "ref": "journey",
    },
]


async def test_dry_run_lists_exactly_the_planned_calls_and_writes_nothing(demo_db: Database) -> None:
    before = await row_counts(demo_db)
    out = await call(demo_db, NAME, campaign())
    assert out["dryRun"] is True and out["applied"] is False
    assert out["plan"] == EXPECTED_PLAN
    assert out["reused"] == [] and out["warnings"] == []
    assert await row_counts(demo_db) == before
    assert await audit_actions(demo_db) == []


async def test_existing_category_is_reused_by_name(demo_db: Database) -> None:
    out = await call(
        demo_db, NAME, campaign(categoryName="Retention", subCategoryName="Discount", journey=None)
    )
    assert out["reused"] == [
        {"entityType": "category", "id": "cat_demo_retention", "name": "Retention"},
        {"entityType": "sub_category", "id": "sub_demo_discount", "name": "Discount"},
    ]
    assert [s["tool"] for s in out["plan"]] == ["createOffer", "createCreative", "createQualificationRule"]
    offer_args = out["plan"][0]["arguments"]
    assert (
        offer_args["categoryId"] == "cat_demo_retention"
        and offer_args["subCategoryId"] == "sub_demo_discount"
    )


async def test_apply_creates_every_row_in_one_transaction_with_one_audit_entry(demo_db: Database) -> None:
    out = await call(demo_db, NAME, campaign(apply=True))
    assert out["applied"] is True and out["dryRun"] is False
    assert [r["tool"] for r in out["results"]] == [s["tool"] for s in EXPECTED_PLAN]
    ids = {r["ref"]: r["id"] for r in out["results"]}
    async with demo_db.session() as s:
        category = await s.get(Category, ids["category"])
        sub = await s.get(SubCategory, ids["subCategory"])
        offer = await s.get(Offer, ids["offer"])
        creative = await s.get(Creative, ids["creative"])
        rule = await s.get(QualificationRule, ids["qualificationRule"])
        journey = await s.get(Journey, ids["journey"])
    assert category is not None and category.name == "Seasonal"
    assert sub is not None and sub.category_id == category.id
    assert offer is not None and (offer.category_id, offer.sub_category_id) == (category.id, sub.id)
    assert offer.priority == 70 and offer.status == "active"
    assert creative is not None and (creative.offer_id, creative.channel_id) == (offer.id, "chn_demo_web")
    assert creative.template_type == "web_banner"
    assert rule is not None and (rule.scope, rule.scope_id) == ("offer", offer.id)
    assert journey is not None and journey.status == "draft"
    send = journey.definition["nodes"][1]["config"]
    assert send == {"offerId": offer.id, "creativeId": creative.id, "channelId": "chn_demo_web"}
    [entry] = await audit_actions(demo_db)
    assert entry.action == "playbook.bootstrap_new_offer_campaign" and entry.entity_type == "playbook"
    assert entry.changes["plan"] == EXPECTED_PLAN and entry.id == out["auditId"]


async def test_a_failing_step_rolls_back_everything(demo_db: Database) -> None:
    before = await row_counts(demo_db)
    args = campaign(offer={"name": "BOGO - 5 Day Easy"}, apply=True)
    dry = await call(demo_db, NAME, {**args, "apply": False})
    assert dry["warnings"] == [
        "an offer named 'BOGO - 5 Day Easy' already exists; apply will fail at createOffer",
        "a creative named 'BOGO - 5 Day Easy / Web' already exists; apply will fail at createCreative",
    ]
    with pytest.raises(ConflictError, match=r"step 3 \(createOffer\) failed, so nothing was committed"):
        await call(demo_db, NAME, args)
    assert await row_counts(demo_db) == before
    assert await count(demo_db, Category, Category.name == "Seasonal") == 0
    assert await audit_actions(demo_db) == []


async def test_governed_mode_queues_an_approval_instead_of_writing(demo_db: Database) -> None:
    out = await call(demo_db, NAME, campaign(apply=True), governed=True)
    assert out["queued"] is True and out["applied"] is False and out["plan"] == EXPECTED_PLAN
    async with demo_db.session() as s:
        approval = await s.get(ApprovalRequest, out["approvalId"])
    assert approval is not None and approval.status == "pending"
    assert (approval.entity_type, approval.action) == ("playbook", "update")
    assert approval.payload["playbook"] == NAME and approval.payload["plan"] == EXPECTED_PLAN
    assert approval.payload["arguments"]["apply"] is True
    assert await count(demo_db, Category, Category.name == "Seasonal") == 0
    assert await audit_actions(demo_db) == []


async def test_rate_limit_is_a_sliding_window_per_tenant_and_playbook(demo_db: Database) -> None:
    now = [0.0]
    limiter = SlidingWindowLimiter(2, 60.0, clock=lambda: now[0])
    for _ in range(2):
        await call(demo_db, NAME, campaign(), playbookLimiter=limiter)
    with pytest.raises(RateLimitedError) as err:
        await call(demo_db, NAME, campaign(), playbookLimiter=limiter)
    assert err.value.to_dict()["error"]["code"] == "RATE_LIMITED" and err.value.extra["retryAfter"] == 60
    await call(
        demo_db, "playbook_simulate_weight_change", {"weights": {"propensity": 1}}, playbookLimiter=limiter
    )
    now[0] = 60.5
    await call(demo_db, NAME, campaign(), playbookLimiter=limiter)


async def test_default_limit_is_20_calls_per_minute(demo_db: Database) -> None:
    for _ in range(20):
        await call(demo_db, "playbook_simulate_weight_change", {"weights": {"impact": 1}})
    with pytest.raises(RateLimitedError):
        await call(demo_db, "playbook_simulate_weight_change", {"weights": {"impact": 1}})


async def test_derived_fields_are_refused(demo_db: Database) -> None:
    from kaireon_mcp.errors import ValidationError

    with pytest.raises(ValidationError, match="offer.categoryId is set by the playbook"):
        await call(demo_db, NAME, campaign(offer={"name": "X", "categoryId": "cat_demo_retention"}))
    with pytest.raises(ValidationError, match=r"plan step 3 \(createOffer\)"):
        await call(demo_db, NAME, campaign(offer={"name": "X", "priority": 500}))


async def test_an_approved_payload_applies_the_reviewed_plan(demo_db: Database) -> None:
    from kaireon_mcp.tools.common import shared_transaction
    from kaireon_mcp.tools.playbooks import run_approved
    from tests.conftest import make_tool_ctx

    queued = await call(demo_db, NAME, campaign(apply=True), governed=True)
    async with demo_db.session() as s:
        approval = await s.get(ApprovalRequest, queued["approvalId"])
    assert approval is not None
    ctx = make_tool_ctx(demo_db)
    with pytest.raises(RuntimeError):  # joined to the caller's transaction: its failure undoes the apply
        async with shared_transaction(ctx) as outer:
            await run_approved(outer, approval.payload)
            raise RuntimeError("approval decision failed later")
    assert await count(demo_db, Category, Category.name == "Seasonal") == 0
    out = await run_approved(ctx, approval.payload)
    assert out["applied"] is True and [r["tool"] for r in out["results"]] == [
        s["tool"] for s in EXPECTED_PLAN
    ]
    assert await count(demo_db, Offer, Offer.name == "Pumpkin Spice Promo") == 1
    [entry] = await audit_actions(demo_db)
    assert entry.action == "playbook.bootstrap_new_offer_campaign" and entry.changes["plan"] == EXPECTED_PLAN


async def test_decide_approval_applies_a_queued_playbook(demo_db: Database) -> None:
    queued = await call(demo_db, NAME, campaign(apply=True), governed=True)
    decided = await call(demo_db, "decideApproval", {"approvalId": queued["approvalId"], "action": "approve"})
    assert decided["status"] == "approved" and decided["applied"]["applied"] is True
    assert await count(demo_db, Offer, Offer.name == "Pumpkin Spice Promo") == 1
    assert "playbook.bootstrap_new_offer_campaign" in [e.action for e in await audit_actions(demo_db)]
