"""Qualification rules, contact policies, guardrails and outcome types."""

from __future__ import annotations

from typing import Any

import pytest

from kaireon_mcp.storage.context import TenantContext
from kaireon_mcp.storage.db import Database
from kaireon_mcp.storage.seed import SYSTEM_OUTCOMES
from kaireon_mcp.storage.tables import DecisionFlow, DecisionFlowNode, OutcomeType
from tests.studio.conftest import call, fails, rows

GOLD = {"requiredSegments": ["gold", "platinum"]}


async def _rule(db: Database, name: str, **fields: Any) -> dict[str, Any]:
    args = {"name": name, "ruleType": "segment_required", "config": GOLD, **fields}
    return await call(db, "createQualificationRule", args)


async def test_qualification_rule_defaults_and_stages(sdb: Database) -> None:
    gold = await _rule(sdb, "Gold Tier Required")
    assert gold["status"] == "draft" and gold["scope"] == "global" and gold["scopeId"] is None
    assert (
        gold["priority"] == 50
        and gold["stage"] == "eligibility"
        and gold["decisioningStage"] == "eligibility"
    )

    propensity = await call(
        sdb,
        "createQualificationRule",
        {
            "name": "Likely",
            "ruleType": "propensity_threshold",
            "config": {"threshold": 0.4, "multiplierBelow": 0.2},
        },
    )
    assert propensity["stage"] == "match"
    legacy = await _rule(sdb, "Owns product", stage="applicability")
    assert legacy["stage"] == "fit"
    error = await fails(
        sdb,
        "createQualificationRule",
        {"name": "X", "ruleType": "segment_required", "config": GOLD, "stage": "late"},
    )
    assert error.code == "VALIDATION" and error.field == "stage"

    # changing the type without a stage moves the rule to the new type's default stage
    moved = await call(
        sdb,
        "updateQualificationRule",
        {"ruleId": gold["id"], "ruleType": "recency_check", "config": {"minDaysSinceLastImpression": 14}},
    )
    assert moved["stage"] == "match" and moved["version"] == 2


async def test_qualification_scope_rules(sdb: Database) -> None:
    error = await fails(
        sdb,
        "createQualificationRule",
        {"name": "S", "ruleType": "segment_required", "config": GOLD, "scope": "segment"},
    )
    assert error.code == "VALIDATION" and error.field == "scopeId"
    segment = await _rule(sdb, "Gold only", scope="segment", scopeId="seg_gold")
    assert (segment["scope"], segment["scopeId"]) == ("segment", "seg_gold")
    error = await fails(
        sdb,
        "createQualificationRule",
        {
            "name": "O",
            "ruleType": "segment_required",
            "config": GOLD,
            "scope": "offer",
            "scopeId": "off_missing",
        },
    )
    assert error.code == "NOT_FOUND" and error.field == "scopeId"
    offer = await call(sdb, "createOffer", {"name": "Card"})
    scoped = await _rule(sdb, "Card rule", scope="offer", scopeId=offer["id"])
    assert scoped["scopeId"] == offer["id"]
    global_rule = await _rule(sdb, "Everyone", scopeId="ignored")
    assert global_rule["scopeId"] is None
    error = await fails(
        sdb,
        "createQualificationRule",
        {"name": "B", "ruleType": "segment_required", "config": GOLD, "scope": "planet"},
    )
    assert error.code == "VALIDATION" and error.field == "scope"


@pytest.mark.parametrize(
    ("rule_type", "config", "field"),
    [
        ("segment_required", {}, "config.requiredSegments"),
        ("segment_required", {"requiredSegments": "gold"}, "config.requiredSegments"),
        ("attribute_condition", {"operator": ">=", "value": 18}, "config.attribute"),
        (
            "attribute_condition",
            {"attribute": "customer.age", "operator": "about", "value": 18},
            "config.operator",
        ),
        ("attribute_condition", {"attribute": "customer.age", "operator": "gte"}, "config.value"),
        ("attribute_condition", {"attribute": "tier", "operator": "in", "value": "gold"}, "config.value"),
        ("metric_condition", {"operator": "gt", "value": 3}, "config.metricId"),
        ("propensity_threshold", {"threshold": 1.5}, "config.threshold"),
        ("propensity_threshold", {}, "config.threshold"),
        ("propensity_threshold", {"threshold": 0.3, "multiplierBelow": 2}, "config.multiplierBelow"),
        ("recency_check", {"minDaysSinceLastImpression": 0}, "config.minDaysSinceLastImpression"),
    ],
)
async def test_qualification_config_is_checked_per_rule_type(
    sdb: Database, rule_type: str, config: dict[str, Any], field: str
) -> None:
    error = await fails(
        sdb, "createQualificationRule", {"name": "R", "ruleType": rule_type, "config": config}
    )
    assert (error.code, error.field) == ("VALIDATION", field)


