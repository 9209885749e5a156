"""Contact pressure: analyzeContactPolicySuppression and simulateFrequencyCapChange.

Both count impressions per customer per calendar window *in SQL* and compare the counts with
caps; Python only sees one row per bucket or per count level. Windows are the contact-policy
evaluator's (UTC day, ISO week from Monday, calendar month), and a cap blocks at
``count >= limit`` exactly as the evaluator's ``_check_caps`` does.

Suppression per reporting period P, for a cap with window W:

* W no coarser than P (a weekly cap read per week, a daily cap read per week): customers with
  contact per P-bucket come from one scan shared by all such caps (a ``COUNT(DISTINCT CASE ...)``
  column per cap scope); capped customers from one ``GROUP BY customer, W HAVING count >= limit``
  per cap, counted per P-bucket.
* W coarser than P (a weekly cap read per day): per (customer, P, W) counts and a running sum
  over the P-buckets inside each W-window (window function); capped once it reaches the limit.

History queries name ``is_impression`` so they range-scan the covering index of migration 0002.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from pydantic import BaseModel, Field
from sqlalchemy import and_, case, distinct, func, literal, select
from sqlalchemy.sql.elements import ColumnElement

from kaireon_mcp.core.contact_policy import PolicySpec, cap_windows, window_bounds
from kaireon_mcp.core.decisioning.catalog import Catalog, load_catalog
from kaireon_mcp.core.intelligence.common import (
    LOOKBACK_BUCKETS,
    any_row,
    bucket_of_day,
    bucket_start,
    check_period,
    count_customers,
    impressions_only,
    pct,
    rate,
    window_since,
)
from kaireon_mcp.core.operators import to_number
from kaireon_mcp.errors import NotFoundError, ValidationError
from kaireon_mcp.storage.repository import Repository
from kaireon_mcp.storage.tables import Interaction
from kaireon_mcp.storage.types import utcnow

CAP_TYPES = frozenset({"frequency_cap", "cross_channel_cap", "customer_total_cap"})
ORDER = {"day": 0, "week": 1, "month": 2}
NOT_HISTORY_BASED = "depends on customer attributes or the request, not on contact history"


class PolicySuppressionRow(BaseModel):
    policyId: str
    policyName: str
    ruleType: str
    channel: str = Field(description="scope channel name or 'all channels'")
    window: str | None = None
    limit: int | None = None
    customerPeriods: int = Field(0, description="customer-periods with contact in scope")
    cappedPeriods: int = 0
    rate: float = Field(0.0, description="% of customer-periods suppressed")
    currentlySuppressed: int | None = None
    series: list[dict[str, Any]] = Field(default_factory=list)
    note: str | None = None


class SuppressionAnalysis(BaseModel):
    period: str
    since: str
    until: str
    channel: str | None
    totalCustomers: int
    totals: dict[str, Any]
    byRuleType: list[dict[str, Any]]
    byChannel: list[dict[str, Any]]
    topPolicies: list[PolicySuppressionRow]
    policies: list[PolicySuppressionRow]
    insights: list[str]
    hint: str | None = None


class CapChangeResult(BaseModel):
    channel: str
    channelId: str
    period: str
    currentCap: int
    newCap: int
    windowStart: str
    windowEnd: str
    activeCustomers: int = Field(description="customers with impressions on the channel this window")
    blockedNow: int
    blockedAfter: int
    customersUnlocked: int
    customersNewlySuppressed: int
    sampleUnlocked: list[str]
    sampleNewlySuppressed: list[str]
    history: dict[str, Any]
    frequencyResponse: list[dict[str, Any]]
    fatigueRisk: str = Field(description="low | medium | high")
    fatigueReason: str
    existingPolicies: list[str]
    summary: str
    hint: str | None = None


# ---- scope filters --------------------------------------------------------------------------
def channel_ids(catalog: Catalog, ref: str) -> list[str]:
    """Channel ids a scope id or a user's channel reference stands for (id, name or type)."""
    lowered = ref.lower()
    return [
        c["id"]
        for c in catalog.channels.values()
        if ref == c["id"]
        or lowered in (str(c.get("name", "")).lower(), str(c.get("channelType", "")).lower())
    ]


