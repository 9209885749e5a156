"""Threshold suggestions for an offer's numeric qualification rules (rebuild qualification).

Population: customers who were shown the offer (an impression or a recommendation row)
in the look-back window; a customer converted if any positive outcome for the offer
followed in the same window. Their attribute values are split into quantile bands to show
where conversion concentrates.

Suggestion: for a lower-bound rule (``gt``/``gte``) each candidate threshold ``c`` keeps
the customers with ``value ≥ c``; we pick the ``c`` that maximises the excess conversions
``Σ (converted − baseline)`` over the kept customers, where the baseline is the overall
conversion rate of the population. A band is therefore kept exactly when it converts
above average, and the current threshold wins ties (no churn without evidence). Upper
bounds (``lt``/``lte``) mirror this. Customers below the current threshold only appear
when they were shown the offer anyway (rule added later, other flows), so "looser" is only
suggested on real evidence.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import case, func, or_, select

from kaireon_mcp.core.operators import to_number
from kaireon_mcp.storage.repository import Repository
from kaireon_mcp.storage.tables import DataSchema, Interaction, Offer, QualificationRule, SchemaRow

BANDS = 4
MIN_CUSTOMERS = 20
LOWER = frozenset({"gt", "gte"})
UPPER = frozenset({"lt", "lte"})
OPERATOR_ALIASES = {">": "gt", ">=": "gte", "<": "lt", "<=": "lte"}
CHUNK = 500


@dataclass(frozen=True)
class Point:
    value: float
    converted: int


def operator_of(config: Mapping[str, Any]) -> str:
    raw = str(config.get("operator") or "eq").lower()
    return OPERATOR_ALIASES.get(raw, raw)


def attribute_of(config: Mapping[str, Any]) -> str:
    name = str(config.get("attribute") or config.get("field") or "")
    return name.split(".", 1)[1] if name.startswith("customer.") else name


def tunable(rule: QualificationRule) -> bool:
    """A numeric attribute_condition with an ordering operator can take a new threshold."""
    config = rule.config or {}
    return (
        rule.rule_type == "attribute_condition"
        and operator_of(config) in LOWER | UPPER
        and to_number(config.get("value")) is not None
        and "customerAttribute" not in config
        and bool(attribute_of(config))
    )


def _targets_offer(rule: QualificationRule, offer_id: str) -> bool:
    entries = rule.scopes or [{"scope": rule.scope, "scopeId": rule.scope_id}]
    return any(e.get("scope") == "offer" and e.get("scopeId") == offer_id for e in entries)


async def offer_rules(repo: Repository, offer: Offer) -> tuple[list[QualificationRule], list[dict[str, Any]]]:
    """(rules scoped to this offer that can be tuned, shared rules reported but left alone)."""
    rules = await repo.all(QualificationRule, QualificationRule.status == "active")
    own = [r for r in rules if _targets_offer(r, offer.id) and tunable(r)]
    shared = [
        {
            "ruleId": r.id,
            "name": r.name,
            "scope": r.scope,
            "reason": "shared with other offers; not tuned here",
        }
        for r in rules
        if tunable(r)
        and not _targets_offer(r, offer.id)
        and r.scope in ("global", "category", "subcategory")
        and r.scope_id in (None, "", offer.category_id, offer.sub_category_id)
    ]
    return own, shared


async def shown_customers(repo: Repository, offer_id: str, since: datetime) -> dict[str, int]:
    """customer id → 1 if converted else 0, over customers shown the offer since ``since``."""
    shown = or_(Interaction.is_impression, Interaction.interaction_type == "recommendation")
    converted = func.max(case((Interaction.classification == "positive", 1), else_=0))
    stmt = (
        select(Interaction.customer_id, func.max(case((shown, 1), else_=0)), converted)
        .where(
            Interaction.tenant_id == repo.ctx.tenant_id,
            Interaction.offer_id == offer_id,
            Interaction.timestamp >= since,
        )
        .group_by(Interaction.customer_id)
    )
    rows = (await repo.session.execute(stmt)).all()
    return {cid: int(conv) for cid, was_shown, conv in rows if was_shown}


async def customer_values(repo: Repository, customer_ids: Sequence[str], attribute: str) -> dict[str, float]:
    """The attribute from each customer's profile row (customer-entity schemas, first found)."""
    out: dict[str, float] = {}
    for start in range(0, len(customer_ids), CHUNK):
        chunk = list(customer_ids[start : start + CHUNK])
        stmt = (
            select(SchemaRow.row_key, SchemaRow.data)
            .join(DataSchema, DataSchema.id == SchemaRow.schema_id)
            .where(
                repo.tenant_filter(SchemaRow),
                DataSchema.entity_type == "customer",
                DataSchema.deleted_at.is_(None),
                SchemaRow.row_key.in_(chunk),
            )
            .order_by(DataSchema.created_at)
        )
        for key, data in (await repo.session.execute(stmt)).all():
            value = to_number((data or {}).get(attribute))
            if value is not None and key not in out:
                out[key] = value
    return out


