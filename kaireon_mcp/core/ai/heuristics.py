"""Deterministic analyzer fallbacks, exactly as http-bridge.md section 3.6.6 prescribes.

They run when the model is unavailable or answers badly, so their output is pinned by
tests: same input, same recommendations, on every machine.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from types import ModuleType

__all__ = [
    "BANDS",
    "CreativeStats",
    "FieldSpec",
    "band_of",
    "band_rates",
    "content_heuristic",
    "numeric_values",
    "policies_heuristic",
    "segments_heuristic",
]

BANDS: tuple[int, ...] = (1, 3, 5, 7, 10)
NO_NUMERIC = "No numeric fields available for segmentation"
ESTIMATED_IMPACT = "Applying this cap would optimize contact frequency for better conversion."
SUGGESTED_USE = {
    "Low": "Re-engagement offers and entry-level incentives to lift this group.",
    "Mid": "Standard cross-sell offers; test upgrades to move this group up.",
    "High": "Premium and loyalty offers; protect this high-value group from over-contact.",
}

Result = dict[str, Any]


@dataclass(frozen=True)
class FieldSpec:
    name: str
    display_name: str


def _number(value: Any) -> float | None:
    if isinstance(value, bool) or value is None:
        return None
    if isinstance(value, int | float):
        return float(value) if math.isfinite(value) else None
    if isinstance(value, str):
        try:
            parsed = float(value)
        except ValueError:
            return None
        return parsed if math.isfinite(parsed) else None
    return None


def numeric_values(rows: Sequence[dict[str, Any]], field: str) -> list[float]:
    """The field's non-null numeric values, in row order."""
    return [v for v in (_number(row.get(field)) for row in rows) if v is not None]


def _plain(value: float) -> float | int:
    return int(value) if float(value).is_integer() else round(float(value), 6)


def _np() -> ModuleType:
    """numpy on first use: every server start imports this module through the tool registry."""
    import numpy

    return numpy


def _variability(values: list[float]) -> float:
    np = _np()
    mean = float(np.mean(values))
    std = float(np.std(values))  # population standard deviation (ddof=0)
    return std / abs(mean) if mean != 0 else std


def _most_variable(
    fields: Sequence[FieldSpec], rows: Sequence[dict[str, Any]]
) -> tuple[FieldSpec, list[float]] | None:
    best: tuple[FieldSpec, list[float]] | None = None
    best_score = -1.0
    for spec in fields:
        values = numeric_values(rows, spec.name)
        if len(values) < 2:
            continue
        score = _variability(values)
        if score > best_score:  # strict: ties keep the earlier field (schema order)
            best, best_score = (spec, values), score
    return best


def segments_heuristic(
    fields: Sequence[FieldSpec], rows: Sequence[dict[str, Any]]
) -> tuple[list[Result], list[str]]:
    """Split the most variable numeric field into Low / Mid / High at the 33rd and 67th percentiles."""
    picked = _most_variable(fields, rows)
    if picked is None:
        return [], [NO_NUMERIC]
    spec, values = picked
    np = _np()
    p33, p67 = (float(x) for x in np.percentile(values, [33, 67]))
    mean = float(np.mean(values))
    buckets = {
        "Low": (
            [v for v in values if v < p33],
            [{"field": spec.name, "operator": "lt", "value": _plain(p33)}],
        ),
        "Mid": (
            [v for v in values if p33 <= v < p67],
            [
                {"field": spec.name, "operator": "gte", "value": _plain(p33)},
                {"field": spec.name, "operator": "lt", "value": _plain(p67)},
            ],
        ),
        "High": (
            [v for v in values if v >= p67],
            [{"field": spec.name, "operator": "gte", "value": _plain(p67)}],
        ),
    }
    bounds = {
        "Low": f"below {p33:,.2f}",
        "Mid": f"from {p33:,.2f} to below {p67:,.2f}",
        "High": f"of {p67:,.2f} or more",
    }
    results = []
    for label, (members, rules) in buckets.items():
        avg = float(np.mean(members)) if members else 0.0
        results.append(
            {
                "name": f"{label} {spec.display_name}",
                "description": f"Customers with {spec.display_name.lower()} {bounds[label]}.",
                "size": len(members),
                "percentage": round(100 * len(members) / len(values)),
                "filterRules": rules,
                "characteristics": [
                    f"{spec.name} average {avg:.1f} vs population {mean:.1f}",
                    f"{len(members)} of {len(values)} analyzed rows",
                ],
                "suggestedUse": SUGGESTED_USE[label],
            }
        )
    return results, []


def band_of(contacts: int) -> int:
    """Smallest band that holds the count; more than 10 contacts falls in band 10."""
    return next((b for b in BANDS if contacts <= b), BANDS[-1])


def band_rates(customer_weeks: Sequence[tuple[int, bool]]) -> dict[int, tuple[int, float]]:
    counts = {b: [0, 0] for b in BANDS}
    for contacts, converted in customer_weeks:
        if contacts < 1:
            continue
        slot = counts[band_of(contacts)]
        slot[0] += 1
        slot[1] += int(converted)
    return {b: (n, k / n) for b, (n, k) in counts.items() if n > 0}


