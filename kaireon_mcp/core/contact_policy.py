"""Contact policies (spec §5): the 13 rule types over one customer's in-memory contact ledger.

Only impressions count toward caps and cooldowns; recommendation rows never do (§3.17).
Calendar windows are UTC: day = calendar day, week = ISO week from Monday 00:00, month =
calendar month, all half-open ``[start, end)``. Rolling windows (``lookbackHours``, legacy
``windowDays``, cooldowns, suppressions) are ``(now - Δ, now]``, so a contact exactly Δ ago
no longer counts: a 48 h cooldown lifts at exactly 48 h.
"""

from __future__ import annotations

from bisect import bisect_left
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from operator import attrgetter
from typing import Any, Final
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from kaireon_mcp.core.operators import (
    compare,
    format_value,
    normalize_operator,
    operator_symbol,
    resolve_field,
    to_number,
)
from kaireon_mcp.core.qualification import (
    CandidateView,
    CustomerContext,
    ScopeIndex,
    customer_namespaces,
    customer_segments,
    metric_value,
    scope_entries,
    scope_matches,
)
from kaireon_mcp.errors import ValidationError

RULE_TYPES: Final[tuple[str, ...]] = (
    "frequency_cap", "cooldown", "budget_exhausted", "outcome_based", "segment_exclusion", "time_window",
    "mutual_exclusion", "cross_channel_cap", "customer_total_cap", "allow_override", "category_suppression",
    "do_not_contact", "metric_condition",
)  # fmt: skip
MANDATORY_ENFORCED: Final[frozenset[str]] = frozenset({"frequency_cap", "cross_channel_cap"})
IMPRESSION_OUTCOMES: Final[frozenset[str]] = frozenset({"impression", "delivery"})
PERIODS: Final[Mapping[str, str]] = {
    "day": "day", "daily": "day", "week": "week", "weekly": "week", "month": "month", "monthly": "month",
}  # fmt: skip
_CAP_KEYS: Final[tuple[tuple[str, str, str], ...]] = (
    ("maxPerDay", "maxContactsPerDay", "day"),
    ("maxPerWeek", "maxContactsPerWeek", "week"),
    ("maxPerMonth", "maxContactsPerMonth", "month"),
)
_TRUTHY: Final[frozenset[str]] = frozenset({"true", "yes", "y", "1", "on"})
_EPSILON: Final = timedelta(microseconds=1)


def to_utc(moment: datetime) -> datetime:
    """Aware datetimes are converted to UTC; naive ones are taken to already be UTC."""
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)


@dataclass(frozen=True)
class ContactEvent:
    """One history row. ``is_impression=None`` derives it from ``outcome``; recommendations never count."""

    timestamp: datetime
    offer_id: str | None = None
    creative_id: str | None = None
    channel_id: str | None = None
    channel_type: str | None = None
    placement_id: str | None = None
    category_id: str | None = None
    sub_category_id: str | None = None
    outcome: str = "impression"
    classification: str = "neutral"
    is_impression: bool | None = None
    campaign_id: str | None = None

    def __post_init__(self) -> None:
        object.__setattr__(self, "timestamp", to_utc(self.timestamp))
        impression = self.outcome in IMPRESSION_OUTCOMES if self.is_impression is None else self.is_impression
        object.__setattr__(self, "is_impression", bool(impression) and self.outcome != "recommendation")

    @classmethod
    def of(
        cls,
        timestamp: datetime,
        offer_id: str | None,
        creative_id: str | None,
        channel_id: str | None,
        channel_type: str | None,
        placement_id: str | None,
        category_id: str | None,
        sub_category_id: str | None,
        outcome: str,
        classification: str,
        is_impression: bool | None,
        campaign_id: str | None = None,
    ) -> ContactEvent:
        """The event the constructor would build, at a fraction of its cost: a frozen
        dataclass ``__init__`` pays an ``object.__setattr__`` per field, and a decision
        loads hundreds of history rows.
        """
        impression = outcome in IMPRESSION_OUTCOMES if is_impression is None else is_impression
        event = object.__new__(cls)
        event.__dict__.update(
            timestamp=timestamp if timestamp.tzinfo is UTC else to_utc(timestamp),
            offer_id=offer_id,
            creative_id=creative_id,
            channel_id=channel_id,
            channel_type=channel_type,
            placement_id=placement_id,
            category_id=category_id,
            sub_category_id=sub_category_id,
            outcome=outcome,
            classification=classification,
            is_impression=bool(impression) and outcome != "recommendation",
            campaign_id=campaign_id,
        )
        return event


EventPredicate = Callable[[ContactEvent], bool]
_timestamp = attrgetter("timestamp")


