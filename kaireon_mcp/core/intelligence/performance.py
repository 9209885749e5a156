"""analyzeOfferPerformance: per-offer KPIs for a period and the one before it, in one query.

The query reads only ``[previous start, now]`` and splits the two periods with conditional
aggregates (``SUM(CASE ...)``) grouped by offer, so the database returns one row per offer.
Periods are rolling (last 1/7/30 days ending now) so "this week" is never a half-empty
calendar week. CTR = clicks / impressions and CVR = conversions / impressions, both per
impression as the dashboards show them.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from pydantic import BaseModel, Field
from sqlalchemy import case, func, select

from kaireon_mcp.core.intelligence.common import (
    CLICK_TYPES,
    CONVERSION_TYPES,
    PERIOD_DAYS,
    any_row,
    check_period,
    impressions_only,
    pct,
    rate,
    trend,
)
from kaireon_mcp.storage.repository import Repository
from kaireon_mcp.storage.tables import Interaction, Offer
from kaireon_mcp.storage.types import utcnow

#: an offer needs this many impressions in the period before it is called a top/bottom performer
MIN_IMPRESSIONS = 20
TOP_FACTOR = 1.5
BOTTOM_FACTOR = 0.5


class OfferKpis(BaseModel):
    offerId: str
    offerName: str
    status: str | None = None
    impressions: int
    clicks: int
    conversions: int
    revenue: float
    ctr: float = Field(description="clicks per impression, %")
    cvr: float = Field(description="conversions per impression, %")
    previous: dict[str, float]
    trend: dict[str, float | None] = Field(description="% change vs the previous period")


class OfferPerformanceResult(BaseModel):
    period: str
    currentStart: str
    previousStart: str
    until: str
    totals: dict[str, Any]
    offers: list[OfferKpis]
    topPerformers: list[str]
    bottomPerformers: list[str]
    insights: list[dict[str, Any]]
    hint: str | None = None


def _sum_if(condition: Any, value: Any = 1) -> Any:
    return func.sum(case((condition, value), else_=0))


async def offer_kpis(repo: Repository, now: datetime, days: int) -> dict[str, dict[str, Any]]:
    """``{offerId: {cur: [imps, clicks, convs, revenue], prev: [...]}}`` from one GROUP BY.

    Grouping by (offer, is-current-period) rather than by offer alone also keeps SQLite on the
    covering analytics index: for a bare ``GROUP BY offer_id`` it would walk the offer index to
    skip the sort and then fetch every table row.
    """
    end = now + timedelta(microseconds=1)
    current, previous = now - timedelta(days=days), now - timedelta(days=2 * days)
    is_current = case((Interaction.timestamp >= current, 1), else_=0).label("cur")
    stmt = (
        select(
            Interaction.offer_id,
            is_current,
            _sum_if(impressions_only()),
            _sum_if(Interaction.interaction_type.in_(CLICK_TYPES)),
            _sum_if(Interaction.interaction_type.in_(CONVERSION_TYPES)),
            func.sum(func.coalesce(Interaction.conversion_value, 0.0)),
        )
        .where(
            Interaction.tenant_id == repo.ctx.tenant_id,
            any_row(),
            Interaction.timestamp >= previous,
            Interaction.timestamp < end,
            Interaction.offer_id.is_not(None),
            Interaction.interaction_type != "recommendation",
        )
        .group_by(Interaction.offer_id, is_current)
    )
    out: dict[str, dict[str, Any]] = {}
    for offer_id, cur, *values in (await repo.session.execute(stmt)).all():
        entry = out.setdefault(str(offer_id), {"cur": [0.0] * 4, "prev": [0.0] * 4})
        entry["cur" if cur else "prev"] = [float(v or 0) for v in values]
    return out


def _kpis(offer_id: str, offer: dict[str, Any], values: dict[str, list[float]]) -> OfferKpis:
    imps, clicks, convs, revenue = values["cur"]
    p_imps, p_clicks, p_convs, p_revenue = values["prev"]
    ctr, cvr = pct(clicks, imps), pct(convs, imps)
    p_ctr, p_cvr = pct(p_clicks, p_imps), pct(p_convs, p_imps)
    return OfferKpis(
        offerId=offer_id,
        offerName=offer.get("name", offer_id),
        status=offer.get("status"),
        impressions=int(imps),
        clicks=int(clicks),
        conversions=int(convs),
        revenue=round(revenue, 2),
        ctr=ctr,
        cvr=cvr,
        previous={
            "impressions": p_imps,
            "clicks": p_clicks,
            "conversions": p_convs,
            "revenue": round(p_revenue, 2),
            "ctr": p_ctr,
            "cvr": p_cvr,
        },
        trend={
            "impressions": trend(imps, p_imps),
            "ctr": trend(ctr, p_ctr),
            "cvr": trend(cvr, p_cvr),
            "revenue": trend(revenue, p_revenue),
        },
    )


def _insight(kind: str, severity: str, offer: OfferKpis, message: str, action: str) -> dict[str, Any]:
    return {
        "type": kind,
        "severity": severity,
        "offerId": offer.offerId,
        "offerName": offer.offerName,
        "message": message,
        "action": action,
    }


def insights_for(rows: list[OfferKpis], average_cvr: float) -> list[dict[str, Any]]:
    """Actionable findings: dead offers, zero conversions, outliers vs the average, collapses."""
    out = []
    for row in rows:
        if row.status == "active" and row.impressions == 0:
            out.append(
                _insight(
                    "not_delivered",
                    "warning",
                    row,
                    "Active but no impressions this period.",
                    "Check its creatives, qualification rules and contact policies (explainDecision).",
                )
            )
        elif row.impressions >= MIN_IMPRESSIONS and row.conversions == 0:
            out.append(
                _insight(
                    "zero_conversions",
                    "warning",
                    row,
                    f"{row.impressions} impressions and no conversion.",
                    "Rework the creative or lower its priority; consider pausing it.",
                )
            )
        elif row.impressions >= MIN_IMPRESSIONS and average_cvr and row.cvr >= TOP_FACTOR * average_cvr:
            out.append(
                _insight(
                    "top_performer",
                    "info",
                    row,
                    f"CVR {row.cvr}% is {row.cvr / average_cvr:.1f}x the average {average_cvr}%.",
                    "Raise its priority or relax policies that limit it.",
                )
            )
        elif row.impressions >= MIN_IMPRESSIONS and average_cvr and row.cvr <= BOTTOM_FACTOR * average_cvr:
            out.append(
                _insight(
                    "under_performer",
                    "warning",
                    row,
                    f"CVR {row.cvr}% is under half the average {average_cvr}%.",
                    "Test a new creative or narrow its audience.",
                )
            )
        drop = row.trend.get("impressions")
        if drop is not None and drop <= -50 and row.previous["impressions"] >= MIN_IMPRESSIONS:
            out.append(
                _insight(
                    "delivery_drop",
                    "warning",
                    row,
                    f"Impressions fell {abs(drop)}% vs the previous period.",
                    "Look for a new policy, rule, budget or schedule blocking it.",
                )
            )
    return out


def _performers(rows: list[OfferKpis], top: bool) -> list[str]:
    ranked = [r for r in rows if r.impressions >= MIN_IMPRESSIONS]
    ranked.sort(key=lambda r: (r.cvr, r.ctr, r.revenue), reverse=top)
    return [r.offerName for r in ranked[:3]]


async def analyze_offer_performance(
    repo: Repository, *, period: str | None = None, limit: int = 20, now: datetime | None = None
) -> OfferPerformanceResult:
    period = check_period(period)
    now = now or utcnow()
    days = PERIOD_DAYS[period]
    kpis = await offer_kpis(repo, now, days)
    offers = {o.id: o.to_dict() for o in await repo.all(Offer)}
    ids = set(kpis) | {oid for oid, o in offers.items() if o.get("status") == "active"}
    empty = {"cur": [0.0] * 4, "prev": [0.0] * 4}
    rows = [_kpis(oid, offers.get(oid, {}), kpis.get(oid, empty)) for oid in ids]
    rows.sort(key=lambda r: (-r.impressions, -r.revenue, r.offerName))
    imps = sum(r.impressions for r in rows)
    clicks, convs = sum(r.clicks for r in rows), sum(r.conversions for r in rows)
    revenue = round(sum(r.revenue for r in rows), 2)
    average_cvr = pct(convs, imps)
    previous_imps = sum(r.previous["impressions"] for r in rows)
    return OfferPerformanceResult(
        period=period,
        currentStart=(now - timedelta(days=days)).isoformat(),
        previousStart=(now - timedelta(days=2 * days)).isoformat(),
        until=now.isoformat(),
        totals={
            "offers": len(rows),
            "impressions": imps,
            "clicks": clicks,
            "conversions": convs,
            "revenue": revenue,
            "ctr": pct(clicks, imps),
            "cvr": average_cvr,
            "impressionsTrend": trend(imps, previous_imps),
            "revenuePerImpression": rate(revenue, imps),
        },
        offers=rows[:limit],
        topPerformers=_performers(rows, top=True),
        bottomPerformers=_performers(rows, top=False),
        insights=insights_for(rows, average_cvr),
        hint=None
        if imps or previous_imps
        else f"No impressions in the last {2 * days} days; "
        "record outcomes (recordOutcome) or seed the demo to see performance.",
    )