def _cap(rates: dict[int, tuple[int, float]], peak: int) -> int:
    peak_rate = rates[peak][1]
    later = [b for b in BANDS if b > peak and b in rates]
    drop_off = next((b for b in later if rates[b][1] < peak_rate), None)
    if drop_off is None:
        return peak
    return BANDS[BANDS.index(drop_off) - 1]


def _confidence(samples: int, min_sample: int) -> str:
    if samples >= 10 * min_sample:
        return "high"
    return "medium" if samples >= min_sample else "low"


def policies_heuristic(
    customer_weeks: Sequence[tuple[int, bool]], interaction_count: int, policy: dict[str, Any]
) -> tuple[list[Result], list[str]]:
    """Recommend a weekly cap one band below the point where conversion starts to drop."""
    rates = band_rates(customer_weeks)
    samples = sum(n for n, _ in rates.values())
    min_sample = int(policy.get("minSampleSize", 100))
    if samples < min_sample:
        return [], [f"Only {samples} customer-weeks of contact history; at least {min_sample} are needed."]
    peak = max(rates, key=lambda b: (rates[b][1], -b))  # highest rate, ties -> smaller band
    peak_rate = rates[peak][1]
    cap = min(_cap(rates, peak), int(policy.get("weeklyCap", 10)))
    description = (
        f"Analysis of {interaction_count:,} interactions shows conversion rate peaks at "
        f"{peak} contacts/week ({peak_rate * 100:.1f}%)."
    )
    later = [b for b in BANDS if b > peak and b in rates]
    if later:
        worst = min(later, key=lambda b: (rates[b][1], b))
        drop = (peak_rate - rates[worst][1]) / peak_rate if peak_rate else 0.0
        description += f" Rate drops {drop * 100:.0f}% at {worst} contacts/week."
    result = {
        "type": "policy",
        "title": f"Set frequency cap to {cap}/week",
        "description": description,
        "payload": {"ruleType": "frequency_cap", "scope": "global", "maxContactsPerWeek": cap},
        "confidence": _confidence(samples, min_sample),
        "source": "llm",
        "metadata": {
            "frequencyBands": [
                {"contactsPerWeek": b, "conversionRate": round(rates[b][1], 4)} for b in BANDS if b in rates
            ],
            "estimatedImpact": ESTIMATED_IMPACT,
        },
    }
    return [result], []


@dataclass(frozen=True)
class CreativeStats:
    creative_id: str
    name: str
    channel_id: str | None
    impressions: int
    clicks: int
    conversions: int
    revenue: float

    @property
    def ctr(self) -> float:
        return self.clicks / self.impressions if self.impressions else 0.0

    @property
    def cvr(self) -> float:
        return self.conversions / self.clicks if self.clicks else 0.0

    @property
    def rpi(self) -> float:
        return self.revenue / self.impressions if self.impressions else 0.0


def _finding(metric: str, value: float, avg: float) -> str:
    ratio = value / avg if avg else 0.0
    return f"{metric} {value:.2%} vs average {avg:.2%} ({ratio:.2f}x)"


def _insight(c: CreativeStats, avg_ctr: float, avg_cvr: float) -> Result | None:
    low = [(m, v, a) for m, v, a in (("CTR", c.ctr, avg_ctr), ("CVR", c.cvr, avg_cvr)) if v < 0.5 * a]
    high = [(m, v, a) for m, v, a in (("CTR", c.ctr, avg_ctr), ("CVR", c.cvr, avg_cvr)) if v > 1.5 * a]
    if not low and not high:
        return None
    label = "underperformer" if low else "top_performer"
    suggestion = (
        "Refresh the copy and call to action, or test a new variant against this creative."
        if low
        else "Reuse this creative's message and format in other channels and offers."
    )
    return {
        "creativeId": c.creative_id,
        "creativeName": c.name,
        "channelId": c.channel_id,
        "metrics": {
            "impressions": c.impressions,
            "clicks": c.clicks,
            "conversions": c.conversions,
            "revenue": c.revenue,
            "ctr": round(c.ctr, 6),
            "cvr": round(c.cvr, 6),
            "rpi": round(c.rpi, 6),
        },
        "classification": label,
        "findings": [_finding(m, v, a) for m, v, a in (*low, *high)],
        "suggestion": suggestion,
    }


def content_heuristic(
    creatives: Sequence[CreativeStats], min_impressions: int
) -> tuple[list[Result], list[str]]:
    """Flag CTR/CVR below 50 % of average as underperformers, above 150 % as top performers."""
    kept = [c for c in creatives if c.impressions >= min_impressions]
    if len(kept) < 2:
        return [], [f"At least 2 creatives with {min_impressions} or more impressions are needed to compare."]
    avg_ctr = sum(c.ctr for c in kept) / len(kept)
    avg_cvr = sum(c.cvr for c in kept) / len(kept)
    results = [i for i in (_insight(c, avg_ctr, avg_cvr) for c in kept) if i is not None]
    return results, []