def scope_filter(catalog: Catalog, scope: str, scope_id: str | None) -> list[ColumnElement[bool]]:
    """SQL twin of ``contact_policy.scope_predicate``: which history rows a scope slice counts."""
    kind = scope.lower()
    if kind in {"global", "segment"} or not scope_id:
        return []
    if kind == "channel":
        return [Interaction.channel_id.in_(channel_ids(catalog, scope_id) or [scope_id])]
    if kind in {"subcategory", "sub_category"}:
        offers = [o["id"] for o in catalog.offers.values() if o.get("subCategoryId") == scope_id]
        return [Interaction.offer_id.in_(offers or ["\0"])]
    column = {
        "offer": Interaction.offer_id,
        "creative": Interaction.creative_id,
        "category": Interaction.category_id,
        "placement": Interaction.placement_id,
    }.get(kind)
    return [] if column is None else [column == scope_id]


def cap_filters(catalog: Catalog, policy: PolicySpec) -> list[ColumnElement[bool]]:
    if policy.rule_type == "customer_total_cap":
        return []
    if policy.rule_type == "cross_channel_cap":
        across = [
            cid for ref in policy.config.get("appliesAcross") or [] for cid in channel_ids(catalog, str(ref))
        ]
        narrowing = (
            []
            if policy.scope in {"channel", "global", "segment"}
            else scope_filter(catalog, policy.scope, policy.scope_id)
        )
        return narrowing + ([Interaction.channel_id.in_(across)] if across else [])
    return scope_filter(catalog, policy.scope, policy.scope_id)


def channel_label(catalog: Catalog, policy: PolicySpec) -> str:
    if policy.scope == "channel" and policy.scope_id:
        ids = channel_ids(catalog, policy.scope_id)
        return ", ".join(catalog.channels[i]["name"] for i in ids) or str(policy.scope_id)
    if policy.rule_type == "cross_channel_cap" and policy.config.get("appliesAcross"):
        return "across " + ", ".join(str(c) for c in policy.config["appliesAcross"])
    return "all channels"


def _matches_channel(catalog: Catalog, policy: PolicySpec, wanted: list[str]) -> bool:
    """Policies that can block on the channel: its own channel scope, or unscoped by channel."""
    if policy.scope == "channel" and policy.scope_id:
        return bool(set(channel_ids(catalog, policy.scope_id)) & set(wanted))
    across = policy.config.get("appliesAcross") or []
    if policy.rule_type == "cross_channel_cap" and across:
        return bool({c for ref in across for c in channel_ids(catalog, str(ref))} & set(wanted))
    return True


# ---- suppression analysis -------------------------------------------------------------------
def _base_where(repo: Repository, since: datetime, until: datetime) -> list[ColumnElement[bool]]:
    return [
        Interaction.tenant_id == repo.ctx.tenant_id,
        Interaction.timestamp >= since,
        Interaction.timestamp < until,
    ]


def _series_rows(rows: Any) -> list[dict[str, Any]]:
    return [
        {"periodStart": str(p), "customers": int(n), "capped": int(capped or 0), "rate": pct(capped or 0, n)}
        for p, n, capped in rows
    ]


async def shared_active(
    repo: Repository,
    period: str,
    since: datetime,
    until: datetime,
    filter_sets: list[list[ColumnElement[bool]]],
) -> list[dict[str, int]]:
    """Customers with an impression per bucket, for several scope slices in one scan: one row per
    (bucket, customer) flagging which slices it touched, then the flags summed per bucket (a
    plain GROUP BY both backends hash or sort fast, unlike per-slice COUNT(DISTINCT))."""
    bucket = bucket_start(repo, period, Interaction.timestamp).label("p")
    flags = [
        func.max(case((and_(*f), 1), else_=0) if f else literal(1)).label(f"s{n}")
        for n, f in enumerate(filter_sets)
    ]
    per_customer = (
        select(bucket, *flags)
        .where(*_base_where(repo, since, until), impressions_only())
        .group_by(bucket, Interaction.customer_id)
        .subquery()
    )
    columns = [func.sum(per_customer.c[f"s{n}"]) for n in range(len(filter_sets))]
    stmt = select(per_customer.c.p, *columns).group_by(per_customer.c.p)
    out: list[dict[str, int]] = [{} for _ in filter_sets]
    for p, *counts in (await repo.session.execute(stmt)).all():
        for index, n in enumerate(counts):
            if n:
                out[index][str(p)] = int(n)
    return out


