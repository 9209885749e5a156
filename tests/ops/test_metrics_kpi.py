"""queryMetric and alerts against hand-counted values of the ops fixture."""

from __future__ import annotations

from datetime import timedelta

import pytest

from kaireon_mcp.core import operations as ops
from kaireon_mcp.errors import ValidationError
from kaireon_mcp.storage.context import TenantContext
from kaireon_mcp.storage.tables import DecisionTrace
from tests.ops.conftest import ANCHOR, Call, Fixture


async def _query(fx: Fixture, metric: str, period: str = "week", group_by: str = "none", **kw: str) -> dict:
    async with fx.db.tenant(TenantContext(tenant_id="t1")) as repo:
        return await ops.query_metric(repo, metric, period, group_by, now=fx.anchor, **kw)


@pytest.mark.parametrize(
    ("metric", "week", "month"),
    [
        ("impressions", 4, 5),
        ("clicks", 3, 3),
        ("conversions", 1, 2),
        ("revenue", 10, 15),
        ("ctr", 0.75, 0.6),  # clicks / impressions: 3/4, 3/5
        ("cvr", 0.333333, 0.666667),  # conversions / clicks: 1/3, 2/3
        ("acceptance_rate", 1.0, 1.0),  # positive outcomes / impressions: 4/4, 5/5
        ("decision_count", 4, 5),
        ("selection_frequency", 0.75, 0.6),  # 3/4, 3/5
        ("degraded_scoring_rate", 0.25, 0.2),
        ("latency_p99", 400, 1000),  # nearest rank: ceil(0.99 n)-th smallest
    ],
)
async def test_kpis_equal_hand_counts(fx: Fixture, metric: str, week: float, month: float) -> None:
    assert (await _query(fx, metric))["value"] == pytest.approx(week)
    assert (await _query(fx, metric, "month"))["value"] == pytest.approx(month)


async def test_daily_series_and_groups(fx: Fixture) -> None:
    out = await _query(fx, "impressions")
    assert out["from"] == "2026-03-03T12:00:00Z" and out["to"] == "2026-03-10T12:00:00Z"
    series = {p["date"]: p["value"] for p in out["series"]}
    assert len(series) == 8
    picked = {d: series[d] for d in ("2026-03-10", "2026-03-08", "2026-03-07", "2026-03-05")}
    assert picked == {"2026-03-10": 1, "2026-03-08": 1, "2026-03-07": 2, "2026-03-05": 0}
    ctr = await _query(fx, "ctr", group_by="offer")
    assert [(g["name"], g["value"]) for g in ctr["groups"]] == [("Offer O2", 1.0), ("Offer O1", 0.5)]
    assert {p["date"]: p["value"] for p in ctr["series"]}["2026-03-05"] is None  # no impressions: undefined
    by_channel = await _query(fx, "ctr", group_by="channel", offer_id=fx.offers["O1"])
    assert [(g["name"], g["value"]) for g in by_channel["groups"]] == [("Channel CH1", 0.5)]
    latency = await _query(fx, "latency_p99", group_by="channel")
    assert latency["groups"] == [{"id": fx.channels["CH1"], "name": "Channel CH1", "value": 400}]


async def test_p99_over_a_hundred_traces(fx: Fixture) -> None:
    async with fx.db.tenant(TenantContext(tenant_id="t2")) as repo:
        for ms in range(1, 101):
            repo.session.add(
                DecisionTrace(
                    id=f"p99_{ms}",
                    tenant_id="t2",
                    customer_id="C",
                    request_id="r",
                    total_duration_ms=float(ms),
                    created_at=ANCHOR - timedelta(minutes=ms),
                )
            )
    async with fx.db.tenant(TenantContext(tenant_id="t2")) as repo:
        out = await ops.query_metric(repo, "latency_p99", "day", now=ANCHOR)
    assert out["value"] == 99


async def test_trace_metrics_refuse_offer_dimensions(fx: Fixture) -> None:
    with pytest.raises(ValidationError, match="no offer dimension"):
        await _query(fx, "latency_p99", group_by="offer")
    with pytest.raises(ValidationError, match="unknown metric"):
        await _query(fx, "error_rate")


async def test_query_metric_tool_and_tenant_isolation(live: Fixture, call: Call) -> None:
    out = await call("queryMetric", {"metric": "ctr"})
    assert out["value"] == 0.75 and out["unit"] == "ratio" and out["definition"] == "clicks / impressions"
    other = await call("queryMetric", {"metric": "impressions", "period": "month"}, tenant="t2")
    assert other["value"] == 0


async def test_alerts_report_firing_with_the_same_metric_function(live: Fixture, call: Call) -> None:
    hook = [{"type": "webhook", "target": "http://127.0.0.1:9/hook"}]
    high = await call(
        "createAlertRule",
        {
            "name": "ctr high",
            "metric": "ctr",
            "operator": "gt",
            "threshold": 0.5,
            "channels": hook,
            "windowMinutes": 60,
        },
    )
    assert high["state"] == "firing" and high["currentValue"] == 1.0  # last hour: 1 impression, 1 click
    await call(
        "createAlertRule",
        {
            "name": "slow",
            "metric": "latency_p99",
            "operator": "gt",
            "threshold": 500,
            "channels": hook,
            "windowMinutes": 300,
        },
    )
    alerts = await call("listAlerts")
    states = {a["name"]: (a["state"], a["currentValue"]) for a in alerts["items"]}
    assert states == {"ctr high": ("firing", 1.0), "slow": ("ok", 400)}
    firing = await call("listAlerts", {"status": "firing"})
    assert [a["name"] for a in firing["items"]] == ["ctr high"]
    with pytest.raises(ValidationError, match="channels"):
        await call(
            "createAlertRule",
            {"name": "x", "metric": "ctr", "operator": "gt", "threshold": 1, "channels": [{"type": "sms"}]},
        )
    with pytest.raises(ValidationError, match="metric"):
        await call(
            "createAlertRule",
            {"name": "x", "metric": "nope", "operator": "gt", "threshold": 1, "channels": hook},
        )
    assert (await call("listAlerts", {}, tenant="t2"))["items"] == []
