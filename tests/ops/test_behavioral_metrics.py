"""Behavioral metrics: definitions, one-GROUP-BY computation equal to a hand count, upserts, rules."""

from __future__ import annotations

from collections import defaultdict
from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import select

from kaireon_mcp.core import metrics
from kaireon_mcp.errors import ConflictError, NotFoundError, ValidationError
from kaireon_mcp.storage.context import TenantContext
from kaireon_mcp.storage.tables import ContactPolicy, MetricValue, QualificationRule
from tests.ops.conftest import EVENTS, Call, Fixture

T1 = TenantContext(tenant_id="t1")


def hand_count(source: str, days: int | None) -> dict[str, float]:
    """Straight Python over the fixture list, the reference the SQL must match."""
    out: dict[str, float] = defaultdict(float)
    for cid, _, _, kind, cls, imp, value, age in EVENTS:
        if days is not None and age > timedelta(days=days):
            continue
        outcome = not imp and kind not in ("recommendation", "impression")
        if source == "impressions" and imp:
            out[cid] += 1
        elif source in ("positive", "negative", "neutral") and outcome and cls == source:
            out[cid] += 1
        elif source == "totalValue" and value is not None:
            out[cid] += value
    return dict(out)


async def _stored(fx: Fixture, metric_id: str) -> dict[str, float | None]:
    async with fx.db.tenant(T1) as repo:
        rows = await repo.session.execute(
            select(MetricValue.customer_id, MetricValue.value).where(MetricValue.metric_id == metric_id)
        )
        return dict(rows.all())


async def _create(fx: Fixture, **kw: Any) -> str:
    async with fx.db.tenant(T1) as repo:
        return str((await metrics.create_metric(repo, **kw))["id"])


async def _compute(
    fx: Fixture, metric_id: str | None = None, shift: timedelta = timedelta(0)
) -> dict[str, Any]:
    async with fx.db.tenant(T1) as repo:
        return await metrics.compute_metrics(repo, metric_id, now=fx.anchor + shift)


@pytest.mark.parametrize(
    ("source", "fn", "days"),
    [
        ("impressions", "count", 7),
        ("positive", "count", 7),
        ("negative", "sum", None),
        ("totalValue", "sum", None),
    ],
)
async def test_computed_values_equal_a_hand_count(
    fx: Fixture, source: str, fn: str, days: int | None
) -> None:
    metric_id = await _create(
        fx, name=f"{source}_{days}", aggregate_function=fn, source_field=source, window_days=days
    )
    result = await _compute(fx, metric_id)
    assert await _stored(fx, metric_id) == hand_count(source, days)
    assert result["metrics"][0]["customers"] == len(hand_count(source, days))


async def test_recompute_updates_and_zeroes_customers_that_left_the_window(fx: Fixture) -> None:
    metric_id = await _create(
        fx, name="imp7", aggregate_function="count", source_field="impressions", window_days=7
    )
    await _compute(fx, metric_id)
    assert await _stored(fx, metric_id) == {"C1": 2, "C2": 2}
    # 4.5 days later the window starts 2.5 days before the anchor: C2's 3-day-old impressions leave
    later = await _compute(fx, metric_id, shift=timedelta(days=4, hours=12))
    assert later["metrics"][0] == {
        "metricId": metric_id,
        "name": "imp7",
        "customers": 1,
        "inserted": 0,
        "updated": 1,
        "zeroed": 1,
        "removed": 0,
    }
    assert await _stored(fx, metric_id) == {"C1": 2, "C2": 0}


async def test_grouped_and_outcome_key_metrics(fx: Fixture) -> None:
    metric_id = await _create(
        fx,
        name="clicks_by_offer",
        aggregate_function="count",
        source_field="click",
        group_by_dimensions=["offerId"],
    )
    await _compute(fx, metric_id)
    o1, o2 = fx.offers["O1"], fx.offers["O2"]
    assert await _stored(fx, metric_id) == {
        f"C1|offerId={o1}": 1,
        f"C1|offerId={o2}": 1,
        f"C2|offerId={o2}": 1,
    }
    avg_id = await _create(fx, name="avg_conv", aggregate_function="avg", source_field="conversion")
    await _compute(fx, avg_id)
    assert await _stored(fx, avg_id) == {"C1": 10.0, "C3": 5.0}


