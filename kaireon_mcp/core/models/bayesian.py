"""Naive Bayes with Laplace smoothing over binned / categorical predictors.

State (JSON-able)::

    {"priors": {"positive": n, "negative": n},
     "likelihoods": {field: {"positive": {bin: n}, "negative": {bin: n}}},
     "sampleCount": n, "binEdges": {field: [...]}}     # binEdges only when trained

With α = ``config.smoothing`` (default 1, i.e. Laplace):

* ``P(c) = (n_c + α) / (N + 2α)``
* ``P(bin | c) = (n_c,bin + α) / (n_c,field + α·K)`` where K is the number of bins of
  the field (``len(binEdges) + 1`` for numeric fields, otherwise the distinct values
  seen in either class plus the one being scored when unseen).

Numeric predictors are binned by ``config.binEdges[field]`` (falling back to edges
``train`` derived from quartiles); a value equal to an edge belongs to the bin above.
Fields without edges are categorical (their text is the bin). Missing features are
skipped, which is the usual Naive Bayes treatment of absent evidence.

``confidence = min(1, sqrt(sampleCount / 1000))``; explanation contribution of a field
is ``log P(bin | positive) − log P(bin | negative)`` (its push on the log-odds).
"""

from __future__ import annotations

import bisect
import copy
import math
import random
from collections.abc import Mapping, Sequence
from typing import Any

from kaireon_mcp.core.models.base import (
    Explanation,
    ScoreResult,
    check_classification,
    config_number,
    explanation,
    labelled_rows,
    predictor_fields,
    sigmoid,
    sort_explanations,
    stratified_split,
    to_number,
    training_seed,
)
from kaireon_mcp.core.models.metrics import binary_metrics, quantile_edges
from kaireon_mcp.errors import ValidationError

CLASSES = ("positive", "negative")
AUTO_BINS = 4


def _fmt(x: float) -> str:
    return f"{x:g}"


def bin_label(value: Any, edges: Sequence[float] | None) -> str | None:
    """The bin a feature value falls into, as a stable JSON key; ``None`` when unusable."""
    if value is None:
        return None
    if edges:
        num = to_number(value)
        if num is None:
            return None
        i = bisect.bisect_right(edges, num)
        if i == 0:
            return f"<{_fmt(edges[0])}"
        if i == len(edges):
            return f">={_fmt(edges[-1])}"
        return f"[{_fmt(edges[i - 1])},{_fmt(edges[i])})"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float | str):
        return str(value)
    return None


def _edges(config: Mapping[str, Any], state: Mapping[str, Any], field_name: str) -> list[float] | None:
    for source in (config.get("binEdges") or {}, state.get("binEdges") or {}):
        edges = source.get(field_name)
        if edges:
            nums = [to_number(e) for e in edges]
            if any(n is None for n in nums):
                raise ValidationError("binEdges must be numbers", field=f"config.binEdges.{field_name}")
            return sorted(float(n) for n in nums if n is not None)
    return None


def _fields(config: Mapping[str, Any], state: Mapping[str, Any]) -> list[str]:
    configured = predictor_fields(config.get("predictors"))
    return configured or sorted((state.get("likelihoods") or {}).keys())


def _class_counts(state: Mapping[str, Any], field_name: str, cls: str) -> Mapping[str, float]:
    return ((state.get("likelihoods") or {}).get(field_name) or {}).get(cls) or {}


def _log_likelihood(
    state: Mapping[str, Any], field_name: str, label: str, n_bins: int, alpha: float
) -> dict[str, float]:
    out: dict[str, float] = {}
    for cls in CLASSES:
        counts = _class_counts(state, field_name, cls)
        total = float(sum(counts.values()))
        out[cls] = math.log((float(counts.get(label, 0)) + alpha) / (total + alpha * n_bins))
    return out


def _n_bins(state: Mapping[str, Any], field_name: str, label: str, edges: list[float] | None) -> int:
    if edges:
        return len(edges) + 1
    seen = set(_class_counts(state, field_name, "positive")) | set(
        _class_counts(state, field_name, "negative")
    )
    seen.add(label)
    return len(seen)


def _log_prior(state: Mapping[str, Any], alpha: float) -> dict[str, float]:
    priors = state.get("priors") or {}
    n = {cls: float(priors.get(cls, 0)) for cls in CLASSES}
    total = n["positive"] + n["negative"]
    return {cls: math.log((n[cls] + alpha) / (total + 2 * alpha)) for cls in CLASSES}


def _sample_count(state: Mapping[str, Any]) -> float:
    if "sampleCount" in state:
        return float(state["sampleCount"])
    priors = state.get("priors") or {}
    return float(sum(priors.get(cls, 0) for cls in CLASSES))