async def test_qualification_rules_list_by_priority_and_stage(sdb: Database) -> None:
    await _rule(sdb, "Low", priority=10)
    await _rule(sdb, "High", priority=80)
    await _rule(sdb, "Mid A", priority=50)
    await _rule(sdb, "Mid B", priority=50)
    await call(
        sdb,
        "createQualificationRule",
        {
            "name": "Recency",
            "ruleType": "recency_check",
            "config": {"minDaysSinceLastImpression": 7},
            "priority": 90,
        },
    )
    page = await call(sdb, "listQualificationRules", {}, route="/studio/decision-flows")
    assert [r["name"] for r in page["items"]] == ["Recency", "High", "Mid B", "Mid A", "Low"]
    eligibility = await call(sdb, "listQualificationRules", {"stage": "eligibility"})
    assert [r["name"] for r in eligibility["items"]] == ["High", "Mid B", "Mid A", "Low"]
    match = await call(sdb, "listQualificationRules", {"stage": "match"})
    assert [r["name"] for r in match["items"]] == ["Recency"] and match["pagination"]["total"] == 1
    error = await fails(sdb, "listQualificationRules", {"stage": "qualification"})
    assert error.code == "VALIDATION" and error.field == "stage"


async def test_rule_and_policy_creation_is_admin_only(sdb: Database) -> None:
    args = {"name": "R", "ruleType": "segment_required", "config": GOLD}
    assert (await fails(sdb, "createQualificationRule", args, role="editor")).code == "FORBIDDEN"
    policy = {"name": "P", "ruleType": "cooldown", "config": {"cooldownHours": 48}}
    assert (await fails(sdb, "createContactPolicy", policy, role="editor")).code == "FORBIDDEN"
    rule = await call(sdb, "createQualificationRule", args)
    edited = await call(sdb, "updateQualificationRule", {"ruleId": rule["id"], "priority": 70}, role="editor")
    assert edited["priority"] == 70


GOOD_POLICIES: list[tuple[str, dict[str, Any], str]] = [
    ("frequency_cap", {"maxPerDay": 3}, "offer"),
    ("cooldown", {"cooldownHours": 48}, "offer"),
    ("budget_exhausted", {"budgetField": "impressions", "threshold": 1000}, "offer"),
    ("outcome_based", {"afterOutcome": ["complaint", "unsubscribe"], "suppressForDays": 30}, "offer"),
    ("segment_exclusion", {"excludeSegments": ["vip"]}, "global"),
    (
        "time_window",
        {"startHour": 9, "endHour": 21, "daysOfWeek": [1, 2, 3], "timezone": "Europe/Berlin"},
        "global",
    ),
    ("customer_total_cap", {"maxPerWeek": 10}, "global"),
    ("allow_override", {"segments": ["staff"]}, "offer"),
    ("do_not_contact", {"dncSource": "customer.dnc"}, "global"),
    ("metric_condition", {"metricId": "complaint_rate_90d", "operator": "gt", "value": 0.1}, "offer"),
]


@pytest.mark.parametrize(("rule_type", "config", "default_scope"), GOOD_POLICIES)
async def test_valid_contact_policies_get_their_default_scope(
    sdb: Database, rule_type: str, config: dict[str, Any], default_scope: str
) -> None:
    policy = await call(
        sdb, "createContactPolicy", {"name": rule_type, "ruleType": rule_type, "config": config}
    )
    assert policy["ruleType"] == rule_type and policy["scope"] == default_scope
    assert policy["status"] == "active" and policy["priority"] == 50 and policy["config"] == config


