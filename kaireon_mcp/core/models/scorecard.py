"""Scorecard: additive points per matching rule, then squashed into [0, 1].

``raw = baseScore (default 50) + Σ points`` of the rules that match.

Normalisation (``config.normalization``):

* ``sigmoid`` (default): ``score = sigmoid((raw − midpoint) / scale)`` with
  ``midpoint`` default 50 and ``scale`` default 10, so the untouched base score maps
  to 0.5 and every 10 points moves the log-odds by one.
* ``linear``: ``(raw − minScore) / (maxScore − minScore)`` clamped to [0, 1]. When the
  bounds are not configured they default to the lowest and highest raw score the
  rules can produce (base + all negative points, base + all positive points).

A rule whose field is missing from the features never matches (for every operator,
including ``neq`` / ``not_in``): absent data must not earn points. Scorecards are
built by hand, so there is no ``learn`` or ``train``.
"""

from __future__ import annotations

import random
from collections.abc import Mapping, Sequence
from typing import Any

from kaireon_mcp.core.models.base import (
    Explanation,
    ScoreResult,
    clamp01,
    config_number,
    explanation,
    sigmoid,
    sort_explanations,
    to_number,
)
from kaireon_mcp.core.operators import compare_canonical, normalize_operator, resolve_field
from kaireon_mcp.errors import ValidationError

OPERATORS = ("eq", "neq", "gt", "gte", "lt", "lte", "in", "not_in", "contains", "starts_with")


def _lookup(features: Mapping[str, Any], field_name: Any) -> tuple[bool, Any]:
    """Flat, dotted or nested feature lookup; ``None`` counts as absent."""
    if not isinstance(field_name, str) or not field_name:
        return False, None
    found, value = resolve_field(field_name, features)
    return found and value is not None, value


def rule_matches(rule: Mapping[str, Any], features: Mapping[str, Any], index: int = 0) -> bool:
    """Evaluate one ``{field, operator, value}`` rule with the shared :func:`operators.compare`.

    The ten scorecard operators (and their aliases) come from the shared evaluator so
    scorecards, filters and qualification rules agree on coercion and list handling.
    """
    return _match(rule, features, index)[0]


def _match(rule: Mapping[str, Any], features: Mapping[str, Any], index: int) -> tuple[bool, Any]:
    """:func:`rule_matches` plus the feature value it read, so a hit needs no second lookup."""
    try:
        op = normalize_operator(str(rule.get("operator")))
    except ValidationError as exc:
        raise ValidationError(exc.message, field=f"config.rules[{index}].operator") from exc
    found, value = _lookup(features, rule.get("field"))
    return found and compare_canonical(value, op, rule.get("value")), value


def _rules(config: Mapping[str, Any]) -> Sequence[Mapping[str, Any]]:
    rules = config.get("rules") or []
    if not isinstance(rules, list) or not all(type(r) is dict or isinstance(r, Mapping) for r in rules):
        raise ValidationError("config.rules must be a list of rule objects", field="config.rules")
    return rules


def _points(rule: Mapping[str, Any], index: int) -> float:
    pts = to_number(rule.get("points", 0))
    if pts is None:
        raise ValidationError("rule points must be a number", field=f"config.rules[{index}].points")
    return pts


def _linear_bounds(
    config: Mapping[str, Any], base: float, rules: Sequence[Mapping[str, Any]]
) -> tuple[float, float]:
    pts = [_points(r, i) for i, r in enumerate(rules)]
    lo = config_number(config, "minScore", base + sum(p for p in pts if p < 0))
    hi = config_number(config, "maxScore", base + sum(p for p in pts if p > 0))
    if hi <= lo:
        raise ValidationError("config.maxScore must be greater than config.minScore", field="config.maxScore")
    return lo, hi


def normalize(config: Mapping[str, Any], raw: float, rules: Sequence[Mapping[str, Any]]) -> float:
    """Map a raw point total to [0, 1] per ``config.normalization`` (see module doc)."""
    mode = config.get("normalization") or "sigmoid"
    base = config_number(config, "baseScore", 50.0)
    if mode == "sigmoid":
        scale = config_number(config, "scale", 10.0)
        if scale <= 0:
            raise ValidationError("config.scale must be positive", field="config.scale")
        return sigmoid((raw - config_number(config, "midpoint", 50.0)) / scale)
    if mode == "linear":
        lo, hi = _linear_bounds(config, base, rules)
        return clamp01((raw - lo) / (hi - lo))
    raise ValidationError("config.normalization must be 'sigmoid' or 'linear'", field="config.normalization")


def score(
    config: Mapping[str, Any],
    state: Mapping[str, Any],
    features: Mapping[str, Any],
    offer_id: str | None = None,
    rng: random.Random | None = None,
) -> ScoreResult:
    """Sum the points of matching rules; explanations list only the rules that matched."""
    rules = _rules(config)
    raw = config_number(config, "baseScore", 50.0)
    parts: list[Explanation] = []
    for i, rule in enumerate(rules):
        matched, value = _match(rule, features, i)
        if matched:
            pts = _points(rule, i)
            raw += pts
            parts.append(explanation(str(rule["field"]), pts, value))
    return ScoreResult(
        score=normalize(config, raw, rules), raw_score=raw, explanations=sort_explanations(parts)
    )