class ContactLedger:
    """One customer's history, sorted once so every window query is a bisect plus a slice."""

    def __init__(self, events: Iterable[ContactEvent] = ()) -> None:
        ordered = sorted(events, key=_timestamp)
        self._events: tuple[ContactEvent, ...] = tuple(ordered)
        self._event_times = [event.timestamp for event in self._events]
        self._impressions: tuple[ContactEvent, ...] = tuple(event for event in ordered if event.is_impression)
        self._impression_times = [event.timestamp for event in self._impressions]

    @property
    def events(self) -> tuple[ContactEvent, ...]:
        return self._events

    @property
    def impressions(self) -> tuple[ContactEvent, ...]:
        return self._impressions

    def __len__(self) -> int:
        return len(self._events)

    def between(
        self, start: datetime, end: datetime, impressions_only: bool = True
    ) -> Sequence[ContactEvent]:
        """Events with ``start <= timestamp < end``, oldest first."""
        events, times = self._source(impressions_only)
        return events[bisect_left(times, to_utc(start)) : bisect_left(times, to_utc(end))]

    def last(
        self, predicate: EventPredicate | None, at_or_before: datetime, impressions_only: bool = True
    ) -> ContactEvent | None:
        """Most recent matching event not after ``at_or_before``."""
        events, times = self._source(impressions_only)
        stop = bisect_left(times, to_utc(at_or_before) + _EPSILON)
        for index in range(stop - 1, -1, -1):
            if predicate is None or predicate(events[index]):
                return events[index]
        return None

    def latest_by_offer(self, at_or_before: datetime) -> dict[str | None, ContactEvent]:
        """Each offer's most recent impression not after ``at_or_before``, in one pass: what
        :meth:`last` returns for an offer-id predicate, for every offer at once."""
        stop = bisect_left(self._impression_times, to_utc(at_or_before) + _EPSILON)
        return {event.offer_id: event for event in self._impressions[:stop]}

    def _source(self, impressions_only: bool) -> tuple[tuple[ContactEvent, ...], list[datetime]]:
        if impressions_only:
            return self._impressions, self._impression_times
        return self._events, self._event_times


def window_bounds(period: str, now: datetime) -> tuple[datetime, datetime]:
    """UTC calendar period containing ``now`` as ``[start, end)``; weeks start Monday 00:00."""
    kind = PERIODS.get(period.lower())
    if kind is None:
        raise ValidationError(f"Unknown period {period!r}; expected day, week or month", field="period")
    moment = to_utc(now)
    midnight = moment.replace(hour=0, minute=0, second=0, microsecond=0)
    if kind == "day":
        return midnight, midnight + timedelta(days=1)
    if kind == "week":
        start = midnight - timedelta(days=midnight.weekday())
        return start, start + timedelta(days=7)
    start = midnight.replace(day=1)
    end = (
        start.replace(year=start.year + 1, month=1)
        if start.month == 12
        else start.replace(month=start.month + 1)
    )
    return start, end


Window = str | timedelta | tuple[datetime, datetime]


def resolve_window(window: Window, now: datetime) -> tuple[datetime, datetime]:
    """Period name → calendar bounds; timedelta → rolling ``(now-Δ, now]`` as half-open bounds."""
    if isinstance(window, str):
        return window_bounds(window, now)
    if isinstance(window, timedelta):
        moment = to_utc(now)
        return moment - window + _EPSILON, moment + _EPSILON
    return to_utc(window[0]), to_utc(window[1])


def events_in_window(
    ledger: ContactLedger,
    predicate: EventPredicate | None,
    window: Window,
    now: datetime,
    impressions_only: bool = True,
) -> list[ContactEvent]:
    """Matching events inside the window, oldest first."""
    start, end = resolve_window(window, now)
    return [
        event
        for event in ledger.between(start, end, impressions_only)
        if predicate is None or predicate(event)
    ]


def count_in_window(
    ledger: ContactLedger,
    predicate: EventPredicate | None,
    window: Window,
    now: datetime,
    impressions_only: bool = True,
) -> int:
    """How many matching events (impressions by default) fall inside ``window``."""
    return len(events_in_window(ledger, predicate, window, now, impressions_only))


@dataclass
class PolicySpec:
    """One contact policy, already loaded; ``scopes`` (when non-empty) overrides scope/scope_id."""

    id: str
    name: str
    rule_type: str
    config: Mapping[str, Any] = field(default_factory=dict)
    scope: str = "offer"
    scope_id: str | None = None
    scopes: list[dict[str, Any]] = field(default_factory=list)
    priority: int = 50
    status: str = "active"

    @classmethod
    def from_dict(cls, row: Mapping[str, Any]) -> PolicySpec:
        """Build from an API/DB row in camelCase (snake_case accepted)."""
        return cls(
            id=str(row.get("id", "")),
            name=str(row.get("name", "")),
            rule_type=str(row.get("ruleType") or row.get("rule_type") or ""),
            config=dict(row.get("config") or {}),
            scope=str(row.get("scope") or "offer"),
            scope_id=row.get("scopeId", row.get("scope_id")),
            scopes=[dict(item) for item in row.get("scopes") or []],
            priority=int(row.get("priority", 50) or 0),
            status=str(row.get("status") or "active"),
        )


