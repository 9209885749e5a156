"""Replay stored PRIE factors under new arbitration weights (simulate weight change).

Each trace keeps, per scored offer, the factors P, R, I, E and the fit multiplier the
live decision used, so the score under other weights is exact arithmetic, not a model of
the pipeline: ``prie(P, R, I, E; w') × fit``. Rows that were not PRIE-scored (mandatory,
priority_weighted, propensity) keep their recorded score, because weights do not touch
them. The top pick is the highest score (ties by offer id); ranking-node effects such as
diversity re-ordering are not replayed, so "top pick" means top by score.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping, Sequence
from typing import Any

from kaireon_mcp.core.scoring import PrieWeights, prie_score, weights_from_profile
from kaireon_mcp.errors import ValidationError

PRIE_KEYS = ("P", "R", "I", "E")
MAX_EXAMPLES = 10


def parse_weights(raw: Mapping[str, Any]) -> PrieWeights:
    """Profile-style weights (aliases conversion/recency/margin/fairness), normalised to sum 1."""
    weights = weights_from_profile(raw)
    if weights is None:
        raise ValidationError(
            "weights must name at least one of propensity/relevance/impact/emphasis "
            "(or conversion/recency/margin/fairness) with a positive value",
            field="weights",
        )
    return weights


def _fit(row: Mapping[str, Any]) -> float:
    factors = row.get("factors") or {}
    value = factors.get("fit", row.get("fitMultiplier", 1.0))
    return float(value) if isinstance(value, int | float) else 1.0


def rescore(row: Mapping[str, Any], weights: PrieWeights) -> float | None:
    """The row's score under ``weights``, or None when it carries no PRIE factors."""
    factors = row.get("factors") or {}
    if not all(isinstance(factors.get(k), int | float) for k in PRIE_KEYS):
        return None
    p, r, i, e = (float(factors[k]) for k in PRIE_KEYS)
    return prie_score(p, r, i, e, weights) * _fit(row)


def _top(scores: Mapping[str, float]) -> str:
    return min(scores, key=lambda offer: (-scores[offer], offer))


def replay_trace(rows: Sequence[Mapping[str, Any]], weights: PrieWeights) -> tuple[str, str] | None:
    """(top offer before, top offer after), or None when nothing in the trace is replayable."""
    before: dict[str, float] = {}
    after: dict[str, float] = {}
    replayable = False
    for row in rows:
        offer = row.get("offerId")
        recorded = row.get("score")
        if not offer or not isinstance(recorded, int | float):
            continue
        new = rescore(row, weights)
        replayable = replayable or new is not None
        before[str(offer)] = float(recorded)
        after[str(offer)] = float(recorded) if new is None else new
    if not replayable:
        return None
    return _top(before), _top(after)


def _movers(before: Counter[str], after: Counter[str], names: Mapping[str, str]) -> list[dict[str, Any]]:
    return [
        {
            "offerId": offer,
            "offerName": names.get(offer),
            "topPicksBefore": before[offer],
            "topPicksAfter": after[offer],
            "delta": after[offer] - before[offer],
        }
        for offer in sorted(set(before) | set(after))
        if after[offer] != before[offer]
    ]


def simulate(
    traces: Sequence[Mapping[str, Any]], weights: PrieWeights, names: Mapping[str, str] | None = None
) -> dict[str, Any]:
    """Winners (more top picks), losers (fewer) and how many decisions would change."""
    names = names or {}
    before: Counter[str] = Counter()
    after: Counter[str] = Counter()
    changed: list[dict[str, Any]] = []
    skipped = 0
    for trace in traces:
        picks = replay_trace(trace.get("scoringResults") or [], weights)
        if picks is None:
            skipped += 1
            continue
        before[picks[0]] += 1
        after[picks[1]] += 1
        if picks[0] != picks[1]:
            changed.append({"traceId": trace.get("id"), "before": picks[0], "after": picks[1]})
    movers = _movers(before, after, names)
    replayed = sum(before.values())
    return {
        "weights": {k: round(v, 6) for k, v in zip(PRIE_KEYS, _core(weights), strict=True)},
        "tracesReplayed": replayed,
        "tracesSkipped": skipped,
        "changedTopPicks": len(changed),
        "changedShare": round(len(changed) / replayed, 4) if replayed else 0.0,
        "winners": sorted((m for m in movers if m["delta"] > 0), key=lambda m: (-m["delta"], m["offerId"])),
        "losers": sorted((m for m in movers if m["delta"] < 0), key=lambda m: (m["delta"], m["offerId"])),
        "examples": changed[:MAX_EXAMPLES],
    }


def _core(weights: PrieWeights) -> tuple[float, float, float, float]:
    return weights.propensity, weights.relevance, weights.impact, weights.emphasis