def quantile_edges(values: Sequence[float], bands: int = BANDS) -> list[float]:
    """Distinct lower edges of ``bands`` equal-count bands (nearest-rank on the sorted values)."""
    ordered = sorted(values)
    edges = [ordered[(len(ordered) * k) // bands] for k in range(bands)]
    return sorted(set(edges))


def band_table(points: Sequence[Point], edges: Sequence[float]) -> list[dict[str, Any]]:
    """Per band ``[edge_k, edge_k+1)``: customers, conversions and rate."""
    table = []
    for k, low in enumerate(edges):
        high = edges[k + 1] if k + 1 < len(edges) else None
        members = [p for p in points if p.value >= low and (high is None or p.value < high)]
        conv = sum(p.converted for p in members)
        table.append(
            {
                "from": low,
                "to": high,
                "customers": len(members),
                "conversions": conv,
                "rate": round(conv / len(members), 4) if members else 0.0,
            }
        )
    return table


def _keeps(value: float, threshold: float, operator: str) -> bool:
    return {
        "gt": value > threshold,
        "gte": value >= threshold,
        "lt": value < threshold,
        "lte": value <= threshold,
    }[operator]


def excess(points: Sequence[Point], threshold: float, operator: str, baseline: float) -> float:
    return sum(p.converted - baseline for p in points if _keeps(p.value, threshold, operator))


def _candidates(points: Sequence[Point], edges: Sequence[float], operator: str) -> list[float]:
    if operator in LOWER:
        return list(edges)
    # upper bounds keep values at or below: candidate cut points are the band tops
    tops = [edges[k + 1] for k in range(len(edges) - 1)] + [max(p.value for p in points)]
    return tops


def suggest(points: Sequence[Point], operator: str, current: float) -> dict[str, Any]:
    """The excess-maximising threshold among the band edges and the current value."""
    if len(points) < MIN_CUSTOMERS:
        return {
            "verdict": "insufficient_data",
            "suggested": current,
            "reason": f"needs {MIN_CUSTOMERS}+ shown",
        }
    conversions = sum(p.converted for p in points)
    if conversions == 0:
        return {
            "verdict": "insufficient_data",
            "suggested": current,
            "reason": "no conversions in the window",
        }
    baseline = conversions / len(points)
    edges = quantile_edges([p.value for p in points])
    best, best_gain = current, excess(points, current, operator, baseline)
    for cand in sorted(_candidates(points, edges, operator)):
        gain = excess(points, cand, operator, baseline)
        if gain > best_gain + 1e-9:
            best, best_gain = cand, gain
    tighter = (best > current) if operator in LOWER else (best < current)
    verdict = "keep" if best == current else ("tighter" if tighter else "looser")
    kept = [p for p in points if _keeps(p.value, best, operator)]
    return {
        "verdict": verdict,
        "suggested": best,
        "baselineRate": round(baseline, 4),
        "keptCustomers": len(kept),
        "keptRate": round(sum(p.converted for p in kept) / len(kept), 4) if kept else 0.0,
        "excessConversions": round(best_gain, 4),
    }