async def capped_by_window(
    repo: Repository,
    filters: list[ColumnElement[bool]],
    period: str,
    window: str,
    limit: int,
    since: datetime,
    until: datetime,
) -> dict[str, int]:
    """Customers per bucket with some cap window (no coarser than the bucket) at the limit:
    a HAVING leaves only the capped (customer, window) pairs, then they are counted per bucket."""
    w_bucket = bucket_start(repo, window, Interaction.timestamp).label("w")
    windows = (
        select(Interaction.customer_id.label("cid"), w_bucket)
        .where(*_base_where(repo, since, until), impressions_only(), *filters)
        .group_by(Interaction.customer_id, w_bucket)
        .having(func.count() >= limit)
        .subquery()
    )
    outer = (windows.c.w if window == period else bucket_of_day(repo, period, windows.c.w)).label("p")
    stmt = select(outer, func.count(distinct(windows.c.cid))).group_by(outer)
    return {str(p): int(n) for p, n in (await repo.session.execute(stmt)).all()}


def merge_series(active: dict[str, int], capped: dict[str, int]) -> list[dict[str, Any]]:
    return _series_rows((p, active[p], capped.get(p, 0)) for p in sorted(active))


async def _coarser_window_series(
    repo: Repository, where: list[ColumnElement[bool]], period: str, window: str, limit: int
) -> list[dict[str, Any]]:
    """Window coarser than the period (a weekly cap read per day): the window's running count over
    its period buckets (window function); capped from the bucket where it reaches the limit."""
    p_bucket = bucket_start(repo, period, Interaction.timestamp).label("p")
    w_bucket = bucket_start(repo, window, Interaction.timestamp).label("w")
    counts = (
        select(Interaction.customer_id.label("cid"), p_bucket, w_bucket, func.count().label("c"))
        .where(*where)
        .group_by(Interaction.customer_id, p_bucket, w_bucket)
        .subquery()
    )
    running = func.sum(counts.c.c).over(
        partition_by=(counts.c.cid, counts.c.w), order_by=counts.c.p, rows=(None, 0)
    )
    flagged = select(counts.c.p, case((running >= limit, 1), else_=0).label("capped")).subquery()
    stmt = (
        select(flagged.c.p, func.count(), func.sum(flagged.c.capped))
        .group_by(flagged.c.p)
        .order_by(flagged.c.p)
    )
    return _series_rows((await repo.session.execute(stmt)).all())


async def cap_series(
    repo: Repository,
    filters: list[ColumnElement[bool]],
    period: str,
    window: str,
    limit: int,
    since: datetime,
    until: datetime,
) -> list[dict[str, Any]]:
    """Per reporting bucket: customers with contact in scope, and those at/over the cap."""
    if ORDER[window] > ORDER[period]:
        where = [*_base_where(repo, since, until), impressions_only(), *filters]
        return await _coarser_window_series(repo, where, period, window, limit)
    [active] = await shared_active(repo, period, since, until, [filters])
    return merge_series(active, await capped_by_window(repo, filters, period, window, limit, since, until))


async def _distinct_customers(repo: Repository, where: list[ColumnElement[bool]]) -> int:
    stmt = select(func.count(distinct(Interaction.customer_id))).where(
        Interaction.tenant_id == repo.ctx.tenant_id, *where
    )
    return int((await repo.session.execute(stmt)).scalar_one())


def _days(config: Any, *keys: str, default: float) -> float:
    for key in keys:
        number = to_number(config.get(key))
        if number is not None:
            return number
    return default


