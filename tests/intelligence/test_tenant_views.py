"""Offer performance, policy conflicts, the cached health check, cross-module insights and empty tenants."""

from __future__ import annotations

import os
from typing import Any

import pytest

from kaireon_mcp.core.intelligence.health import HealthCache, cache_key
from kaireon_mcp.storage.tables import AlgorithmModel, DecisionFlow, DecisionFlowVersion, Experiment, Offer
from tests.intelligence.conftest import Fixture

REDIS_URL = os.environ.get("KAIREON_TEST_REDIS_URL")


def _rows(
    fx: Fixture, offer: str, days: float, imps: int, clicks: int = 0, convs: int = 0
) -> list[dict[str, Any]]:
    when = fx.ago(days=days)
    rows = [{"customer": f"K{i % 7}", "offer": offer, "when": when} for i in range(imps)]
    rows += [
        {"customer": "K1", "offer": offer, "when": when, "type": "click", "classification": "positive"}
    ] * clicks
    rows += [
        {
            "customer": "K2",
            "offer": offer,
            "when": when,
            "type": "conversion",
            "classification": "positive",
            "value": 10.0,
        }
    ] * convs
    return rows


async def _performance(fx: Fixture) -> dict[str, str]:
    await fx.channel("Web", "web")
    a, b = await fx.offer("A"), await fx.offer("B")
    rows = _rows(fx, a, 2, 40, 8, 2) + _rows(fx, a, 9, 20, 2) + _rows(fx, b, 2, 30) + _rows(fx, b, 9, 30)
    await fx.history(rows)
    return {"A": a, "B": b}


async def test_offer_performance_kpis_trend_and_insights(fx: Fixture) -> None:
    await _performance(fx)
    out = await fx.call("analyzeOfferPerformance", {"period": "week"})
    offers = {o["offerName"]: o for o in out["offers"]}
    a = offers["A"]
    assert (a["impressions"], a["clicks"], a["conversions"], a["revenue"]) == (40, 8, 2, 20.0)
    assert a["ctr"] == 20.0 and a["cvr"] == 5.0
    assert a["previous"]["impressions"] == 20 and a["previous"]["ctr"] == 10.0
    assert a["trend"] == {"impressions": 100.0, "ctr": 100.0, "cvr": None, "revenue": None}
    assert offers["B"]["trend"]["impressions"] == 0.0
    assert out["totals"]["impressions"] == 70 and out["totals"]["cvr"] == round(100 * 2 / 70, 2)
    assert out["topPerformers"][0] == "A" and out["bottomPerformers"][0] == "B"
    kinds = {(i["type"], i["offerName"]) for i in out["insights"]}
    assert ("top_performer", "A") in kinds and ("zero_conversions", "B") in kinds
    limited = await fx.call("analyzeOfferPerformance", {"period": "week", "limit": 1})
    assert [o["offerName"] for o in limited["offers"]] == ["A"]


async def test_cross_module_finds_the_three_correlations(fx: Fixture) -> None:
    ids = await _performance(fx)
    c = await fx.offer("C")
    await fx.history(_rows(fx, c, 3, 100))
    await fx.policy(
        "A pause",
        "outcome_based",
        {"afterOutcome": "conversion", "suppressForDays": 7},
        scope="offer",
        scope_id=ids["A"],
    )
    async with fx.db.tenant(fx.ctx) as repo:
        await repo.create(
            AlgorithmModel,
            {
                "id": "mdl_coin",
                "key": "coin",
                "name": "Coin",
                "model_type": "scorecard",
                "status": "active",
                "metrics": {"auc": 0.5},
            },
        )
        flow = await repo.create(DecisionFlow, {"key": "live", "name": "Live", "status": "active"})
        await repo.create(
            DecisionFlowVersion,
            {
                "flow_id": flow.id,
                "version": 1,
                "config_snapshot": {
                    "nodes": [
                        {"id": "s", "type": "score", "config": {"method": "propensity", "modelKey": "coin"}}
                    ]
                },
            },
        )
    out = await fx.call("analyzeCrossModule")
    types = {i["type"]: i for i in out["insights"]}
    assert set(types) == {"low_auc_model_in_active_flow", "policy_blocks_top_offer", "zero_cvr_high_spend"}
    assert out["insights"][0]["type"] == "low_auc_model_in_active_flow"
    assert types["low_auc_model_in_active_flow"]["severity"] == "critical"
    assert types["low_auc_model_in_active_flow"]["action"]["href"] == "/algorithms/models/mdl_coin"
    blocks = types["policy_blocks_top_offer"]
    assert {e["type"] for e in blocks["entities"]} == {"offer", "contactPolicy"}
    assert blocks["action"] == {
        "label": "Review Policy",
        "type": "navigate",
        "href": "/studio/contact-policies",
    }
    zero = types["zero_cvr_high_spend"]
    assert zero["entities"][0]["id"] == c and zero["action"]["type"] == "api"
    assert zero["action"]["body"] == {"id": c, "status": "paused"}
    assert out["summary"] == {"total": 3, "critical": 1, "warning": 2}