@dataclass
class PolicyOutcome:
    blocked: bool
    blocking_policy: PolicySpec | None
    results: list[dict[str, Any]]


@dataclass(frozen=True)
class Verdict:
    blocked: bool
    reason: str
    detail: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class PolicyContext:
    """Everything an evaluator may read, bundled so evaluators share one signature."""

    policy: PolicySpec
    entries: list[tuple[str, str | None]]
    candidate: CandidateView
    ledger: ContactLedger
    customer: CustomerContext
    now: datetime
    selected_offer_ids: frozenset[str]

    @property
    def config(self) -> Mapping[str, Any]:
        return self.policy.config


def _iso(moment: datetime | None) -> str | None:
    return None if moment is None else moment.isoformat()


def scope_label(scope: str, scope_id: str | None) -> str:
    """``scope=global`` or ``scope=channel (email)``; unscoped non-global behaves (and reads) globally."""
    if scope == "global" or scope_id in (None, ""):
        return "scope=global"
    return f"scope={scope} ({scope_id})"


def scope_predicate(scope: str, scope_id: str | None) -> EventPredicate | None:
    """Which history rows belong to a scope slice; ``None`` means every row (global/segment)."""
    kind = scope.lower()
    if kind in {"global", "segment"} or scope_id in (None, ""):
        return None
    if kind == "channel":
        return lambda event: scope_id in (event.channel_id, event.channel_type)
    attribute = {
        "offer": "offer_id",
        "creative": "creative_id",
        "category": "category_id",
        "subcategory": "sub_category_id",
        "sub_category": "sub_category_id",
        "placement": "placement_id",
    }.get(kind)
    if attribute is None:
        raise ValidationError(f"Unknown scope {scope!r}", field="scope")
    return lambda event: getattr(event, attribute) == scope_id


def _all_of(*predicates: EventPredicate | None) -> EventPredicate | None:
    active = [predicate for predicate in predicates if predicate is not None]
    if not active:
        return None
    return lambda event: all(predicate(event) for predicate in active)


@dataclass(frozen=True)
class CapWindow:
    """One cap: ``limit`` contacts per calendar ``period`` or per rolling ``span``."""

    limit: int
    label: str
    period: str | None = None
    span: timedelta | None = None

    @property
    def window(self) -> Window:
        return self.span if self.span is not None else str(self.period)


def _limit(value: Any, key: str) -> int | None:
    if value is None:
        return None
    number = to_number(value)
    if number is None or number < 0:
        raise ValidationError(f"{key} must be a non-negative number", field=f"config.{key}")
    return int(number)


def _hours_label(hours: float) -> str:
    return f"{format_value(hours / 24)}d" if hours % 24 == 0 else f"{format_value(hours)}h"


def cap_windows(config: Mapping[str, Any]) -> list[CapWindow]:
    """Caps named by a config. ``lookbackHours`` makes one rolling cap whose limit is
    ``maxContacts`` or else the first of maxPerDay/Week/Month (which then isn't also applied
    per calendar period); legacy ``{maxContacts, windowDays}`` is a rolling window of days
    (1 when absent). Missing fields mean no cap.
    """
    windows: list[CapWindow] = []
    consumed: str | None = None
    explicit = _limit(config.get("maxContacts"), "maxContacts")
    hours = to_number(config.get("lookbackHours"))
    if hours is not None and hours > 0:
        limit = explicit
        if limit is None:
            for key, alias, _ in _CAP_KEYS:
                limit = _limit(config.get(key, config.get(alias)), key)
                if limit is not None:
                    consumed = key
                    break
        if limit is not None:
            windows.append(CapWindow(limit, _hours_label(hours), span=timedelta(hours=hours)))
    elif explicit is not None:
        days = to_number(config.get("windowDays")) or 1.0
        windows.append(CapWindow(explicit, _hours_label(days * 24), span=timedelta(days=days)))
    for key, alias, period in _CAP_KEYS:
        limit = _limit(config.get(key, config.get(alias)), key)
        if limit is not None and key != consumed:
            windows.append(CapWindow(limit, period, period=period))
    return windows