@pytest.mark.parametrize(
    ("rule_type", "config", "field"),
    [
        ("frequency_cap", {}, "config.maxPerDay"),
        ("frequency_cap", {"maxPerDay": 0}, "config.maxPerDay"),
        ("cooldown", {}, "config.cooldownHours"),
        ("budget_exhausted", {"budgetField": "clicks"}, "config.budgetField"),
        ("outcome_based", {"suppressForDays": 3}, "config.afterOutcome"),
        ("segment_exclusion", {"excludeSegments": []}, "config.excludeSegments"),
        ("time_window", {"startHour": 25}, "config.startHour"),
        ("time_window", {"daysOfWeek": [0]}, "config.daysOfWeek"),
        ("time_window", {"timezone": "Mars/Olympus"}, "config.timezone"),
        ("mutual_exclusion", {}, "config.excludeOfferIds"),
        ("cross_channel_cap", {"maxPerDay": 2}, "config.appliesAcross"),
        ("customer_total_cap", {}, "config.maxPerDay"),
        ("category_suppression", {}, "config.suppressionDays"),
        ("metric_condition", {"metricId": "m", "operator": "near", "value": 1}, "config.operator"),
        ("frequency_cap", {"maxPerDay": 3, "bypassable": "no"}, "config.bypassable"),
    ],
)
async def test_contact_policy_config_is_checked_per_rule_type(
    sdb: Database, rule_type: str, config: dict[str, Any], field: str
) -> None:
    scope = {"scope": "category", "scopeId": None} if rule_type == "category_suppression" else {}
    error = await fails(
        sdb, "createContactPolicy", {"name": "P", "ruleType": rule_type, "config": config, **scope}
    )
    assert (error.code, error.field) == ("VALIDATION", field)


async def test_contact_policy_scopes_and_references(sdb: Database) -> None:
    error = await fails(
        sdb,
        "createContactPolicy",
        {"name": "P", "ruleType": "cooldown", "config": {"cooldownHours": 1}, "scope": "category"},
    )
    assert error.code == "VALIDATION" and error.field == "scope"
    error = await fails(sdb, "createContactPolicy", {"name": "P", "ruleType": "fatigue", "config": {}})
    assert error.code == "VALIDATION" and error.field == "ruleType"
    error = await fails(
        sdb,
        "createContactPolicy",
        {"name": "P", "ruleType": "mutual_exclusion", "config": {"excludeOfferIds": ["off_missing"]}},
    )
    assert error.code == "NOT_FOUND" and error.field == "config.excludeOfferIds"
    email = await call(sdb, "createChannel", {"name": "Email"})
    global_cap = await call(
        sdb,
        "createContactPolicy",
        {
            "name": "3 per day",
            "ruleType": "frequency_cap",
            "config": {"maxPerDay": 3},
            "scopes": [{"scope": "global", "scopeId": None}],
        },
    )
    assert global_cap["scopes"] == [{"scope": "global", "scopeId": None}]
    error = await fails(
        sdb,
        "createContactPolicy",
        {
            "name": "Bad",
            "ruleType": "cooldown",
            "config": {"cooldownHours": 1},
            "scopes": [{"scope": "channel", "scopeId": "chn_missing"}],
        },
    )
    assert error.code == "NOT_FOUND" and error.field == "scopes[0].scopeId"
    weekly = await call(
        sdb,
        "createContactPolicy",
        {
            "name": "3 emails/week",
            "ruleType": "frequency_cap",
            "config": {"maxPerWeek": 3},
            "scope": "channel",
            "scopeId": email["id"],
            "priority": 80,
        },
    )
    assert (weekly["scope"], weekly["scopeId"]) == ("channel", email["id"])
    cats = await call(sdb, "createCategory", {"name": "Cards"})
    suppression = await call(
        sdb,
        "createContactPolicy",
        {
            "name": "Suppress",
            "ruleType": "category_suppression",
            "config": {"suppressionDays": 7},
            "scope": "category",
            "scopeId": cats["id"],
            "priority": 10,
        },
    )
    assert suppression["scope"] == "category"

    page = await call(sdb, "listContactPolicies", {})
    assert [p["name"] for p in page["items"]] == ["3 emails/week", "3 per day", "Suppress"]
    updated = await call(sdb, "updateContactPolicy", {"policyId": weekly["id"], "config": {"maxPerWeek": 5}})
    assert updated["config"] == {"maxPerWeek": 5} and updated["version"] == 2
    error = await fails(sdb, "updateContactPolicy", {"policyId": weekly["id"], "config": {}})
    assert error.code == "VALIDATION" and error.field == "config.maxPerDay"
    error = await fails(
        sdb,
        "createContactPolicy",
        {"name": "3 per day", "ruleType": "cooldown", "config": {"cooldownHours": 1}},
    )
    assert error.code == "CONFLICT" and error.field == "name"


