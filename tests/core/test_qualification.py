"""Qualification rules: stages, scope matching, rule types, ordering and the fit multiplier."""

from __future__ import annotations

import pytest

from kaireon_mcp.core.qualification import (
    CandidateView,
    CustomerContext,
    RuleSpec,
    customer_segments,
    evaluate_rules,
    resolve_stage,
    scope_matches,
)
from kaireon_mcp.errors import ValidationError

CARD = CandidateView(
    offer_id="o1",
    category_id="cat_cards",
    sub_category_id="sub_premium",
    creative_id="cr1",
    channel_id="ch_email",
    placement_id="pl_hero",
    channel_type="email",
    product_type="credit_card",
    offer={"productType": "credit_card", "customFields": {"annual_fee": 95}},
)


def rule(rule_id: str, rule_type: str, config: dict[str, object], **kw: object) -> RuleSpec:
    return RuleSpec(id=rule_id, name=f"rule {rule_id}", rule_type=rule_type, config=config, **kw)  # type: ignore[arg-type]


def customer(**kw: object) -> CustomerContext:
    return CustomerContext(customer_id="CUST001", **kw)  # type: ignore[arg-type]


def test_stage_defaults_legacy_names_and_errors() -> None:
    assert resolve_stage("segment_required", None) == "eligibility"
    assert resolve_stage("metric_condition", None) == "eligibility"
    assert resolve_stage("offer_attribute", None) == "eligibility"
    assert resolve_stage("propensity_threshold", None) == "match"
    assert resolve_stage("recency_check", "") == "match"
    assert resolve_stage("recency_check", "qualification") == "eligibility"
    assert resolve_stage("segment_required", "applicability") == "fit"
    assert resolve_stage("segment_required", "suitability") == "match"
    with pytest.raises(ValidationError):
        resolve_stage("segment_required", "bogus")
    with pytest.raises(ValidationError):
        resolve_stage("not_a_type", None)


@pytest.mark.parametrize(
    ("scope", "scope_id", "segments", "expected"),
    [
        ("global", "ignored", set(), True),
        ("segment", "gold", {"gold"}, True),
        ("segment", "gold", {"silver"}, False),
        ("channel", "ch_email", set(), True),
        ("channel", "email", set(), True),  # channel type name
        ("channel", "ch_sms", set(), False),
        ("category", "cat_cards", set(), True),
        ("category", "cat_loans", set(), False),
        ("subcategory", "sub_premium", set(), True),
        ("offer", "o1", set(), True),
        ("offer", "o2", set(), False),
        ("creative", "cr1", set(), True),
        ("placement", "pl_hero", set(), True),
        ("placement", "pl_side", set(), False),
        ("offer", None, set(), True),  # unscoped non-global behaves globally
        ("planet", "mars", set(), False),
    ],
)
def test_scope_matching(scope: str, scope_id: str | None, segments: set[str], expected: bool) -> None:
    assert scope_matches(scope, scope_id, CARD, segments) is expected


def test_segments_merge_request_and_enriched_values() -> None:
    ctx = customer(segments={"early_adopter"}, attributes={"segment": "gold", "customer.segments": ["vip"]})
    assert customer_segments(ctx) == {"early_adopter", "gold", "vip"}


def test_segment_required_reports_missing_segments_in_order() -> None:
    gate = rule("r1", "segment_required", {"requiredSegments": ["gold", "platinum"]})
    outcome = evaluate_rules([gate], CARD, customer(segments={"silver"}))
    assert not outcome.passed
    assert outcome.failed_rule is gate
    assert outcome.results == [
        {
            "ruleId": "r1",
            "ruleName": "rule r1",
            "ruleType": "segment_required",
            "stage": "eligibility",
            "passed": False,
            "reason": "Missing required segments: gold, platinum",
        }
    ]
    partial = evaluate_rules([gate], CARD, customer(segments={"platinum"}))
    assert partial.results[0]["reason"] == "Missing required segments: gold"
    assert evaluate_rules([gate], CARD, customer(segments={"gold", "platinum"})).passed
    assert evaluate_rules([rule("r2", "segment_required", {"requiredSegments": []})], CARD, customer()).passed