def _resets_at(window: CapWindow, matched: list[ContactEvent], now: datetime) -> datetime | None:
    """When the count falls back below the limit: period end, or when enough rows age out.

    A zero limit never lifts, so it has no reset time.
    """
    if window.limit == 0:
        return None
    if window.span is None:
        return resolve_window(window.window, now)[1]
    return matched[len(matched) - window.limit].timestamp + window.span


def _check_caps(
    name: str, ctx: PolicyContext, predicate: EventPredicate | None, where: str
) -> tuple[Verdict | None, dict[str, Any]]:
    """First exceeded cap as a blocking verdict, plus the fullest window's detail for the trace."""
    fullest: dict[str, Any] = {}
    ratio = -1.0
    for cap in cap_windows(ctx.config):
        matched = events_in_window(ctx.ledger, predicate, cap.window, ctx.now)
        detail = {"count": len(matched), "limit": cap.limit, "window": cap.label, "resetsAt": None}
        if len(matched) >= cap.limit:
            detail["resetsAt"] = _iso(_resets_at(cap, matched, ctx.now))
            return Verdict(True, f"{name} exceeded: {cap.limit}/{cap.label} {where}", detail), detail
        usage = len(matched) / cap.limit
        if usage > ratio:
            ratio, fullest = usage, detail
    return None, fullest


def _campaign_predicate(config: Mapping[str, Any]) -> EventPredicate | None:
    within = config.get("withinCampaignId")
    excluded = set(config.get("excludeCampaignIds") or [])
    if within is None and not excluded:
        return None
    return lambda event: (within is None or event.campaign_id == within) and event.campaign_id not in excluded


def _within_cap(name: str, detail: dict[str, Any], where: str) -> Verdict:
    if not detail:
        return Verdict(False, f"{name}: no caps configured", {})
    return Verdict(
        False, f"within {name}: {detail['count']}/{detail['limit']} per {detail['window']} {where}", detail
    )


def _frequency_cap(ctx: PolicyContext) -> Verdict:
    campaign = _campaign_predicate(ctx.config)
    best: tuple[dict[str, Any], str] = ({}, "")
    for scope, scope_id in ctx.entries:
        where = "at " + scope_label(scope, scope_id)
        predicate = _all_of(scope_predicate(scope, scope_id), campaign)
        verdict, detail = _check_caps("frequency_cap", ctx, predicate, where)
        if verdict is not None:
            return verdict
        if detail and not best[0]:
            best = (detail, where)
    return _within_cap("frequency_cap", *best)


def _channels_predicate(channels: Sequence[str]) -> EventPredicate | None:
    wanted = {str(channel) for channel in channels}
    if not wanted:
        return None
    return lambda event: event.channel_id in wanted or event.channel_type in wanted


def _cross_channel_cap(ctx: PolicyContext) -> Verdict:
    """Counts across ``appliesAcross`` channels (all if empty); offer-like scopes narrow the slice."""
    channels = [str(item) for item in ctx.config.get("appliesAcross") or []]
    across = _channels_predicate(channels)
    where = f"across {', '.join(channels) or 'all channels'}"
    best: dict[str, Any] = {}
    for scope, scope_id in ctx.entries:
        narrowing = None if scope in {"channel", "global", "segment"} else scope_predicate(scope, scope_id)
        verdict, detail = _check_caps("cross_channel_cap", ctx, _all_of(narrowing, across), where)
        if verdict is not None:
            return verdict
        best = detail or best
    return _within_cap("cross_channel_cap", best, where)


def _customer_total_cap(ctx: PolicyContext) -> Verdict:
    verdict, detail = _check_caps("customer_total_cap", ctx, None, "across all contacts")
    return verdict or _within_cap("customer_total_cap", detail, "across all contacts")


def _cooldown(ctx: PolicyContext) -> Verdict:
    hours = to_number(ctx.config.get("cooldownHours"))
    if hours is None:
        raise ValidationError("cooldown needs config.cooldownHours", field="config.cooldownHours")
    span = timedelta(hours=hours)
    now = to_utc(ctx.now)
    for scope, scope_id in ctx.entries:
        last = ctx.ledger.last(scope_predicate(scope, scope_id), now)
        if last is None or now - last.timestamp >= span:
            continue
        elapsed = (now - last.timestamp).total_seconds() / 3600
        detail = {
            "lastContactAt": _iso(last.timestamp),
            "cooldownHours": hours,
            "resetsAt": _iso(last.timestamp + span),
        }
        where = scope_label(scope, scope_id)
        reason = f"cooldown active: last contact {elapsed:.1f}h ago < {format_value(hours)}h at {where}"
        return Verdict(True, reason, detail)
    return Verdict(False, f"no contact within the last {format_value(hours)}h", {"cooldownHours": hours})