async def test_guardrails(sdb: Database) -> None:
    guard = await call(sdb, "createGuardrail", {"key": "max-discount", "name": "Max discount"})
    assert guard["severity"] == "hard" and guard["status"] == "active" and guard["expressionAst"] == {}
    error = await fails(sdb, "createGuardrail", {"key": "max-discount", "name": "Again"})
    assert error.code == "CONFLICT" and error.field == "key"
    error = await fails(sdb, "createGuardrail", {"key": "k2", "name": "X", "severity": "medium"})
    assert error.code == "VALIDATION" and error.field == "severity"
    error = await fails(sdb, "createGuardrail", {"key": "bad key!", "name": "X"})
    assert error.code == "VALIDATION" and error.field == "key"


async def test_outcome_types_are_seeded_once_and_protected(sdb: Database) -> None:
    listed = await call(sdb, "listOutcomeTypes", {})
    assert listed["total"] == 10
    assert {o["key"] for o in listed["items"]} == {key for key, *_ in SYSTEM_OUTCOMES}
    assert all(o["isSystem"] for o in listed["items"])
    impression = next(o for o in listed["items"] if o["key"] == "impression")
    assert (impression["classification"], impression["category"]) == ("neutral", "impression")
    assert (await call(sdb, "listOutcomeTypes", {}))["total"] == 10

    custom = await call(
        sdb,
        "createOutcomeType",
        {
            "key": "quote_requested",
            "name": "Quote requested",
            "classification": "positive",
            "category": "response",
        },
    )
    assert custom["isSystem"] is False
    listed = await call(sdb, "listOutcomeTypes", {})
    assert listed["total"] == 11 and listed["items"][-1]["key"] == "quote_requested"
    error = await fails(
        sdb,
        "createOutcomeType",
        {"key": "click", "name": "Click 2", "classification": "positive", "category": "response"},
    )
    assert error.code == "CONFLICT" and error.field == "key"
    error = await fails(
        sdb, "createOutcomeType", {"key": "x", "name": "X", "classification": "great", "category": "response"}
    )
    assert error.code == "VALIDATION" and error.field == "classification"
    error = await fails(
        sdb,
        "createOutcomeType",
        {"key": "Bad Key", "name": "X", "classification": "positive", "category": "response"},
    )
    assert error.code == "VALIDATION" and error.field == "key"

    click = next(o for o in listed["items"] if o["key"] == "click")
    error = await fails(sdb, "deleteEntity", {"entityType": "outcomeType", "id": click["id"]})
    assert error.code == "CONFLICT"
    await call(sdb, "deleteEntity", {"entityType": "outcomeType", "id": custom["id"]})
    assert (await call(sdb, "listOutcomeTypes", {}))["total"] == 10
    assert (await call(sdb, "listOutcomeTypes", {"includeDeleted": True}))["total"] == 11
    assert len(await rows(sdb, OutcomeType)) == 11


async def test_deleting_a_rule_warns_about_flows_that_use_it(sdb: Database) -> None:
    rule = await _rule(sdb, "Gold Tier Required")
    unused = await _rule(sdb, "Unused")
    async with sdb.tenant(TenantContext(tenant_id="demo")) as repo:
        flow = await repo.create(DecisionFlow, {"key": "cards", "name": "Cards flow"})
        await repo.create(
            DecisionFlowNode,
            {
                "flow_id": flow.id,
                "node_key": "q",
                "position": 0,
                "type": "qualify",
                "config": {"mode": "all", "ruleIds": [rule["id"]]},
            },
        )
    result = await call(sdb, "deleteEntity", {"entityType": "qualificationRule", "id": rule["id"]})
    assert result["deleted"] is True and len(result["warnings"]) == 1
    assert "Cards flow" in result["warnings"][0] and "skip this rule" in result["warnings"][0]
    quiet = await call(sdb, "deleteEntity", {"entityType": "qualificationRule", "id": unused["id"]})
    assert quiet["warnings"] == []
    assert (await call(sdb, "listQualificationRules", {}))["items"] == []
    assert len((await call(sdb, "listQualificationRules", {"includeDeleted": True}))["items"]) == 2