def _snapshot_where(catalog: Catalog, policy: PolicySpec, now: datetime) -> list[ColumnElement[bool]] | None:
    """History rows whose presence means the policy blocks the customer right now; None when the
    policy does not depend on history."""
    config, scope = policy.config, scope_filter(catalog, policy.scope, policy.scope_id)
    if policy.rule_type == "cooldown":
        hours = _days(config, "cooldownHours", default=24)
        return [*scope, impressions_only(), Interaction.timestamp > now - timedelta(hours=hours)]
    if policy.rule_type == "outcome_based":
        outcomes = config.get("afterOutcome") or config.get("outcomeType") or []
        outcomes = [outcomes] if isinstance(outcomes, str) else list(outcomes)
        days = _days(config, "suppressForDays", "lookbackDays", default=90)
        return [
            *scope,
            any_row(),
            Interaction.interaction_type.in_(outcomes),
            Interaction.timestamp > now - timedelta(days=days),
        ]
    if policy.rule_type == "category_suppression":
        days = _days(config, "suppressionDays", default=7)
        triggers = config.get("triggerOutcomes")
        trigger = (
            Interaction.interaction_type.in_(list(triggers))
            if triggers
            else (Interaction.interaction_type == "dismiss") | (Interaction.classification == "negative")
        )
        category = config.get("categoryId") or (policy.scope_id if policy.scope == "category" else None)
        where = [Interaction.category_id == category] if category else scope
        return [*where, any_row(), trigger, Interaction.timestamp > now - timedelta(days=days)]
    if policy.rule_type == "mutual_exclusion":
        days = _days(config, "windowDays", default=7)
        others = [str(o) for o in config.get("excludeOfferIds") or []]
        return [
            Interaction.offer_id.in_(others),
            impressions_only(),
            Interaction.timestamp > now - timedelta(days=days),
        ]
    return None


def _row(catalog: Catalog, policy: PolicySpec, **values: Any) -> PolicySuppressionRow:
    return PolicySuppressionRow(
        policyId=policy.id,
        policyName=policy.name,
        ruleType=policy.rule_type,
        channel=channel_label(catalog, policy),
        **values,
    )


@dataclass(frozen=True)
class _CapJob:
    policy: PolicySpec
    window: str
    limit: int
    filters: list[ColumnElement[bool]]


def _cap_row(catalog: Catalog, job: _CapJob, series: list[dict[str, Any]], since: str, current: str) -> Any:
    kept = [s for s in series if s["periodStart"] >= since]
    active, capped = sum(s["customers"] for s in kept), sum(s["capped"] for s in kept)
    now_row = next((s for s in kept if s["periodStart"] == current), None)
    return _row(
        catalog, job.policy, window=job.window, limit=job.limit, customerPeriods=active, cappedPeriods=capped,
        rate=pct(capped, active), series=kept, currentlySuppressed=now_row["capped"] if now_row else 0,
    )  # fmt: skip


async def _cap_rows(
    repo: Repository,
    catalog: Catalog,
    policies: list[PolicySpec],
    period: str,
    since: datetime,
    now: datetime,
) -> dict[str, list[PolicySuppressionRow]]:
    """Rows of every cap policy. Caps no coarser than the period share one scan for their active
    customers and add one HAVING query each; coarser caps use the running-count query."""
    rows: dict[str, list[PolicySuppressionRow]] = {p.id: [] for p in policies}
    jobs: list[_CapJob] = []
    for policy in policies:
        for cap in cap_windows(policy.config):
            if cap.period is None:
                note = "rolling lookbackHours window: not bucketed by calendar period"
                rows[policy.id].append(_row(catalog, policy, window=cap.label, limit=cap.limit, note=note))
            else:
                jobs.append(_CapJob(policy, cap.period, cap.limit, cap_filters(catalog, policy)))
    until, day = now + timedelta(microseconds=1), since.strftime("%Y-%m-%d")
    current = window_bounds(period, now)[0].strftime("%Y-%m-%d")
    fine = [j for j in jobs if ORDER[j.window] <= ORDER[period]]
    actives = await shared_active(repo, period, since, until, [j.filters for j in fine]) if fine else []
    for job, active in zip(fine, actives, strict=True):
        capped = await capped_by_window(repo, job.filters, period, job.window, job.limit, since, until)
        rows[job.policy.id].append(_cap_row(catalog, job, merge_series(active, capped), day, current))
    for job in (j for j in jobs if ORDER[j.window] > ORDER[period]):
        aligned = window_bounds(job.window, since)[0]
        series = await cap_series(repo, job.filters, period, job.window, job.limit, aligned, until)
        rows[job.policy.id].append(_cap_row(catalog, job, series, day, current))
    return rows


async def _policy_rows(
    repo: Repository, catalog: Catalog, policy: PolicySpec, period: str, since: datetime, now: datetime
) -> list[PolicySuppressionRow]:
    if policy.rule_type == "allow_override":
        return []
    where = _snapshot_where(catalog, policy, now)
    if where is None:
        return [_row(catalog, policy, note=NOT_HISTORY_BASED)]
    return [
        _row(
            catalog,
            policy,
            currentlySuppressed=await _distinct_customers(repo, [*where, Interaction.timestamp <= now]),
        )
    ]