def _budget_pairs(config: Mapping[str, Any], budget: Mapping[str, Any]) -> list[tuple[str, Any, Any]]:
    """(label, used, limit) pairs named by the config; limits fall back to the offer's budget."""
    pairs: list[tuple[str, Any, Any]] = []
    budget_field = config.get("budgetField")
    if budget_field:
        key = str(budget_field)
        limit = config.get("threshold", budget.get(f"max{key[:1].upper()}{key[1:]}"))
        pairs.append((key, budget.get(key), limit))
    if config.get("checkImpressions"):
        pairs.append(
            ("impressions", budget.get("impressions"), budget.get("maxImpressions", budget.get("maxPerDay")))
        )
    if config.get("checkDailyBudget"):
        pairs.append(("dailySpentCents", budget.get("currentDailySpentCents"), budget.get("dailyCapCents")))
        pairs.append(
            ("lifetimeSpentCents", budget.get("currentLifetimeSpentCents"), budget.get("lifetimeCapCents"))
        )
    return pairs


def _budget_exhausted(ctx: PolicyContext) -> Verdict:
    """Blocks when ``used >= threshold`` for the configured budget field (absolute threshold)."""
    budget = ctx.candidate.budget or {}
    for label, used, limit in _budget_pairs(ctx.config, budget):
        used_n, limit_n = to_number(used), to_number(limit)
        if used_n is None or limit_n is None:
            continue
        detail = {"field": label, "used": used_n, "limit": limit_n, "resetsAt": None}
        if used_n >= limit_n:
            return Verdict(
                True, f"budget_exhausted: {label} {format_value(used_n)}/{format_value(limit_n)}", detail
            )
    return Verdict(False, "budget available", {})


def _outcome_set(value: Any) -> set[str]:
    if value is None:
        return set()
    return {value} if isinstance(value, str) else {str(item) for item in value}


def _suppression(
    ctx: PolicyContext, predicate: EventPredicate | None, days: float
) -> tuple[ContactEvent | None, datetime | None]:
    """Latest matching response in ``(now - days, now]`` and when its suppression lifts."""
    span = timedelta(days=days)
    matched = events_in_window(ctx.ledger, predicate, span, ctx.now, impressions_only=False)
    if not matched:
        return None, None
    return matched[-1], matched[-1].timestamp + span


def _outcome_based(ctx: PolicyContext) -> Verdict:
    outcomes = _outcome_set(ctx.config.get("afterOutcome")) or _outcome_set(ctx.config.get("outcomeType"))
    if not outcomes:
        raise ValidationError("outcome_based needs config.afterOutcome", field="config.afterOutcome")
    days = to_number(ctx.config.get("suppressForDays")) or to_number(ctx.config.get("lookbackDays")) or 90.0
    for scope, scope_id in ctx.entries:
        predicate = _all_of(scope_predicate(scope, scope_id), lambda event: event.outcome in outcomes)
        event, until = _suppression(ctx, predicate, days)
        if event is not None:
            reason = (
                f"outcome_based: '{event.outcome}' at {event.timestamp:%Y-%m-%d %H:%M}Z suppresses for "
                f"{format_value(days)}d at {scope_label(scope, scope_id)}"
            )
            return Verdict(
                True,
                reason,
                {"outcome": event.outcome, "lastOutcomeAt": _iso(event.timestamp), "resetsAt": _iso(until)},
            )
    return Verdict(False, f"no {', '.join(sorted(outcomes))} in the last {format_value(days)}d", {})


def _segment_exclusion(ctx: PolicyContext) -> Verdict:
    excluded = [str(item) for item in ctx.config.get("excludeSegments") or []]
    member_of = customer_segments(ctx.customer)
    hits = [segment for segment in excluded if segment in member_of]
    if hits:
        return Verdict(
            True, f"segment_exclusion: customer in excluded segment(s): {', '.join(hits)}", {"segments": hits}
        )
    return Verdict(False, "customer not in any excluded segment", {})


@dataclass(frozen=True)
class _TimeWindow:
    start_hour: int
    end_hour: int
    days: frozenset[int]
    zone: ZoneInfo

    def allows(self, local: datetime) -> bool:
        if self.days and local.isoweekday() not in self.days:
            return False
        if self.start_hour == self.end_hour:
            return True
        if self.start_hour < self.end_hour:
            return self.start_hour <= local.hour < self.end_hour
        return local.hour >= self.start_hour or local.hour < self.end_hour

    def describe(self) -> str:
        days = f" days {','.join(str(day) for day in sorted(self.days))}" if self.days else ""
        return f"{self.start_hour:02d}:00-{self.end_hour:02d}:00{days} ({self.zone.key})"


