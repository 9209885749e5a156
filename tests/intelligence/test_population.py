"""Qualification funnel and rule-change simulation over 10 customers whose verdicts are counted by hand."""

from __future__ import annotations

import pytest

from kaireon_mcp.errors import NotFoundError, ValidationError
from tests.intelligence.conftest import Fixture

#: (age, income): Adult (age >= 18) drops A01, A02; Income (>= 50k) then drops A03..A07
CUSTOMERS = {
    "A01": (16, 60000),
    "A02": (17, 20000),
    "A03": (30, 20000),
    "A04": (30, 30000),
    "A05": (30, 42000),
    "A06": (30, 45000),
    "A07": (30, 48000),
    "A08": (30, 50000),
    "A09": (40, 80000),
    "A10": (50, 90000),
}


async def _population(fx: Fixture) -> Fixture:
    await fx.channel("Email", "email")
    await fx.offer("Promo")
    gold = await fx.offer("Gold")
    await fx.customers({k: {"age": a, "income": i} for k, (a, i) in CUSTOMERS.items()})
    await fx.rule(
        "Adult",
        "attribute_condition",
        {"attribute": "customer.age", "operator": "gte", "value": 18},
        priority=90,
    )
    await fx.rule(
        "Income 50k",
        "attribute_condition",
        {"attribute": "customer.income", "operator": "gte", "value": 50000},
        priority=80,
    )
    await fx.rule(
        "Gold needs 85k",
        "attribute_condition",
        {"attribute": "income", "operator": ">=", "value": 85000},
        priority=70,
        scope="offer",
        scope_id=gold,
    )
    return fx


async def test_funnel_bottleneck_is_the_rule_that_drops_most(fx: Fixture) -> None:
    await _population(fx)
    out = await fx.call("analyzeQualificationFunnel")
    assert out["customersEvaluated"] == 10 and out["totalCustomers"] == 10 and out["sampled"] is False
    assert out["candidatePairs"] == 20 and out["qualifiedPairs"] == 4 and out["customersWithOffer"] == 3
    rules = {r["ruleName"]: r for r in out["rules"]}
    assert (rules["Adult"]["evaluated"], rules["Adult"]["drops"]) == (20, 4)
    assert (rules["Income 50k"]["evaluated"], rules["Income 50k"]["drops"]) == (16, 10)
    assert (rules["Gold needs 85k"]["evaluated"], rules["Gold needs 85k"]["drops"]) == (3, 2)
    assert out["bottleneck"]["ruleName"] == "Income 50k"
    assert out["bottleneck"]["shareOfDrops"] == 62.5  # 10 of 16 drops
    offers = {o["offerName"]: o for o in out["offers"]}
    assert offers["Promo"]["eligible"] == 3 and offers["Gold"]["eligible"] == 1
    assert offers["Gold"]["topBlockingRule"] == "Income 50k"
    assert out["insights"][0].startswith("Bottleneck: 'Income 50k'")


async def test_funnel_sample_and_unknown_flow(fx: Fixture) -> None:
    await _population(fx)
    out = await fx.call("analyzeQualificationFunnel", {"sampleSize": 4})
    assert out["customersEvaluated"] == 4 and out["sampled"] is True and out["totalCustomers"] == 10
    with pytest.raises(NotFoundError) as err:
        await fx.call("analyzeQualificationFunnel", {"decisionFlowKey": "nope"})
    assert err.value.field == "decisionFlowKey"


@pytest.mark.parametrize("field", ["value", "customer.income"])
async def test_lowering_income_threshold_reaches_exactly_the_customers_in_between(
    fx: Fixture, field: str
) -> None:
    await _population(fx)
    change = {"field": field, "oldValue": 50000, "newValue": 45000}
    out = await fx.call("simulateRuleChange", {"ruleId": "qr_Income 50k", "proposedChange": change})
    assert out["change"] == f"{field}: 50000 -> 45000" and out["warnings"] == []
    assert out["after"]["config"]["value"] == 45000
    assert out["customersEvaluated"] == 10
    assert out["reachBefore"] == 4 and out["reachAfter"] == 6  # A01, A08-A10 (+ A06, A07)
    assert out["affectedCustomers"] == 2 and out["sampleCustomers"]["affected"] == ["A06", "A07"]
    assert out["pairsGained"] == 2 and out["pairsLost"] == 0  # Promo only: Gold still needs 85k
    assert out["customersGainingFirstOffer"] == 2 and out["customersLosingLastOffer"] == 0
    assert out["reachDeltaPct"] == 50.0


async def test_rule_change_errors_and_warnings(fx: Fixture) -> None:
    await _population(fx)
    stale = await fx.call(
        "simulateRuleChange",
        {"ruleId": "qr_Adult", "proposedChange": {"field": "value", "oldValue": 21, "newValue": 16}},
    )
    assert stale["warnings"] and stale["reachAfter"] == 10 and stale["pairsGained"] == 1  # A01 Promo
    with pytest.raises(NotFoundError) as err:
        await fx.call("simulateRuleChange", {"ruleId": "qr_nope", "proposedChange": {"field": "value"}})
    assert err.value.field == "ruleId" and "qr_nope" in err.value.message
    with pytest.raises(ValidationError) as bad:
        await fx.call(
            "simulateRuleChange",
            {"ruleId": "qr_Adult", "proposedChange": {"field": "customer.height", "newValue": 1}},
        )
    assert bad.value.field == "proposedChange.field"


async def test_structural_change_reruns_the_whole_rule_set(fx: Fixture) -> None:
    await _population(fx)
    change = {"field": "stage", "oldValue": None, "newValue": "match"}
    out = await fx.call("simulateRuleChange", {"ruleId": "qr_Income 50k", "proposedChange": change})
    assert out["after"]["stage"] == "match"
    assert out["pairsGained"] == 5 and out["pairsLost"] == 0  # A03-A07 now get Promo; Gold still needs 85k
    assert out["customersGainingFirstOffer"] == 5