def score(
    config: Mapping[str, Any],
    state: Mapping[str, Any],
    features: Mapping[str, Any],
    offer_id: str | None = None,
    rng: random.Random | None = None,
) -> ScoreResult:
    """Posterior P(positive | features); ``raw_score`` is the posterior log-odds."""
    alpha = config_number(config, "smoothing", 1.0)
    if alpha <= 0:
        raise ValidationError("config.smoothing must be positive", field="config.smoothing")
    prior = _log_prior(state, alpha)
    log_odds = prior["positive"] - prior["negative"]
    parts: list[Explanation] = []
    for field_name in _fields(config, state):
        edges = _edges(config, state, field_name)
        label = bin_label(features.get(field_name), edges)
        if label is None:
            continue
        ll = _log_likelihood(state, field_name, label, _n_bins(state, field_name, label, edges), alpha)
        contribution = ll["positive"] - ll["negative"]
        log_odds += contribution
        parts.append(explanation(field_name, contribution, features[field_name]))
    confidence = min(1.0, math.sqrt(_sample_count(state) / 1000.0))
    return ScoreResult(sigmoid(log_odds), log_odds, sort_explanations(parts), confidence)


def _learn_fields(
    config: Mapping[str, Any], state: Mapping[str, Any], features: Mapping[str, Any]
) -> list[str]:
    """Configured predictors, else fields already modelled, else (cold start) every scalar feature."""
    known = _fields(config, state)
    if known:
        return known
    return sorted(k for k, v in features.items() if isinstance(v, str | int | float | bool))


def _count(
    state: dict[str, Any], config: Mapping[str, Any], features: Mapping[str, Any], cls: str, fields: list[str]
) -> None:
    priors = state.setdefault("priors", {"positive": 0, "negative": 0})
    priors[cls] = priors.get(cls, 0) + 1
    state["sampleCount"] = int(state.get("sampleCount", 0)) + 1
    likelihoods = state.setdefault("likelihoods", {})
    for field_name in fields:
        label = bin_label(features.get(field_name), _edges(config, state, field_name))
        if label is None:
            continue
        per_class = likelihoods.setdefault(field_name, {"positive": {}, "negative": {}})
        bins = per_class.setdefault(cls, {})
        bins[label] = bins.get(label, 0) + 1


def learn(
    config: Mapping[str, Any],
    state: Mapping[str, Any],
    features: Mapping[str, Any],
    offer_id: str | None,
    reward: float | None,
    classification: str,
) -> dict[str, Any]:
    """Add one labelled observation; neutral outcomes carry no label and change nothing."""
    cls = check_classification(classification)
    new_state = copy.deepcopy(dict(state))
    if cls != "neutral":
        _count(new_state, config, features, cls, _learn_fields(config, new_state, features))
    return new_state


def _auto_edges(
    config: Mapping[str, Any], rows: Sequence[Mapping[str, Any]], fields: list[str]
) -> dict[str, list[float]]:
    """Quartile edges for all-numeric predictors the config does not bin itself."""
    configured = config.get("binEdges") or {}
    out: dict[str, list[float]] = {}
    for field_name in fields:
        if field_name in configured:
            continue
        values = [r.get(field_name) for r in rows if r.get(field_name) is not None]
        nums = [to_number(v) for v in values]
        if values and all(
            n is not None and not isinstance(v, bool) for n, v in zip(nums, values, strict=True)
        ):
            if len({n for n in nums}) > AUTO_BINS:
                out[field_name] = quantile_edges([n for n in nums if n is not None], AUTO_BINS)
    return out


def train(
    config: Mapping[str, Any],
    rows: Sequence[Mapping[str, Any]],
    target_field: str,
    predictors: Sequence[Any],
) -> tuple[dict[str, Any], dict[str, Any]]:
    """Count on a stratified 80 % split, report metrics on the other 20 %."""
    fields = predictor_fields(predictors)
    if not fields:
        raise ValidationError("at least one predictor is required", field="predictors")
    kept, labels = labelled_rows(rows, target_field)
    train_idx, test_idx = stratified_split(labels, training_seed(config))
    state: dict[str, Any] = {"priors": {"positive": 0, "negative": 0}, "likelihoods": {}, "sampleCount": 0}
    edges = _auto_edges(config, [kept[i] for i in train_idx], fields)
    if edges:
        state["binEdges"] = edges
    for i in train_idx:
        _count(state, config, kept[i], "positive" if labels[i] else "negative", fields)
    scoring_config = {**config, "predictors": fields}
    y_score = [score(scoring_config, state, kept[i]).score for i in test_idx]
    metrics: dict[str, Any] = dict(binary_metrics([labels[i] for i in test_idx], y_score))
    metrics["trainingSamples"] = len(train_idx)
    metrics["testSamples"] = len(test_idx)
    return state, metrics