def _time_window_spec(config: Mapping[str, Any]) -> _TimeWindow:
    name = str(config.get("timezone") or "UTC")
    try:
        zone = ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError) as exc:
        raise ValidationError(f"Unknown timezone {name!r}", field="config.timezone") from exc
    days = config.get("daysOfWeek", config.get("allowedDays")) or []
    start = int(to_number(config.get("startHour")) or 0)
    end = to_number(config.get("endHour"))
    return _TimeWindow(start, 24 if end is None else int(end), frozenset(int(day) for day in days), zone)


def _next_allowed(spec: _TimeWindow, now: datetime) -> datetime | None:
    """Next local hour boundary inside the window (stepping in UTC so DST gaps are safe)."""
    base = now.astimezone(spec.zone).replace(minute=0, second=0, microsecond=0).astimezone(UTC)
    for step in range(1, 24 * 8 + 1):
        moment = base + timedelta(hours=step)
        if spec.allows(moment.astimezone(spec.zone)):
            return moment
    return None


def _time_window(ctx: PolicyContext) -> Verdict:
    """Allow contact only inside the local-time window (hours half-open; overnight windows wrap)."""
    spec = _time_window_spec(ctx.config)
    local = to_utc(ctx.now).astimezone(spec.zone)
    if spec.allows(local):
        return Verdict(False, f"inside time window {spec.describe()}", {})
    resets = _next_allowed(spec, to_utc(ctx.now))
    reason = f"time_window: outside allowed window {spec.describe()}; local time {local:%a %H:%M}"
    return Verdict(True, reason, {"localTime": local.isoformat(), "resetsAt": _iso(resets)})


def _mutual_exclusion(ctx: PolicyContext) -> Verdict:
    others = {str(item) for item in ctx.config.get("excludeOfferIds") or []} - {ctx.candidate.offer_id}
    selected = sorted(others & ctx.selected_offer_ids)
    if selected:
        return Verdict(
            True,
            f"mutual_exclusion: offer {selected[0]} already selected in this decision",
            {"offerId": selected[0]},
        )
    days = to_number(ctx.config.get("windowDays")) or 7.0
    span = timedelta(days=days)
    shown = events_in_window(ctx.ledger, lambda event: event.offer_id in others, span, ctx.now)
    if shown:
        last = shown[-1]
        detail = {
            "offerId": last.offer_id,
            "lastContactAt": _iso(last.timestamp),
            "resetsAt": _iso(last.timestamp + span),
        }
        return Verdict(
            True, f"mutual_exclusion: offer {last.offer_id} shown within {format_value(days)}d", detail
        )
    return Verdict(False, "no mutually exclusive offer shown or selected", {})


def _suppressed_category(ctx: PolicyContext) -> tuple[str, str] | None:
    """(field, id) being suppressed: config ids, else the scope id, else the candidate's category."""
    if ctx.config.get("subCategoryId"):
        return "sub_category_id", str(ctx.config["subCategoryId"])
    if ctx.config.get("categoryId"):
        return "category_id", str(ctx.config["categoryId"])
    for scope, scope_id in ctx.entries:
        if scope_id and scope in {"subcategory", "sub_category"}:
            return "sub_category_id", str(scope_id)
        if scope_id and scope == "category":
            return "category_id", str(scope_id)
    return ("category_id", ctx.candidate.category_id) if ctx.candidate.category_id else None


def _category_suppression(ctx: PolicyContext) -> Verdict:
    """After a trigger outcome on any offer of the category, suppress the whole category.

    Triggers default to ``dismiss`` plus any negative classification; an explicit
    ``triggerOutcomes`` list replaces that default.
    """
    target = _suppressed_category(ctx)
    if target is None:
        return Verdict(False, "candidate has no category", {})
    attribute, category = target
    candidate_value = (
        ctx.candidate.sub_category_id if attribute == "sub_category_id" else ctx.candidate.category_id
    )
    if candidate_value != category:
        return Verdict(False, f"candidate not in suppressed category {category}", {})
    configured = _outcome_set(ctx.config.get("triggerOutcomes"))

    def triggered(event: ContactEvent) -> bool:
        if getattr(event, attribute) != category:
            return False
        return (
            event.outcome in configured
            if configured
            else (event.outcome == "dismiss" or event.classification == "negative")
        )

    days = to_number(ctx.config.get("suppressionDays")) or 7.0
    event, until = _suppression(ctx, triggered, days)
    if event is None:
        return Verdict(False, f"no trigger outcome in category {category} within {format_value(days)}d", {})
    reason = (
        f"category_suppression: category {category} suppressed for {format_value(days)}d "
        f"after '{event.outcome}'"
    )
    return Verdict(
        True,
        reason,
        {"categoryId": category, "lastOutcomeAt": _iso(event.timestamp), "resetsAt": _iso(until)},
    )


