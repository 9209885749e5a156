"""Contact policies: window arithmetic, the 13 rule types, overrides and mandatory bypass.

Reference clock: Wednesday 2026-11-25 12:00 UTC; that ISO week began Monday 2026-11-23.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import pytest

from kaireon_mcp.core.contact_policy import (
    ContactEvent,
    ContactLedger,
    PolicySpec,
    cap_windows,
    count_in_window,
    evaluate_policies,
    window_bounds,
)
from kaireon_mcp.core.qualification import CandidateView, CustomerContext
from kaireon_mcp.errors import ValidationError

NOW = datetime(2026, 11, 25, 12, 0, tzinfo=UTC)
WEEK_START = datetime(2026, 11, 23, tzinfo=UTC)
EMAIL = CandidateView(
    offer_id="o1",
    category_id="cat1",
    sub_category_id="sub1",
    creative_id="cr1",
    channel_id="ch_email",
    placement_id="pl1",
    channel_type="email",
)
NOBODY = CustomerContext(customer_id="c1")


def email(at: datetime, offer: str = "o1", outcome: str = "impression", **kw: object) -> ContactEvent:
    fields: dict[str, object] = {"offer_id": offer, "channel_id": "ch_email", "channel_type": "email"}
    fields.update(kw)
    return ContactEvent(timestamp=at, outcome=outcome, **fields)  # type: ignore[arg-type]


def sms(at: datetime, offer: str = "o1") -> ContactEvent:
    return ContactEvent(timestamp=at, offer_id=offer, channel_id="ch_sms", channel_type="sms")


def policy(rule_type: str, config: dict[str, object], **kw: object) -> PolicySpec:
    kw.setdefault("scope", "global")
    return PolicySpec(id=f"p_{rule_type}", name=rule_type, rule_type=rule_type, config=config, **kw)  # type: ignore[arg-type]


def run(
    policies: list[PolicySpec],
    events: list[ContactEvent] = (),  # type: ignore[assignment]
    candidate: CandidateView = EMAIL,
    customer: CustomerContext = NOBODY,
    now: datetime = NOW,
    selected: tuple[str, ...] = (),
):  # type: ignore[no-untyped-def]
    return evaluate_policies(policies, candidate, ContactLedger(events), customer, now, selected)


# --- windows and counting -------------------------------------------------------------------


def test_window_bounds_calendar_periods() -> None:
    assert window_bounds("day", NOW) == (
        datetime(2026, 11, 25, tzinfo=UTC),
        datetime(2026, 11, 26, tzinfo=UTC),
    )
    assert window_bounds("week", NOW) == (WEEK_START, datetime(2026, 11, 30, tzinfo=UTC))
    sunday_night = datetime(2026, 11, 29, 23, 59, tzinfo=UTC)
    assert window_bounds("weekly", sunday_night)[0] == WEEK_START
    assert window_bounds("month", NOW) == (
        datetime(2026, 11, 1, tzinfo=UTC),
        datetime(2026, 12, 1, tzinfo=UTC),
    )
    assert window_bounds("month", datetime(2026, 12, 31, 23, tzinfo=UTC))[1] == datetime(
        2027, 1, 1, tzinfo=UTC
    )
    paris_morning = datetime(2026, 11, 26, 0, 30, tzinfo=timezone(timedelta(hours=1)))  # = 25th 23:30 UTC
    assert window_bounds("day", paris_morning)[0] == datetime(2026, 11, 25, tzinfo=UTC)
    with pytest.raises(ValidationError):
        window_bounds("fortnight", NOW)


def test_only_impressions_count_and_windows_are_bisected() -> None:
    ledger = ContactLedger(
        [
            email(NOW - timedelta(hours=1)),
            email(NOW - timedelta(hours=2), outcome="recommendation", is_impression=True),  # never counts
            email(NOW - timedelta(hours=3), outcome="click"),
            email(NOW - timedelta(days=3), outcome="delivery"),
            email(NOW - timedelta(days=1), outcome="custom_shown", is_impression=True),
            sms(NOW - timedelta(minutes=5)),
        ]
    )
    assert len(ledger.impressions) == 4
    assert count_in_window(ledger, None, "day", NOW) == 2
    assert count_in_window(ledger, lambda e: e.channel_type == "email", "week", NOW) == 2
    assert count_in_window(ledger, None, "day", NOW, impressions_only=False) == 4
    assert count_in_window(ledger, None, timedelta(hours=24), NOW) == 2  # exactly 24h old is outside
    assert count_in_window(ledger, None, timedelta(hours=24, minutes=1), NOW) == 3
    assert count_in_window(ledger, None, (NOW - timedelta(days=4), NOW - timedelta(days=2)), NOW) == 1
    assert [e.timestamp for e in ledger.events] == sorted(e.timestamp for e in ledger.events)


def test_naive_timestamps_are_utc() -> None:
    event = ContactEvent(timestamp=datetime(2026, 11, 25, 8, 0))
    assert event.timestamp == datetime(2026, 11, 25, 8, 0, tzinfo=UTC)
    assert event.is_impression is True


def test_cap_windows_parsing() -> None:
    labels = [(w.limit, w.label) for w in cap_windows({"maxPerDay": 3, "maxPerWeek": 10, "maxPerMonth": 30})]
    assert labels == [(3, "day"), (10, "week"), (30, "month")]
    assert [(w.limit, w.label) for w in cap_windows({"maxContacts": 2, "windowDays": 7})] == [(2, "7d")]
    assert [(w.limit, w.label) for w in cap_windows({"maxPerDay": 3, "lookbackHours": 12})] == [(3, "12h")]
    assert [(w.limit, w.label) for w in cap_windows({"maxContactsPerWeek": 3})] == [(3, "week")]
    assert cap_windows({}) == []
    with pytest.raises(ValidationError):
        cap_windows({"maxPerDay": -1})


# --- frequency_cap --------------------------------------------------------------------------

EMAIL_3_PER_WEEK = policy("frequency_cap", {"maxPerWeek": 3}, scope="channel", scope_id="email")


def test_weekly_email_cap_allows_third_and_blocks_fourth() -> None:
    two = [email(WEEK_START + timedelta(hours=10)), email(NOW - timedelta(hours=1), offer="o7")]
    allowed = run([EMAIL_3_PER_WEEK], two)
    assert not allowed.blocked
    assert allowed.results[0]["detail"]["count"] == 2
    blocked = run([EMAIL_3_PER_WEEK], [*two, email(NOW - timedelta(minutes=1))])
    assert blocked.blocked
    assert blocked.blocking_policy is EMAIL_3_PER_WEEK
    assert blocked.results[0]["reason"] == "frequency_cap exceeded: 3/week at scope=channel (email)"
    assert blocked.results[0]["detail"] == {
        "count": 3,
        "limit": 3,
        "window": "week",
        "resetsAt": "2026-11-30T00:00:00+00:00",
    }


def test_sunday_2359_is_last_week() -> None:
    events = [
        email(datetime(2026, 11, 22, 23, 59, tzinfo=UTC)),
        email(WEEK_START),  # Monday 00:00 counts
        email(NOW - timedelta(hours=1)),
    ]
    outcome = run([EMAIL_3_PER_WEEK], events)
    assert not outcome.blocked
    assert outcome.results[0]["detail"]["count"] == 2


def test_channel_scope_counts_only_that_channel_and_matches_by_id() -> None:
    by_id = policy("frequency_cap", {"maxPerDay": 1}, scope="channel", scope_id="ch_email")
    assert not run([by_id], [sms(NOW - timedelta(hours=1))]).blocked
    assert run([by_id], [email(NOW - timedelta(hours=1))]).blocked
    sms_candidate = CandidateView(offer_id="o1", channel_id="ch_sms", channel_type="sms")
    outcome = run([by_id], [email(NOW - timedelta(hours=1))], candidate=sms_candidate)
    assert not outcome.blocked and outcome.results == []  # policy not in scope for SMS


def test_global_daily_cap_and_monthly_cap() -> None:
    daily = policy("frequency_cap", {"maxPerDay": 3})
    today = [email(NOW - timedelta(hours=h), offer=f"o{h}") for h in (1, 2, 3)]
    outcome = run([daily], today)
    assert outcome.results[0]["reason"] == "frequency_cap exceeded: 3/day at scope=global"
    assert outcome.results[0]["detail"]["resetsAt"] == "2026-11-26T00:00:00+00:00"
    assert not run([daily], today[:2] + [email(NOW - timedelta(days=1))]).blocked
    monthly = policy("frequency_cap", {"maxPerMonth": 2})
    assert run([monthly], [email(datetime(2026, 11, 1, tzinfo=UTC)), email(NOW)]).blocked
    assert not run([monthly], [email(datetime(2026, 10, 31, 23, 59, tzinfo=UTC)), email(NOW)]).blocked


def test_rolling_lookback_and_legacy_window() -> None:
    rolling = policy("frequency_cap", {"maxContacts": 2, "lookbackHours": 24})
    edge = [email(NOW - timedelta(hours=24)), email(NOW - timedelta(hours=23))]
    assert not run([rolling], edge).blocked  # exactly 24h ago has left the window
    blocked = run([rolling], [*edge, email(NOW - timedelta(hours=1))])
    assert blocked.blocked
    assert blocked.results[0]["reason"] == "frequency_cap exceeded: 2/1d at scope=global"
    assert blocked.results[0]["detail"]["resetsAt"] == (NOW + timedelta(hours=1)).isoformat()
    legacy = policy("frequency_cap", {"maxContacts": 2, "windowDays": 7})
    assert run([legacy], [email(NOW - timedelta(days=6)), email(NOW - timedelta(days=5))]).blocked
    assert not run([legacy], [email(NOW - timedelta(days=8)), email(NOW - timedelta(days=5))]).blocked


def test_offer_scope_and_null_scope_id_behaves_globally() -> None:
    per_offer = policy("frequency_cap", {"maxPerDay": 1}, scope="offer", scope_id="o1")
    assert not run([per_offer], [email(NOW - timedelta(hours=1), offer="o2")]).blocked
    assert run([per_offer], [email(NOW - timedelta(hours=1), offer="o1")]).blocked
    unscoped = policy("frequency_cap", {"maxPerDay": 1}, scope="offer", scope_id=None)
    outcome = run([unscoped], [email(NOW - timedelta(hours=1), offer="o2")])
    assert outcome.blocked
    assert outcome.results[0]["reason"] == "frequency_cap exceeded: 1/day at scope=global"


def test_scopes_list_overrides_scope_and_segment_scope() -> None:
    elsewhere = policy(
        "frequency_cap", {"maxPerDay": 0}, scope="global", scopes=[{"scope": "offer", "scopeId": "o9"}]
    )
    assert not run([elsewhere]).blocked
    either = policy(
        "frequency_cap",
        {"maxPerDay": 1},
        scopes=[{"scope": "offer", "scopeId": "o9"}, {"scope": "category", "scopeId": "cat1"}],
    )
    hit = run([either], [email(NOW - timedelta(hours=2), offer="o5", category_id="cat1")])
    assert hit.results[0]["reason"] == "frequency_cap exceeded: 1/day at scope=category (cat1)"
    vip_cap = policy("frequency_cap", {"maxPerDay": 1}, scope="segment", scope_id="vip")
    contact = [email(NOW - timedelta(hours=1))]
    assert not run([vip_cap], contact).blocked
    assert run([vip_cap], contact, customer=CustomerContext("c1", segments={"vip"})).blocked


def test_campaign_filters() -> None:
    cap = policy("frequency_cap", {"maxPerDay": 1, "excludeCampaignIds": ["service"]})
    assert not run([cap], [email(NOW - timedelta(hours=1), campaign_id="service")]).blocked
    within = policy("frequency_cap", {"maxPerDay": 1, "withinCampaignId": "promo"})
    assert not run([within], [email(NOW - timedelta(hours=1), campaign_id="other")]).blocked
    assert run([within], [email(NOW - timedelta(hours=1), campaign_id="promo")]).blocked


# --- the other rule types -------------------------------------------------------------------


def test_cooldown_lifts_at_exactly_the_boundary() -> None:
    cooldown = policy("cooldown", {"cooldownHours": 48}, scope="offer", scope_id="o1")
    assert not run([cooldown], [email(NOW - timedelta(hours=48))]).blocked
    last = NOW - timedelta(hours=47, minutes=59)
    outcome = run([cooldown], [email(NOW - timedelta(hours=60)), email(last)])
    assert outcome.blocked
    assert outcome.results[0]["reason"] == "cooldown active: last contact 48.0h ago < 48h at scope=offer (o1)"
    assert outcome.results[0]["detail"]["resetsAt"] == (last + timedelta(hours=48)).isoformat()
    assert not run([cooldown], [email(NOW - timedelta(hours=1), offer="o2")]).blocked
    clicks_only = [email(NOW - timedelta(hours=1), outcome="click")]
    assert not run([cooldown], clicks_only).blocked  # responses are not contacts


def test_budget_exhausted() -> None:
    budget = policy(
        "budget_exhausted", {"budgetField": "impressions", "threshold": 100}, scope="offer", scope_id="o1"
    )

    def with_budget(spent: dict[str, object]) -> CandidateView:
        return CandidateView(offer_id="o1", channel_id="ch_email", budget=spent)

    assert run([budget], candidate=with_budget({"impressions": 100})).blocked
    assert not run([budget], candidate=with_budget({"impressions": 99})).blocked
    assert not run([budget], candidate=with_budget({})).blocked
    from_offer = policy("budget_exhausted", {"budgetField": "spend"}, scope="offer", scope_id="o1")
    assert run([from_offer], candidate=with_budget({"spend": 50, "maxSpend": 50})).blocked
    legacy = policy("budget_exhausted", {"checkDailyBudget": True}, scope="offer", scope_id="o1")
    spent = with_budget({"currentDailySpentCents": 50000, "dailyCapCents": 50000})
    outcome = run([legacy], candidate=spent)
    assert outcome.results[0]["reason"] == "budget_exhausted: dailySpentCents 50000/50000"


def test_outcome_based_suppression() -> None:
    adverse = policy("outcome_based", {"afterOutcome": ["complaint", "unsubscribe"], "suppressForDays": 30})
    complaint = email(NOW - timedelta(days=10), outcome="complaint", classification="negative")
    outcome = run([adverse], [complaint])
    assert outcome.blocked
    assert outcome.results[0]["detail"]["resetsAt"] == (complaint.timestamp + timedelta(days=30)).isoformat()
    assert not run([adverse], [email(NOW - timedelta(days=31), outcome="complaint")]).blocked
    assert not run([adverse], [email(NOW - timedelta(days=1), outcome="click")]).blocked
    per_offer = policy(
        "outcome_based", {"afterOutcome": "conversion", "suppressForDays": 7}, scope="offer", scope_id="o1"
    )
    assert not run([per_offer], [email(NOW - timedelta(days=1), offer="o2", outcome="conversion")]).blocked
    assert run([per_offer], [email(NOW - timedelta(days=1), offer="o1", outcome="conversion")]).blocked
    legacy = policy("outcome_based", {"outcomeType": "opt_out"})  # lookbackDays defaults to 90
    assert run([legacy], [email(NOW - timedelta(days=89), outcome="opt_out")]).blocked
    assert not run([legacy], [email(NOW - timedelta(days=91), outcome="opt_out")]).blocked


def test_segment_exclusion() -> None:
    exclusion = policy("segment_exclusion", {"excludeSegments": ["minors", "fraud_watch"]})
    flagged = CustomerContext("c1", attributes={"segment": "fraud_watch"})
    outcome = run([exclusion], customer=flagged)
    assert outcome.results[0]["reason"] == "segment_exclusion: customer in excluded segment(s): fraud_watch"
    assert not run([exclusion], customer=CustomerContext("c1", segments={"gold"})).blocked


def test_time_window_in_a_timezone() -> None:
    business_hours = policy(
        "time_window",
        {"startHour": 9, "endHour": 18, "daysOfWeek": [1, 2, 3, 4, 5], "timezone": "America/New_York"},
        scope="channel",
        scope_id="email",
    )
    early = run([business_hours])  # 12:00 UTC = 07:00 EST
    assert early.blocked
    assert early.results[0]["detail"]["resetsAt"] == "2026-11-25T14:00:00+00:00"  # 09:00 EST
    assert not run([business_hours], now=datetime(2026, 11, 25, 14, 0, tzinfo=UTC)).blocked
    assert run([business_hours], now=datetime(2026, 11, 25, 23, 0, tzinfo=UTC)).blocked  # 18:00 EST
    saturday = run([business_hours], now=datetime(2026, 11, 28, 16, 0, tzinfo=UTC))
    assert saturday.blocked
    assert saturday.results[0]["detail"]["resetsAt"] == "2026-11-30T14:00:00+00:00"  # Monday 09:00 EST
    overnight = policy("time_window", {"startHour": 22, "endHour": 6})
    assert not run([overnight], now=datetime(2026, 11, 25, 23, 0, tzinfo=UTC)).blocked
    assert not run([overnight], now=datetime(2026, 11, 25, 5, 59, tzinfo=UTC)).blocked
    assert run([overnight], now=datetime(2026, 11, 25, 6, 0, tzinfo=UTC)).blocked
    with pytest.raises(ValidationError):
        run([policy("time_window", {"timezone": "Mars/Olympus"})])


def test_mutual_exclusion() -> None:
    exclusive = policy("mutual_exclusion", {"excludeOfferIds": ["o2", "o1"]}, scope="offer", scope_id="o1")
    assert run([exclusive], [email(NOW - timedelta(days=3), offer="o2")]).blocked
    assert not run([exclusive], [email(NOW - timedelta(days=8), offer="o2")]).blocked
    assert not run([exclusive], [email(NOW - timedelta(days=1), offer="o1")]).blocked  # itself never counts
    same_decision = run([exclusive], selected=("o2",))
    assert (
        same_decision.results[0]["reason"] == "mutual_exclusion: offer o2 already selected in this decision"
    )
    wide = policy(
        "mutual_exclusion", {"excludeOfferIds": ["o2"], "windowDays": 30}, scope="offer", scope_id="o1"
    )
    assert run([wide], [email(NOW - timedelta(days=20), offer="o2")]).blocked


def test_cross_channel_cap() -> None:
    cross = policy("cross_channel_cap", {"maxPerDay": 2, "appliesAcross": ["email", "ch_sms"]})
    assert run([cross], [email(NOW - timedelta(hours=2)), sms(NOW - timedelta(hours=1))]).blocked
    push = ContactEvent(
        timestamp=NOW - timedelta(hours=1), offer_id="o1", channel_id="ch_push", channel_type="push"
    )
    outcome = run([cross], [email(NOW - timedelta(hours=2)), push])
    assert not outcome.blocked
    assert outcome.results[0]["detail"]["count"] == 1
    per_offer = policy(
        "cross_channel_cap", {"maxPerWeek": 1, "appliesAcross": []}, scope="offer", scope_id="o1"
    )
    assert not run([per_offer], [sms(NOW - timedelta(hours=1), offer="o3")]).blocked
    assert run([per_offer], [sms(NOW - timedelta(hours=1), offer="o1")]).blocked


def test_customer_total_cap() -> None:
    total = policy("customer_total_cap", {"maxPerWeek": 3})
    three = [
        email(NOW - timedelta(days=1), offer="a"),
        sms(NOW - timedelta(hours=3), offer="b"),
        email(NOW, offer="c"),
    ]
    outcome = run([total], three)
    assert outcome.blocked
    assert outcome.results[0]["reason"] == "customer_total_cap exceeded: 3/week across all contacts"
    assert not run([total], three[:2]).blocked


def test_category_suppression() -> None:
    suppress = policy("category_suppression", {"suppressionDays": 14}, scope="category", scope_id="cat1")
    dismissed = email(NOW - timedelta(days=5), offer="o8", outcome="dismiss", category_id="cat1")
    outcome = run([suppress], [dismissed])
    assert outcome.blocked
    assert outcome.results[0]["detail"]["resetsAt"] == (dismissed.timestamp + timedelta(days=14)).isoformat()
    other_category = CandidateView(offer_id="o3", category_id="cat2", channel_id="ch_email")
    assert not run([suppress], [dismissed], candidate=other_category).blocked
    assert not run(
        [suppress], [email(NOW - timedelta(days=15), outcome="dismiss", category_id="cat1")]
    ).blocked
    assert not run([suppress], [email(NOW - timedelta(days=1), outcome="click", category_id="cat1")]).blocked
    negative = email(
        NOW - timedelta(days=1), outcome="complaint", classification="negative", category_id="cat1"
    )
    assert run([suppress], [negative]).blocked
    explicit = policy("category_suppression", {"categoryId": "cat1", "triggerOutcomes": ["not_interested"]})
    assert not run([explicit], [dismissed]).blocked
    assert run(
        [explicit], [email(NOW - timedelta(days=1), outcome="not_interested", category_id="cat1")]
    ).blocked


def test_do_not_contact() -> None:
    dnc = policy("do_not_contact", {})
    assert run([dnc], customer=CustomerContext("c1", attributes={"do_not_contact": True})).blocked
    assert run([dnc], customer=CustomerContext("c1", attributes={"dnc": "yes"})).blocked
    assert not run([dnc], customer=CustomerContext("c1", attributes={"do_not_contact": "false"})).blocked
    assert not run([dnc]).blocked
    custom = policy("do_not_contact", {"dncSource": "suppressed_flag", "reason": "DNC registry"})
    outcome = run([custom], customer=CustomerContext("c1", attributes={"customer.suppressed_flag": 1}))
    assert outcome.results[0]["reason"] == "do_not_contact: DNC registry"


def test_metric_condition_policy() -> None:
    complaints = policy(
        "metric_condition", {"metricName": "complaint_rate_90d", "operator": ">", "value": 0.1}
    )
    outcome = run([complaints], customer=CustomerContext("c1", metrics={"complaint_rate_90d": 0.2}))
    assert outcome.results[0]["reason"] == "metric_condition: complaint_rate_90d 0.2 > 0.1"
    assert not run([complaints], customer=CustomerContext("c1", metrics={"complaint_rate_90d": 0.1})).blocked
    assert not run([complaints]).blocked


# --- orchestration --------------------------------------------------------------------------


def test_allow_override_skips_blocking_policies_for_matching_candidates() -> None:
    cap = policy("frequency_cap", {"maxPerDay": 1})
    override = policy("allow_override", {}, scope="offer", scope_id="o1", priority=10)
    history = [email(NOW - timedelta(hours=1), offer="o5")]
    outcome = run([cap, override], history)
    assert not outcome.blocked
    assert [r["reason"] for r in outcome.results] == [
        "skipped: allow_override 'allow_override'",
        "allow_override matched: blocking policies skipped",
    ]
    other = CandidateView(offer_id="o2", channel_id="ch_email", channel_type="email")
    assert run([cap, override], history, candidate=other).blocked
    hard = policy("do_not_contact", {"bypassable": False})
    flagged = CustomerContext("c1", attributes={"dnc": True})
    assert run([hard, override], customer=flagged).blocked


def test_mandatory_offers_bypass_all_but_caps_and_unbypassable() -> None:
    mandatory = CandidateView(offer_id="o1", channel_id="ch_email", channel_type="email", mandatory=True)
    recent = [email(NOW - timedelta(hours=1))]
    cooldown = policy("cooldown", {"cooldownHours": 24})
    skipped = run([cooldown], recent, candidate=mandatory)
    assert not skipped.blocked
    assert skipped.results[0]["reason"] == "skipped: mandatory offer"
    assert run([policy("frequency_cap", {"maxPerDay": 1})], recent, candidate=mandatory).blocked
    assert run([policy("cross_channel_cap", {"maxPerDay": 1})], recent, candidate=mandatory).blocked
    strict = policy("cooldown", {"cooldownHours": 24, "bypassable": False})
    assert run([strict], recent, candidate=mandatory).blocked
    assert run([cooldown], recent).blocked  # the same policy blocks a regular offer


def test_priority_order_first_block_recorded_and_inactive_ignored() -> None:
    low = policy("frequency_cap", {"maxPerDay": 0}, priority=10)
    low.id = "low"
    high = policy("do_not_contact", {}, priority=90)
    paused = policy("segment_exclusion", {"excludeSegments": ["gold"]}, priority=100, status="paused")
    flagged = CustomerContext("c1", segments={"gold"}, attributes={"dnc": True})
    outcome = run([low, high, paused], customer=flagged)
    assert outcome.blocking_policy is high
    assert [r["policyId"] for r in outcome.results] == ["p_do_not_contact"]
    assert set(outcome.results[0]) == {"policyId", "policyName", "ruleType", "blocked", "reason", "detail"}
    unflagged = run([low, high, paused])
    assert unflagged.blocking_policy is low
    with pytest.raises(ValidationError):
        run([policy("carrier_pigeon_cap", {})])


def test_policy_from_dict() -> None:
    spec = PolicySpec.from_dict(
        {"id": "p1", "name": "Max 3/day", "ruleType": "frequency_cap", "config": {"maxPerDay": 3},
         "scopes": [{"scope": "global", "scopeId": None}], "status": "active"}
    )  # fmt: skip
    assert (spec.scope, spec.priority, spec.scopes) == ("offer", 50, [{"scope": "global", "scopeId": None}])
    three = [email(NOW - timedelta(hours=h)) for h in (1, 2, 3)]
    assert run([spec], three).blocked