async def test_filter_conditions_translate_to_sql(fx: Fixture) -> None:
    metric_id = await _create(
        fx,
        name="ch2_impressions",
        aggregate_function="count",
        source_field="impressions",
        filter_conditions={"and": [{"field": "channelId", "operator": "eq", "value": fx.channels["CH2"]}]},
    )
    await _compute(fx, metric_id)
    assert await _stored(fx, metric_id) == {"C1": 1, "C2": 1}
    with pytest.raises(ValidationError, match="filterConditions field"):
        await _create(
            fx,
            name="bad",
            aggregate_function="count",
            source_field="impressions",
            filter_conditions={"field": "customer_id", "operator": "eq", "value": 1},
        )


async def test_definition_rules(call: Call, live: Fixture) -> None:
    with pytest.raises(ValidationError, match="realtime"):
        await call(
            "createBehavioralMetric",
            {"name": "x", "aggregateFunction": "avg", "sourceField": "totalValue", "computeMode": "realtime"},
        )
    with pytest.raises(ValidationError, match="meaningless"):
        await call(
            "createBehavioralMetric", {"name": "x", "aggregateFunction": "max", "sourceField": "impressions"}
        )
    with pytest.raises(ValidationError, match="windowDays"):
        await call(
            "createBehavioralMetric",
            {"name": "x", "aggregateFunction": "count", "sourceField": "impressions", "windowDays": 400},
        )
    with pytest.raises(ValidationError, match="at most 2"):
        await call(
            "createBehavioralMetric",
            {
                "name": "x",
                "aggregateFunction": "count",
                "sourceField": "impressions",
                "groupByDimensions": ["offerId", "channelId", "creativeId"],
            },
        )
    for i in range(20):
        await call(
            "createBehavioralMetric",
            {"name": f"m{i}", "aggregateFunction": "count", "sourceField": "impressions"},
        )
    with pytest.raises(ConflictError, match="at most 20"):
        await call(
            "createBehavioralMetric",
            {"name": "m21", "aggregateFunction": "count", "sourceField": "impressions"},
        )
    listed = await call("listBehavioralMetrics", {"limit": 100})
    assert listed["pagination"]["total"] == 20


async def test_tools_compute_preview_and_list_value_counts(call: Call, live: Fixture) -> None:
    created = await call(
        "createBehavioralMetric",
        {
            "name": "positive_7d",
            "aggregateFunction": "count",
            "sourceField": "positive",
            "windowDays": 7,
            "sqlFilter": "1=1",
        },
    )
    assert created["warnings"] and created["valueCount"] == 0
    preview = await call("previewBehavioralMetric", {"metricId": created["id"]})
    assert preview["storedValues"] == 0 and preview["customers"] == 2
    assert (preview["min"], preview["max"], preview["avg"]) == (1, 3, 2)
    assert preview["sample"][0] == {"key": "C1", "customerId": "C1", "value": 3}
    computed = await call("computeBehavioralMetrics", {})
    assert computed["metrics"][0]["customers"] == 2
    listed = await call("listBehavioralMetrics")
    assert listed["items"][0]["valueCount"] == 2 and listed["items"][0]["lastComputedAt"]
    one = await call("previewBehavioralMetric", {"metricId": created["id"], "customerId": "C2"})
    assert one["sample"] == [{"key": "C2", "customerId": "C2", "value": 1}]
    with pytest.raises(NotFoundError):
        await call("computeBehavioralMetrics", {"metricId": created["id"]}, tenant="t2")


async def test_metric_rules_create_gates(call: Call, live: Fixture) -> None:
    metric = await call(
        "createBehavioralMetric",
        {"name": "complaints", "aggregateFunction": "count", "sourceField": "negative"},
    )
    rule = await call("createMetricRule", {"metricId": metric["id"], "operator": "lt", "value": 1})
    assert (
        rule["ruleType"] == "metric_condition"
        and rule["stage"] == "eligibility"
        and rule["name"] == "complaints lt 1"
    )
    assert rule["config"] == {
        "metricId": metric["id"],
        "metricName": "complaints",
        "operator": "lt",
        "value": 1,
    }
    policy = await call(
        "createMetricRule",
        {
            "metricId": metric["id"],
            "operator": "gte",
            "value": 2,
            "target": "contact_policy",
            "scope": "channel",
            "scopeId": live.channels["CH1"],
        },
    )
    assert policy["target"] == "contact_policy" and policy["scopeId"] == live.channels["CH1"]
    async with live.db.tenant(T1) as repo:
        assert await repo.count(QualificationRule) == 1 and await repo.count(ContactPolicy) == 1
    with pytest.raises(ValidationError, match="scopeId"):
        await call(
            "createMetricRule", {"metricId": metric["id"], "operator": "gt", "value": 0, "scope": "offer"}
        )
    with pytest.raises(ConflictError):
        await call("createMetricRule", {"metricId": metric["id"], "operator": "lt", "value": 1})