def _truthy(value: Any) -> bool:
    if isinstance(value, str):
        return value.strip().lower() in _TRUTHY
    return bool(value)


def _do_not_contact(ctx: PolicyContext) -> Verdict:
    source = ctx.config.get("dncSource")
    names = [str(source)] if source else ["do_not_contact", "dnc", "doNotContact"]
    namespaces = customer_namespaces(ctx.customer)
    for name in names:
        found, value = resolve_field(name, namespaces, default_namespace="customer")
        if found and _truthy(value):
            reason = str(ctx.config.get("reason") or f"flagged via '{name}'")
            return Verdict(True, f"do_not_contact: {reason}", {"attribute": name})
    return Verdict(False, "customer not flagged do-not-contact", {})


def _metric_condition(ctx: PolicyContext) -> Verdict:
    """Blocks when the metric condition holds; a customer without the metric is not blocked."""
    name, found, value = metric_value(ctx.config, ctx.customer.metrics)
    operator = normalize_operator(str(ctx.config.get("operator", "gt")))
    expected = ctx.config.get("value")
    if not found:
        return Verdict(False, f'no value for metric "{name}"', {})
    text = f"{name} {format_value(value)} {{}} {format_value(expected)}"
    if compare(value, operator, expected):
        return Verdict(
            True,
            "metric_condition: " + text.format(operator_symbol(operator)),
            {"metric": name, "value": value},
        )
    return Verdict(
        False, text.format(operator_symbol(operator, negated=True)), {"metric": name, "value": value}
    )


def _allow_override(ctx: PolicyContext) -> Verdict:
    return Verdict(False, "allow_override matched: blocking policies skipped", {})


EVALUATORS: Final[Mapping[str, Callable[[PolicyContext], Verdict]]] = {
    "frequency_cap": _frequency_cap,
    "cooldown": _cooldown,
    "budget_exhausted": _budget_exhausted,
    "outcome_based": _outcome_based,
    "segment_exclusion": _segment_exclusion,
    "time_window": _time_window,
    "mutual_exclusion": _mutual_exclusion,
    "cross_channel_cap": _cross_channel_cap,
    "customer_total_cap": _customer_total_cap,
    "allow_override": _allow_override,
    "category_suppression": _category_suppression,
    "do_not_contact": _do_not_contact,
    "metric_condition": _metric_condition,
}


def matching_entries(
    policy: PolicySpec, candidate: CandidateView, segments: frozenset[str]
) -> list[tuple[str, str | None]]:
    """The policy's scope assignments that match the candidate (empty = not applicable)."""
    entries = scope_entries(policy.scope, policy.scope_id, policy.scopes)
    return [(kind, sid) for kind, sid in entries if scope_matches(kind, sid, candidate, segments)]


def is_bypassable(policy: PolicySpec) -> bool:
    """Whether mandatory offers and allow_override may skip this policy (§3.11, §5.2)."""
    return policy.config.get("bypassable", True) is not False


def _skip_reason(policy: PolicySpec, candidate: CandidateView, override: PolicySpec | None) -> str | None:
    if not is_bypassable(policy) or policy.rule_type == "allow_override":
        return None
    if override is not None:
        return f"skipped: allow_override '{override.name}'"
    if candidate.mandatory and policy.rule_type not in MANDATORY_ENFORCED:
        return "skipped: mandatory offer"
    return None


def _result(policy: PolicySpec, verdict: Verdict) -> dict[str, Any]:
    return {
        "policyId": policy.id,
        "policyName": policy.name,
        "ruleType": policy.rule_type,
        "blocked": verdict.blocked,
        "reason": verdict.reason,
        "detail": verdict.detail,
    }


#: rule types whose verdict depends only on the matched scope slice, the customer and time,
#: never on which offer is being checked (so one decision can reuse it across candidates)
SLICE_ONLY_TYPES: Final = frozenset(
    {
        "frequency_cap",
        "cross_channel_cap",
        "customer_total_cap",
        "cooldown",
        "outcome_based",
        "segment_exclusion",
        "time_window",
        "do_not_contact",
        "metric_condition",
    }
)