def _group(rows: list[PolicySuppressionRow], key: str) -> list[dict[str, Any]]:
    groups: dict[str, dict[str, Any]] = defaultdict(
        lambda: {"policies": 0, "customerPeriods": 0, "cappedPeriods": 0, "currentlySuppressed": 0}
    )
    for row in rows:
        g = groups[getattr(row, key)]
        g["policies"] += 1
        g["customerPeriods"] += row.customerPeriods
        g["cappedPeriods"] += row.cappedPeriods
        g["currentlySuppressed"] += row.currentlySuppressed or 0
    out = [
        {key: name, **g, "rate": pct(g["cappedPeriods"], g["customerPeriods"])} for name, g in groups.items()
    ]
    return sorted(out, key=lambda g: (-g["cappedPeriods"], -g["currentlySuppressed"], g[key]))


def _suppression_insights(rows: list[PolicySuppressionRow], total: int) -> list[str]:
    out = []
    for row in rows:
        if row.window and row.rate >= 25:
            out.append(
                f"'{row.policyName}' caps {row.rate}% of active customer-{row.window}s "
                f"(limit {row.limit}/{row.window}); check it is not starving reach."
            )
        if row.currentlySuppressed and total and 100 * row.currentlySuppressed / total >= 20:
            out.append(
                f"'{row.policyName}' blocks {pct(row.currentlySuppressed, total)}% of customers right now."
            )
    return out


async def analyze_contact_policy_suppression(
    repo: Repository,
    *,
    channel: str | None = None,
    period: str | None = None,
    now: datetime | None = None,
) -> SuppressionAnalysis:
    period = check_period(period)
    now = now or utcnow()
    catalog = await load_catalog(repo)
    wanted = channel_ids(catalog, channel) if channel else []
    if channel and not wanted:
        raise NotFoundError(f"channel {channel!r} not found", field="channel")
    policies = [p for p in catalog.policies if not wanted or _matches_channel(catalog, p, wanted)]
    since = window_since(now, period, LOOKBACK_BUCKETS[period])
    caps = await _cap_rows(
        repo, catalog, [p for p in policies if p.rule_type in CAP_TYPES], period, since, now
    )
    rows = [
        row
        for p in policies
        for row in (caps[p.id] if p.id in caps else await _policy_rows(repo, catalog, p, period, since, now))
    ]
    total = await count_customers(repo) or await _distinct_customers(repo, [])
    measured = [r for r in rows if r.window]
    capped = sum(r.cappedPeriods for r in measured)
    active = sum(r.customerPeriods for r in measured)
    ranked = sorted(rows, key=lambda r: (-r.cappedPeriods, -(r.currentlySuppressed or 0), r.policyName))
    return SuppressionAnalysis(
        period=period,
        since=since.isoformat(),
        until=now.isoformat(),
        channel=", ".join(catalog.channels[c]["name"] for c in wanted) or None,
        totalCustomers=total,
        totals={
            "policies": len(policies),
            "customerPeriods": active,
            "cappedPeriods": capped,
            "rate": pct(capped, active),
            "currentlySuppressed": sum(r.currentlySuppressed or 0 for r in rows),
        },
        byRuleType=_group(rows, "ruleType"),
        byChannel=_group(rows, "channel"),
        topPolicies=[r for r in ranked if r.cappedPeriods or r.currentlySuppressed][:5],
        policies=rows,
        insights=_suppression_insights(rows, total),
        hint=_suppression_hint(policies, total),
    )


def _suppression_hint(policies: list[PolicySpec], total: int) -> str | None:
    if not policies:
        return "No active contact policies apply; nothing is suppressed. Create one with createContactPolicy."
    if not total:
        return "No customers or contact history yet, so every rate is 0."
    return None


# ---- frequency cap simulation ---------------------------------------------------------------
def _between(column: Any, low: int, high: int) -> ColumnElement[bool]:
    """``low <= column < high`` (empty when high <= low)."""
    return and_(column >= low, column < high) if high > low else literal(False)


def _window_counts(repo: Repository, ids: list[str], start: datetime, end: datetime, now: datetime) -> Any:
    return (
        select(Interaction.customer_id.label("cid"), func.count().label("c"))
        .where(
            *_base_where(repo, start, min(end, now + timedelta(microseconds=1))),
            impressions_only(),
            Interaction.channel_id.in_(ids),
        )
        .group_by(Interaction.customer_id)
        .subquery()
    )