def test_legacy_segment_match_mode_any() -> None:
    gate = rule("r1", "segment_required", {"segments": ["gold", "platinum"], "matchMode": "any"})
    assert evaluate_rules([gate], CARD, customer(segments={"platinum"})).passed
    assert not evaluate_rules([gate], CARD, customer(segments={"silver"})).passed


def test_attribute_condition_failure_reason_and_missing_attribute_passes() -> None:
    adult = rule("age", "attribute_condition", {"attribute": "customer.age", "operator": ">=", "value": 18})
    minor = evaluate_rules([adult], CARD, customer(attributes={"age": 16}))
    assert not minor.passed
    assert minor.results[0]["reason"] == "age 16 < 18"
    assert evaluate_rules([adult], CARD, customer(attributes={"age": "18"})).passed
    missing = evaluate_rules([adult], CARD, customer(attributes={}))
    assert missing.passed
    assert missing.results[0]["passed"] is True
    assert "rule skipped" in missing.results[0]["reason"]


def test_attribute_condition_exists_and_schema_prefixed_keys() -> None:
    needs_tier = rule("tier", "attribute_condition", {"attribute": "tier", "operator": "exists"})
    outcome = evaluate_rules([needs_tier], CARD, customer(attributes={}))
    assert not outcome.passed
    assert outcome.results[0]["reason"] == 'Missing attribute "tier"'
    starbucks = rule(
        "sb", "attribute_condition", {"attribute": "starbucks_customers.age", "operator": "gte", "value": 18}
    )
    assert not evaluate_rules([starbucks], CARD, customer(attributes={"starbucks_customers.age": 17})).passed
    assert evaluate_rules([starbucks], CARD, customer(attributes={"starbucks_customers.age": 21})).passed


def test_priority_order_and_stop_at_first_hard_failure() -> None:
    low = rule("low", "attribute_condition", {"attribute": "age", "operator": ">=", "value": 21}, priority=10)
    high = rule("high", "segment_required", {"requiredSegments": ["gold"]}, priority=90)
    outcome = evaluate_rules([low, high], CARD, customer(attributes={"age": 16}))
    assert outcome.failed_rule is high
    assert [r["ruleId"] for r in outcome.results] == ["high"]


def test_match_rules_multiply_fit_multiplier() -> None:
    propensity = rule("p", "propensity_threshold", {"threshold": 0.4, "multiplierBelow": 0.2}, priority=60)
    recency = rule("r", "recency_check", {"minDaysSinceLastImpression": 14}, priority=50)
    ctx = customer(
        attributes={"propensityScores": {"credit_card": 0.3}},
        days_since_last_impression=lambda offer_id: 3.0 if offer_id == "o1" else None,
    )
    outcome = evaluate_rules([propensity, recency], CARD, ctx)
    assert outcome.passed
    assert outcome.fit_multiplier == pytest.approx(0.2 * 0.5)
    assert [r["passed"] for r in outcome.results] == [False, False]
    assert outcome.results[0]["reason"] == "propensity 0.3 < 0.4; fitMultiplier x0.2"
    assert outcome.results[1]["reason"] == "last impression 3d ago < 14d; fitMultiplier x0.5"


def test_match_rule_boundaries_and_sources() -> None:
    recency = rule("r", "recency_check", {"minDaysSinceLastImpression": 14, "multiplier": 0.7})
    at_boundary = customer(days_since_last_impression=lambda _: 14.0)
    assert evaluate_rules([recency], CARD, at_boundary).fit_multiplier == 1.0
    assert (
        evaluate_rules([recency], CARD, customer(days_since_last_impression=lambda _: 13.9)).fit_multiplier
        == 0.7
    )
    assert (
        evaluate_rules([recency], CARD, customer(days_since_last_impression=lambda _: None)).fit_multiplier
        == 1.0
    )
    threshold = rule("p", "propensity_threshold", {"threshold": 0.4, "multiplierBelow": 0.01})
    by_offer_id = customer(attributes={"propensityScores": {"o1": 0.39, "credit_card": 0.9}})
    assert evaluate_rules([threshold], CARD, by_offer_id).fit_multiplier == 0.1  # clamped to the 0.1 floor
    callable_wins = customer(
        attributes={"propensityScores": {"o1": 0.1}}, propensity=lambda candidate, model: 0.4
    )
    assert evaluate_rules([threshold], CARD, callable_wins).fit_multiplier == 1.0
    assert evaluate_rules([threshold], CARD, customer()).fit_multiplier == 1.0  # unknown propensity passes