class PolicyIndex:
    """A policy list prepared once (type check, priority order, scope index); pass it to
    :func:`evaluate_policies` instead of the list when evaluating many candidates.
    Construction raises what :func:`evaluate_policies` raises for an unknown rule type.
    """

    def __init__(self, policies: Iterable[PolicySpec]) -> None:
        ordered = sorted(policies, key=lambda item: -item.priority)
        for policy in ordered:
            _check_type(policy)
        self.policies = [policy for policy in ordered if policy.status == "active"]
        self._entries = [scope_entries(p.scope, p.scope_id, p.scopes) for p in self.policies]
        try:
            self._scopes: ScopeIndex | None = ScopeIndex(self._entries)
        except TypeError:
            self._scopes = None

    def applicable(
        self, candidate: CandidateView, segments: frozenset[str]
    ) -> list[tuple[PolicySpec, list[tuple[str, str | None]]]]:
        """In-scope policies by priority with the scope entries that matched (as
        :func:`matching_entries` lists them)."""
        if self._scopes is None:
            pairs = [(policy, matching_entries(policy, candidate, segments)) for policy in self.policies]
            return [(policy, entries) for policy, entries in pairs if entries]
        applicable: list[tuple[PolicySpec, list[tuple[str, str | None]]]] = []
        last = -1
        for item, position in self._scopes.hits(candidate, segments):
            if item != last:
                applicable.append((self.policies[item], []))
                last = item
            applicable[-1][1].append(self._entries[item][position])
        return applicable


def _check_type(policy: PolicySpec) -> None:
    if policy.rule_type not in EVALUATORS:
        raise ValidationError(f"Unknown contact policy rule type {policy.rule_type!r}", field="ruleType")


def _applicable(
    policies: Iterable[PolicySpec], candidate: CandidateView, segments: frozenset[str]
) -> list[tuple[PolicySpec, list[tuple[str, str | None]]]]:
    applicable: list[tuple[PolicySpec, list[tuple[str, str | None]]]] = []
    for policy in sorted(policies, key=lambda item: -item.priority):
        _check_type(policy)
        entries = matching_entries(policy, candidate, segments) if policy.status == "active" else []
        if entries:
            applicable.append((policy, entries))
    return applicable


def evaluate_policies(
    policies: Iterable[PolicySpec] | PolicyIndex,
    candidate: CandidateView,
    ledger: ContactLedger,
    customer: CustomerContext,
    now: datetime,
    selected_offer_ids: Iterable[str] = (),
    memo: dict[tuple[Any, ...], Any] | None = None,
    segments: frozenset[str] | None = None,
) -> PolicyOutcome:
    """Active, in-scope policies by priority desc; the first block wins and stops evaluation.

    A matching ``allow_override`` skips every other bypassable policy; mandatory candidates
    skip all but frequency_cap, cross_channel_cap and ``bypassable: false`` policies. Skipped
    policies are still listed (``blocked: false``) so explanations can say why. A
    :class:`PolicyIndex` and precomputed ``segments`` spare the per-candidate scope scan.
    """
    segments = customer_segments(customer) if segments is None else segments
    if not isinstance(policies, PolicyIndex):
        applicable = _applicable(policies, candidate, segments)
        return _run(applicable, candidate, ledger, customer, now, selected_offer_ids, memo)
    applicable = policies.applicable(candidate, segments)
    if memo is None or not all(policy.rule_type in SLICE_ONLY_TYPES for policy, _ in applicable):
        return _run(applicable, candidate, ledger, customer, now, selected_offer_ids, memo)
    # every verdict depends on the slice alone: candidates with the same slices and
    # mandatory flag share one outcome per decision, each with its own result rows
    key = (_OUTCOME, candidate.mandatory, *((id(policy), *entries) for policy, entries in applicable))
    shared = memo.get(key)
    if shared is None:
        shared = memo[key] = _run(applicable, candidate, ledger, customer, now, selected_offer_ids, memo)
    return PolicyOutcome(shared.blocked, shared.blocking_policy, [dict(row) for row in shared.results])


_OUTCOME: Final = "policy outcome"


def _run(
    applicable: list[tuple[PolicySpec, list[tuple[str, str | None]]]],
    candidate: CandidateView,
    ledger: ContactLedger,
    customer: CustomerContext,
    now: datetime,
    selected_offer_ids: Iterable[str],
    memo: dict[tuple[Any, ...], Any] | None,
) -> PolicyOutcome:
    override = next((policy for policy, _ in applicable if policy.rule_type == "allow_override"), None)
    selected = frozenset(str(item) for item in selected_offer_ids)
    results: list[dict[str, Any]] = []
    for policy, entries in applicable:
        skip = _skip_reason(policy, candidate, override)
        if skip is not None:
            results.append(_result(policy, Verdict(False, skip)))
            continue
        key = (policy.id, tuple(entries))
        verdict = memo.get(key) if memo is not None and policy.rule_type in SLICE_ONLY_TYPES else None
        if verdict is None:
            verdict = EVALUATORS[policy.rule_type](
                PolicyContext(policy, entries, candidate, ledger, customer, now, selected)
            )
            if memo is not None and policy.rule_type in SLICE_ONLY_TYPES:
                memo[key] = verdict
        results.append(_result(policy, verdict))
        if verdict.blocked:
            return PolicyOutcome(True, policy, results)
    return PolicyOutcome(False, None, results)