async def _current_window(
    repo: Repository, ids: list[str], caps: tuple[int, int], start: datetime, end: datetime, now: datetime
) -> dict[str, Any]:
    current, new = caps
    counts = _window_counts(repo, ids, start, end, now)
    c = counts.c.c
    stmt = select(
        func.count(),
        func.sum(case((c >= current, 1), else_=0)),
        func.sum(case((c >= new, 1), else_=0)),
        func.sum(case((_between(c, current, new), 1), else_=0)),
        func.sum(case((_between(c, new, current), 1), else_=0)),
    )
    active, before, after, unlocked, newly = (await repo.session.execute(stmt)).one()
    return {
        "active": int(active or 0),
        "before": int(before or 0),
        "after": int(after or 0),
        "unlocked": int(unlocked or 0),
        "newly": int(newly or 0),
        "sampleUnlocked": await _sample(repo, counts, current, new),
        "sampleNewly": await _sample(repo, counts, new, current),
    }


async def _sample(repo: Repository, counts: Any, low: int, high: int, size: int = 20) -> list[str]:
    if high <= low:
        return []
    stmt = select(counts.c.cid).where(_between(counts.c.c, low, high)).order_by(counts.c.cid).limit(size)
    return [str(x) for x in (await repo.session.execute(stmt)).scalars().all()]


async def frequency_levels(
    repo: Repository, ids: list[str], period: str, since: datetime, until: datetime
) -> list[dict[str, Any]]:
    """Customer-periods per impression count on the channel, with the responses they produced."""
    bucket = bucket_start(repo, period, Interaction.timestamp).label("b")
    is_imp = impressions_only()
    per = (
        select(
            func.sum(case((is_imp, 1), else_=0)).label("imps"),
            func.sum(case((and_(~is_imp, Interaction.classification == "positive"), 1), else_=0)).label(
                "pos"
            ),
            func.sum(case((and_(~is_imp, Interaction.classification == "negative"), 1), else_=0)).label(
                "neg"
            ),
        )
        .where(
            *_base_where(repo, since, until),
            Interaction.channel_id.in_(ids),
            any_row(),
            Interaction.interaction_type != "recommendation",
        )
        .group_by(Interaction.customer_id, bucket)
        .subquery()
    )
    stmt = (
        select(per.c.imps, func.count(), func.sum(per.c.pos), func.sum(per.c.neg))
        .where(per.c.imps > 0)
        .group_by(per.c.imps)
        .order_by(per.c.imps)
    )
    return [
        {"impressions": int(i), "customerPeriods": int(n), "positives": int(p or 0), "negatives": int(q or 0)}
        for i, n, p, q in (await repo.session.execute(stmt)).all()
    ]


def _history(levels: list[dict[str, Any]], current: int, new: int) -> dict[str, Any]:
    total = sum(lv["customerPeriods"] for lv in levels)
    return {
        "customerPeriods": total,
        "atCurrentCap": sum(lv["customerPeriods"] for lv in levels if lv["impressions"] >= current),
        "atNewCap": sum(lv["customerPeriods"] for lv in levels if lv["impressions"] >= new),
        "impressionsAboveNewCap": sum(
            lv["customerPeriods"] * max(0, lv["impressions"] - new) for lv in levels
        ),
        "maxObserved": max((lv["impressions"] for lv in levels), default=0),
    }


def _rates(levels: list[dict[str, Any]]) -> tuple[float, float, int]:
    imps = sum(lv["impressions"] * lv["customerPeriods"] for lv in levels)
    return (
        rate(sum(lv["positives"] for lv in levels), imps),
        rate(sum(lv["negatives"] for lv in levels), imps),
        imps,
    )


