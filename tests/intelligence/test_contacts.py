"""Frequency-cap simulation and suppression rates on 10 customers whose email counts are known."""

from __future__ import annotations

from datetime import timedelta

import pytest

from kaireon_mcp.core.contact_policy import window_bounds
from kaireon_mcp.core.intelligence.contacts import fatigue
from kaireon_mcp.errors import NotFoundError, ValidationError
from tests.intelligence.conftest import Fixture, this_week

#: email impressions this ISO week per customer (C01 has none at all)
EMAIL_THIS_WEEK = {
    "C01": 0,
    "C02": 1,
    "C03": 1,
    "C04": 2,
    "C05": 2,
    "C06": 2,
    "C07": 3,
    "C08": 3,
    "C09": 4,
    "C10": 5,
}


async def _ten_customers(fx: Fixture) -> Fixture:
    email = await fx.channel("Email", "email")
    push = await fx.channel("Push", "push")
    offer = await fx.offer("Promo")
    rows = []
    for customer, count in EMAIL_THIS_WEEK.items():
        rows += [
            {"customer": customer, "channel": email, "offer": offer, "when": this_week(fx.now, k, count)}
            for k in range(1, count + 1)
        ]
    # noise that must not count: other channels, last week, responses, recommendations
    rows += [{"customer": "C04", "channel": push, "offer": offer, "when": this_week(fx.now, 1, 2)}] * 3
    last_week = window_bounds("week", fx.now)[0] - timedelta(days=3)
    rows += [{"customer": "C02", "channel": email, "offer": offer, "when": last_week}] * 5
    rows += [
        {
            "customer": "C05",
            "channel": email,
            "offer": offer,
            "when": this_week(fx.now, 1, 2),
            "type": "click",
            "classification": "positive",
        }
    ]
    rows += [
        {
            "customer": "C03",
            "channel": email,
            "offer": offer,
            "when": this_week(fx.now, 1, 2),
            "type": "recommendation",
        }
    ] * 4
    await fx.history(rows)
    return fx


async def test_lowering_email_cap_3_to_2_suppresses_exactly_the_customers_at_2(fx: Fixture) -> None:
    await _ten_customers(fx)
    out = await fx.call(
        "simulateFrequencyCapChange",
        {"channel": "email", "currentCap": 3, "newCap": 2, "period": "week"},
    )
    assert out["channelId"] == "chn_Email"
    assert out["activeCustomers"] == 9
    assert out["blockedNow"] == 4  # C07..C10 (>= 3)
    assert out["blockedAfter"] == 7  # C04..C10 (>= 2)
    assert out["customersNewlySuppressed"] == 3
    assert out["sampleNewlySuppressed"] == ["C04", "C05", "C06"]
    assert out["customersUnlocked"] == 0 and out["sampleUnlocked"] == []
    assert out["fatigueRisk"] == "low"


async def test_raising_email_cap_3_to_4_unlocks_exactly_those_at_3(fx: Fixture) -> None:
    await _ten_customers(fx)
    out = await fx.call(
        "simulateFrequencyCapChange",
        {"channel": "Email", "currentCap": 3, "newCap": 4, "period": "week"},
    )
    assert out["customersUnlocked"] == 2 and out["sampleUnlocked"] == ["C07", "C08"]
    assert out["blockedNow"] == 4 and out["blockedAfter"] == 2
    assert out["customersNewlySuppressed"] == 0
    assert out["fatigueRisk"] in {"medium", "high"}
    # history: this week's 9 customer-weeks plus C02's 5 emails last week
    levels = {lv["impressions"]: lv["customerPeriods"] for lv in out["frequencyResponse"]}
    assert levels == {1: 2, 2: 3, 3: 2, 4: 1, 5: 2}
    assert out["history"]["atCurrentCap"] == 5 and out["history"]["atNewCap"] == 3
    assert out["history"]["impressionsAboveNewCap"] == 1 + 1  # C10's 5th email, C02's 5th last week


async def test_cap_simulation_errors(fx: Fixture) -> None:
    await _ten_customers(fx)
    with pytest.raises(NotFoundError) as err:
        await fx.call(
            "simulateFrequencyCapChange",
            {"channel": "fax", "currentCap": 3, "newCap": 2, "period": "week"},
        )
    assert err.value.field == "channel" and "fax" in err.value.message
    with pytest.raises(ValidationError):
        await fx.call(
            "simulateFrequencyCapChange",
            {"channel": "email", "currentCap": 3, "newCap": -1, "period": "week"},
        )
    with pytest.raises(ValidationError):
        await fx.call(
            "simulateFrequencyCapChange",
            {"channel": "email", "currentCap": 3, "newCap": 2, "period": "year"},
        )