async def test_policy_conflicts(fx: Fixture) -> None:
    async with fx.db.tenant(fx.ctx) as repo:
        await repo.create(Offer, {"id": "off_bare", "name": "Bare", "status": "active"})
    email = await fx.channel("Email", "email")
    await fx.offer("Must", mandatory=True)
    await fx.policy("Global 3/day", "frequency_cap", {"maxPerDay": 3}, priority=80)
    await fx.policy(
        "Email 5/day", "frequency_cap", {"maxPerDay": 5}, scope="channel", scope_id=email, priority=70
    )
    await fx.policy("Quiet", "cooldown", {"cooldownHours": 4}, priority=70, scope="channel", scope_id=email)
    await fx.rule("Age >= 30", "attribute_condition", {"attribute": "age", "operator": "gte", "value": 30})
    await fx.rule(
        "Age < 25", "attribute_condition", {"attribute": "customer.age", "operator": "lt", "value": 25}
    )
    async with fx.db.tenant(fx.ctx) as repo:
        await repo.create(
            AlgorithmModel,
            {
                "id": "mdl_old",
                "key": "old",
                "name": "Old",
                "model_type": "scorecard",
                "status": "active",
                "registry_status": "archived",
            },
        )
        await repo.create(
            Experiment,
            {
                "key": "exp",
                "name": "Exp",
                "status": "running",
                "champion_model_id": "mdl_old",
                "traffic_split": {"championPct": 70},
                "challengers": [],
            },
        )
    out = await fx.call("analyzePolicyConflicts")
    found = {(c["type"], c["title"]) for c in out["conflicts"]}
    assert ("shadowed_cap", "'Email 5/day' is shadowed by 'Global 3/day'") in found
    assert ("contradiction", "'Age >= 30' contradicts 'Age < 25'") in found
    assert ("policy_blocks_mandatory", "'Global 3/day' can block mandatory offer 'Must'") in found
    assert ("priority_tie", "'Email 5/day' and 'Quiet' share priority 70") in found
    assert ("offer_without_creative", "'Bare' has no active creative") in found
    assert ("experiment_split", "'Exp' splits to 70%") in found
    assert ("experiment_archived_model", "'Exp' routes traffic to a archived model") in found
    assert out["conflicts"][0]["severity"] == "critical"
    assert out["summary"]["total"] == len(out["conflicts"]) and out["summary"]["critical"] == 2


async def test_health_check_is_cached_for_five_minutes(fx: Fixture) -> None:
    await _performance(fx)
    first = await fx.call("runHealthCheck")
    assert first["cached"] is False and {c["name"] for c in first["checks"]} >= {
        "models",
        "conflicts",
        "budget",
        "suppression",
        "stale_entities",
        "experiments",
        "data_freshness",
    }
    second = await fx.call("runHealthCheck")
    assert second["cached"] is True and second["checkedAt"] == first["checkedAt"]
    now = [0.0]
    cache = HealthCache(clock=lambda: now[0])
    await cache.put("t", {"x": 1}, None)
    now[0] = 299.0
    assert await cache.get("t", None) == {"x": 1}
    now[0] = 301.0
    assert await cache.get("t", None) is None
    dead = HealthCache()
    await dead.put("t", {"x": 2}, "redis://127.0.0.1:1/0")  # unreachable Redis: falls back to memory
    assert await dead.get("t", "redis://127.0.0.1:1/0") == {"x": 2}


@pytest.mark.skipif(not REDIS_URL, reason="KAIREON_TEST_REDIS_URL not set")
async def test_health_cache_shared_through_redis() -> None:
    import redis.asyncio as redis_asyncio

    assert REDIS_URL
    client = redis_asyncio.from_url(REDIS_URL)
    await client.delete(cache_key("t_redis"))
    await HealthCache().put("t_redis", {"status": "healthy"}, REDIS_URL)
    assert await HealthCache().get("t_redis", REDIS_URL) == {"status": "healthy"}  # another replica
    assert 0 < await client.ttl(cache_key("t_redis")) <= 300
    await client.delete(cache_key("t_redis"))
    await client.aclose()


TENANT_TOOLS: list[tuple[str, dict[str, Any]]] = [
    ("runHealthCheck", {}),
    ("analyzeCrossModule", {}),
    ("analyzePolicyConflicts", {}),
    ("analyzeOfferPerformance", {}),
    ("analyzeContactPolicySuppression", {}),
    ("analyzeQualificationFunnel", {}),
]


@pytest.mark.parametrize(("tool", "args"), TENANT_TOOLS)
async def test_empty_tenant_gets_empty_results_and_a_hint(
    fx: Fixture, tool: str, args: dict[str, Any]
) -> None:
    out = await fx.call(tool, args)
    assert out["hint"], f"{tool} gave no hint on an empty tenant"
    for key in ("insights", "conflicts", "offers", "policies", "rules"):
        assert not out.get(key), f"{tool}.{key} should be empty"


async def test_empty_tenant_customer_and_model_tools_say_not_found(fx: Fixture) -> None:
    from kaireon_mcp.errors import NotFoundError

    calls: list[tuple[str, dict[str, Any]]] = [
        ("explainDecision", {"customerId": "X"}),
        ("listCustomerSuppressions", {"customerId": "X"}),
        ("traceCustomerJourney", {"customerId": "X"}),
        ("compareOfferEligibility", {"customerId": "X", "offerIds": ["a", "b"]}),
        ("analyzeModelHealth", {"modelId": "m"}),
        ("explainModelScoring", {"modelId": "m", "customerId": "X"}),
    ]
    for tool, args in calls:
        with pytest.raises(NotFoundError):
            await fx.call(tool, args)
    with pytest.raises(NotFoundError):
        await fx.call(
            "simulateFrequencyCapChange",
            {"channel": "email", "currentCap": 3, "newCap": 2, "period": "week"},
        )