def fatigue(levels: list[dict[str, Any]], current: int, new: int) -> tuple[str, str]:
    """Risk of raising the cap, from how responses change above the current cap.

    Lowering never adds fatigue. Raising is ``high`` when it at least doubles the cap or the
    customer-periods already at the cap show 1.5x the negative rate (or 30 % fewer positives
    per impression) of those below it; ``medium`` otherwise or when history is silent.
    """
    if new <= current:
        return "low", f"Lowering the cap from {current} to {new} reduces contact pressure."
    high = [lv for lv in levels if lv["impressions"] >= current]
    low = [lv for lv in levels if lv["impressions"] < current]
    (pos_hi, neg_hi, n_hi), (pos_lo, neg_lo, n_lo) = _rates(high), _rates(low)
    if new >= 2 * current and current > 0:
        return "high", f"The new cap is {new / current:.1f}x the current one."
    if not n_hi or not n_lo:
        return "medium", "No history above and below the current cap to compare responses."
    if neg_lo and neg_hi >= 1.5 * neg_lo or not neg_lo and neg_hi > 0:
        return "high", (
            f"Customers at the cap respond negatively {neg_hi:.2%} per impression vs {neg_lo:.2%} "
            "below it: more contact is likely to add complaints and opt-outs."
        )
    if pos_lo and pos_hi <= 0.7 * pos_lo:
        return "high", f"Positive responses fall from {pos_lo:.2%} to {pos_hi:.2%} per impression at the cap."
    return "medium", (
        f"Responses hold up at the cap (positive {pos_hi:.2%} vs {pos_lo:.2%}, negative "
        f"{neg_hi:.2%} vs {neg_lo:.2%}); raise gradually and watch negatives."
    )


def _existing(catalog: Catalog, ids: list[str], period: str) -> list[str]:
    names = []
    for policy in catalog.policies:
        if policy.rule_type in CAP_TYPES and _matches_channel(catalog, policy, ids):
            limits = [f"{w.limit}/{w.label}" for w in cap_windows(policy.config) if w.period == period]
            if limits:
                names.append(f"{policy.name} ({', '.join(limits)})")
    return names


async def simulate_frequency_cap_change(
    repo: Repository,
    *,
    channel: str,
    current_cap: int,
    new_cap: int,
    period: str,
    now: datetime | None = None,
) -> CapChangeResult:
    period = check_period(period)
    if current_cap < 0 or new_cap < 0:
        raise ValidationError("caps must be non-negative", field="newCap" if new_cap < 0 else "currentCap")
    now = now or utcnow()
    catalog = await load_catalog(repo)
    ids = channel_ids(catalog, channel)
    if not ids:
        raise NotFoundError(f"channel {channel!r} not found", field="channel")
    start, end = window_bounds(period, now)
    snap = await _current_window(repo, ids, (current_cap, new_cap), start, end, now)
    since = window_since(now, period, LOOKBACK_BUCKETS[period])
    levels = await frequency_levels(repo, ids, period, since, now + timedelta(microseconds=1))
    risk, reason = fatigue(levels, current_cap, new_cap)
    name = catalog.channels[ids[0]]["name"]
    response = [
        {
            **lv,
            "positiveRate": rate(lv["positives"], lv["impressions"] * lv["customerPeriods"]),
            "negativeRate": rate(lv["negatives"], lv["impressions"] * lv["customerPeriods"]),
        }
        for lv in levels
    ]
    return CapChangeResult(
        channel=name,
        channelId=ids[0],
        period=period,
        currentCap=current_cap,
        newCap=new_cap,
        windowStart=start.isoformat(),
        windowEnd=end.isoformat(),
        activeCustomers=snap["active"],
        blockedNow=snap["before"],
        blockedAfter=snap["after"],
        customersUnlocked=snap["unlocked"],
        customersNewlySuppressed=snap["newly"],
        sampleUnlocked=snap["sampleUnlocked"],
        sampleNewlySuppressed=snap["sampleNewly"],
        history={
            "since": since.isoformat(),
            "periods": LOOKBACK_BUCKETS[period],
            **_history(levels, current_cap, new_cap),
        },
        frequencyResponse=response,
        fatigueRisk=risk,
        fatigueReason=reason,
        existingPolicies=_existing(catalog, ids, period),
        summary=_cap_summary(name, period, current_cap, new_cap, snap, risk),
        hint=None
        if levels
        else f"No impressions on {name} in the last {LOOKBACK_BUCKETS[period]} {period}s.",
    )


def _cap_summary(name: str, period: str, current: int, new: int, snap: dict[str, Any], risk: str) -> str:
    change = (
        f"unlocks {snap['unlocked']} customers"
        if new > current
        else f"newly suppresses {snap['newly']} customers"
        if new < current
        else "changes nothing"
    )
    return (
        f"{name} cap {current} -> {new} per {period}: {change} this {period} "
        f"({snap['before']} -> {snap['after']} of {snap['active']} active customers blocked); "
        f"fatigue risk {risk}."
    )