def test_metric_condition_and_offer_attribute() -> None:
    spenders = rule(
        "m", "metric_condition", {"metricName": "total_spend_90d", "operator": "gte", "value": 100}
    )
    assert evaluate_rules([spenders], CARD, customer(metrics={"total_spend_90d": 250})).passed
    low = evaluate_rules([spenders], CARD, customer(metrics={"total_spend_90d": 40}))
    assert not low.passed
    assert low.results[0]["reason"] == "metric total_spend_90d 40 < 100"
    assert evaluate_rules([spenders], CARD, customer(metrics={})).passed
    by_id = rule(
        "m2", "metric_condition", {"metricId": "met_1", "metricName": "x", "operator": "lt", "value": 3}
    )
    assert not evaluate_rules([by_id], CARD, customer(metrics={"met_1": 5, "x": 1})).passed
    fee = rule(
        "f", "offer_attribute", {"attribute": "customFields.annual_fee", "operator": "lte", "value": 50}
    )
    outcome = evaluate_rules([fee], CARD, customer())
    assert not outcome.passed
    assert outcome.results[0]["reason"] == "customFields.annual_fee 95 > 50"
    owned = rule(
        "o",
        "offer_attribute",
        {"attribute": "productType", "operator": "neq", "customerAttribute": "owned_product"},
    )
    assert not evaluate_rules([owned], CARD, customer(attributes={"owned_product": "credit_card"})).passed
    assert evaluate_rules([owned], CARD, customer(attributes={"owned_product": "loan"})).passed


def test_stage_overrides_ranking_and_scope_filtering() -> None:
    soft_segment = rule(
        "s", "segment_required", {"requiredSegments": ["gold"], "multiplier": 0.3}, stage="suitability"
    )
    ranking = rule("k", "segment_required", {"requiredSegments": ["gold"]}, stage="ranking")
    fit = rule(
        "fit",
        "attribute_condition",
        {"attribute": "owns_card", "operator": "eq", "value": False},
        stage="fit",
    )
    paused = rule("x", "segment_required", {"requiredSegments": ["gold"]}, status="paused")
    other_offer = rule("y", "segment_required", {"requiredSegments": ["gold"]}, scope="offer", scope_id="o2")
    multi = rule(
        "z",
        "segment_required",
        {"requiredSegments": ["gold"]},
        scope="global",
        scopes=[{"scope": "offer", "scopeId": "o9"}, {"scope": "channel", "scopeId": "ch_sms"}],
    )
    outcome = evaluate_rules([soft_segment, ranking, paused, other_offer, multi], CARD, customer())
    assert outcome.passed
    assert outcome.fit_multiplier == 0.3
    assert [r["ruleId"] for r in outcome.results] == ["s", "k"]
    assert outcome.results[1]["stage"] == "ranking"
    assert outcome.results[1]["reason"].endswith("(ranking stage: not applied)")
    owns = evaluate_rules([fit], CARD, customer(attributes={"owns_card": True}))
    assert not owns.passed and owns.results[0]["stage"] == "fit"


def test_rule_from_dict_and_bad_configs() -> None:
    spec = RuleSpec.from_dict(
        {
            "id": "r9",
            "name": "Gold Tier Required",
            "ruleType": "segment_required",
            "scope": "segment",
            "scopeId": "seg_gold",
            "config": {"requiredSegments": ["gold", "platinum"]},
            "priority": 80,
        }
    )
    assert (spec.scope_id, spec.priority, spec.effective_stage, spec.status) == (
        "seg_gold",
        80,
        "eligibility",
        "active",
    )
    with pytest.raises(ValidationError):
        evaluate_rules([rule("bad", "attribute_condition", {"operator": "eq"})], CARD, customer())
    with pytest.raises(ValidationError):
        evaluate_rules(
            [rule("bad", "attribute_condition", {"attribute": "a", "operator": "~~"})],
            CARD,
            customer(attributes={"a": 1}),
        )