async def test_weekly_email_cap_suppression_rate_per_week(fx: Fixture) -> None:
    await _ten_customers(fx)
    await fx.policy(
        "Email 3 per week", "frequency_cap", {"maxPerWeek": 3}, scope="channel", scope_id="chn_Email"
    )
    out = await fx.call("analyzeContactPolicySuppression", {"period": "week"})
    [row] = [p for p in out["policies"] if p["policyName"] == "Email 3 per week"]
    this_monday = window_bounds("week", fx.now)[0].strftime("%Y-%m-%d")
    series = {s["periodStart"]: (s["customers"], s["capped"]) for s in row["series"]}
    assert series[this_monday] == (9, 4)  # C02..C10 emailed, C07..C10 at >= 3
    assert (
        sum(c for c, _ in series.values()) == 10 and sum(k for _, k in series.values()) == 5
    )  # + C02 last week
    assert row["customerPeriods"] == 10 and row["cappedPeriods"] == 5 and row["rate"] == 50.0
    assert row["currentlySuppressed"] == 4 and row["channel"] == "Email"
    assert out["byRuleType"][0]["ruleType"] == "frequency_cap"
    assert out["topPolicies"][0]["policyName"] == "Email 3 per week"
    assert out["totals"]["rate"] == 50.0


async def test_weekly_cap_read_per_day_counts_days_once_the_week_reaches_the_cap(fx: Fixture) -> None:
    email = await fx.channel("Email", "email")
    await fx.policy("Email 3 per week", "frequency_cap", {"maxPerWeek": 3}, scope="channel", scope_id=email)
    monday = window_bounds("week", fx.now)[0] - timedelta(days=7)  # last week: all days complete
    days = [monday + timedelta(days=d, hours=10) for d in (0, 1, 2, 3)]
    # one email a day Mon-Thu: the cap is reached on Wednesday, so Wed and Thu are capped days
    await fx.history([{"customer": "A", "channel": email, "when": d} for d in days])
    out = await fx.call("analyzeContactPolicySuppression", {"period": "day", "channel": "email"})
    [row] = out["policies"]
    capped = {s["periodStart"]: s["capped"] for s in row["series"]}
    assert capped == {d.strftime("%Y-%m-%d"): int(i >= 2) for i, d in enumerate(days)}


def test_fatigue_risk_reads_negatives_above_the_cap() -> None:
    calm = [
        {"impressions": 1, "customerPeriods": 10, "positives": 1, "negatives": 1},
        {"impressions": 3, "customerPeriods": 10, "positives": 3, "negatives": 3},
    ]
    tired = [
        {"impressions": 1, "customerPeriods": 10, "positives": 1, "negatives": 1},
        {"impressions": 3, "customerPeriods": 10, "positives": 3, "negatives": 9},
    ]
    assert fatigue(calm, 3, 2)[0] == "low"
    assert fatigue(calm, 3, 4)[0] == "medium"
    assert fatigue(tired, 3, 4)[0] == "high"
    assert fatigue(calm, 3, 6)[0] == "high"  # doubling the cap
    assert fatigue([], 3, 4)[0] == "medium"


async def test_daily_cap_read_per_week_counts_a_customer_once_per_capped_week(fx: Fixture) -> None:
    email = await fx.channel("Email", "email")
    await fx.policy("Email 2 per day", "frequency_cap", {"maxPerDay": 2}, scope="channel", scope_id=email)
    monday = window_bounds("week", fx.now)[0] - timedelta(days=7)
    rows = [{"customer": "A", "channel": email, "when": monday + timedelta(hours=h)} for h in (8, 9, 32, 33)]
    rows += [
        {"customer": "B", "channel": email, "when": monday + timedelta(days=d, hours=9)} for d in range(3)
    ]
    await fx.history(rows)  # A hits 2/day on Monday and Tuesday, B never
    out = await fx.call("analyzeContactPolicySuppression", {"period": "week"})
    [row] = out["policies"]
    assert row["series"] == [
        {"periodStart": monday.strftime("%Y-%m-%d"), "customers": 2, "capped": 1, "rate": 50.0}
    ]
