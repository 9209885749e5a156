"""Logistic regression: ``score = sigmoid(bias + Σ wᵢ·xᵢ)``, categoricals one-hot.

State: ``{"weights": {column: w}, "bias": b, "imputation": {field: mean}, "encoding": {...}}``
where columns follow :mod:`kaireon_mcp.core.models.encoding` (``"segment=Gold"`` for a
one-hot column). Weights are always in *raw feature units*, so a hand-written state
(e.g. the doc fixture) and a trained one score the same way.

Training is deterministic full-batch gradient descent on mean binary cross-entropy
plus ``(l2 / 2)·‖w‖²`` (bias not penalised). It runs on standardised columns so a
single learning rate suits features as different as income and age, then folds the
scaling back into raw-unit weights. Hyper-parameters: ``learningRate`` (0.1),
``l2`` (0), ``epochs`` (500).
"""

from __future__ import annotations

import random
from collections import defaultdict
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from kaireon_mcp.core.models.base import (
    ScoreResult,
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
from kaireon_mcp.core.models.encoding import column_means, column_value, encode, infer_schema, source_field
from kaireon_mcp.core.models.metrics import binary_metrics
from kaireon_mcp.errors import ValidationError


def _weights(state: Mapping[str, Any]) -> dict[str, float]:
    out: dict[str, float] = {}
    for name, w in (state.get("weights") or {}).items():
        num = to_number(w)
        if num is None:
            raise ValidationError(f"weight {name!r} must be a number", field="modelState.weights")
        out[str(name)] = num
    return out


def score(
    config: Mapping[str, Any],
    state: Mapping[str, Any],
    features: Mapping[str, Any],
    offer_id: str | None = None,
    rng: random.Random | None = None,
) -> ScoreResult:
    """Linear log-odds; explanations sum wᵢ·xᵢ per source field (one-hot columns merged)."""
    bias = to_number(state.get("bias", 0.0)) or 0.0
    imputation = state.get("imputation") or {}
    z = bias
    per_field: dict[str, float] = defaultdict(float)
    for column, w in _weights(state).items():
        contribution = w * column_value(column, features, imputation)
        z += contribution
        per_field[source_field(column, features)] += contribution
    parts = [explanation(f, c, features.get(f)) for f, c in per_field.items() if f in features or c != 0.0]
    return ScoreResult(sigmoid(z), z, sort_explanations(parts))


def fit_standardized(
    x: np.ndarray, y: np.ndarray, learning_rate: float, l2: float, epochs: int
) -> tuple[np.ndarray, float]:
    """Batch gradient descent on already-standardised columns; returns (weights, bias)."""
    n, d = x.shape
    w = np.zeros(d)
    b = 0.0
    for _ in range(epochs):
        p = 1.0 / (1.0 + np.exp(-(x @ w + b)))
        err = p - y
        w -= learning_rate * (x.T @ err / n + l2 * w)
        b -= learning_rate * float(err.mean())
    return w, b


def _hyper(config: Mapping[str, Any]) -> tuple[float, float, int]:
    lr = config_number(config, "learningRate", 0.1)
    l2 = config_number(config, "l2", 0.0)
    epochs = int(config_number(config, "epochs", 500))
    if lr <= 0 or l2 < 0 or epochs < 1:
        raise ValidationError("need learningRate > 0, l2 >= 0, epochs >= 1", field="config")
    return lr, l2, epochs


def train(
    config: Mapping[str, Any],
    rows: Sequence[Mapping[str, Any]],
    target_field: str,
    predictors: Sequence[Any],
) -> tuple[dict[str, Any], dict[str, Any]]:
    """Fit on a stratified 80 % split; metrics come from the 20 % hold-out."""
    fields = predictor_fields(predictors)
    if not fields:
        raise ValidationError("at least one predictor is required", field="predictors")
    lr, l2, epochs = _hyper(config)
    kept, labels = labelled_rows(rows, target_field)
    train_idx, test_idx = stratified_split(labels, training_seed(config))
    train_rows = [kept[i] for i in train_idx]
    schema = infer_schema(train_rows, fields)
    columns = schema.columns()
    means = column_means(train_rows, schema.numeric)
    x = np.array([encode(columns, r, means) for r in train_rows], dtype=float)
    mu = x.mean(axis=0)
    sd = x.std(axis=0)
    sd[sd == 0] = 1.0
    w_std, b_std = fit_standardized(
        (x - mu) / sd, np.array([labels[i] for i in train_idx], dtype=float), lr, l2, epochs
    )
    w_raw = w_std / sd
    state: dict[str, Any] = {
        "weights": {c: float(w) for c, w in zip(columns, w_raw, strict=True)},
        "bias": float(b_std - float(np.sum(w_std * mu / sd))),
        "imputation": means,
        "encoding": schema.to_dict(),
    }
    y_score = [score(config, state, kept[i]).score for i in test_idx]
    metrics: dict[str, Any] = dict(binary_metrics([labels[i] for i in test_idx], y_score))
    metrics["trainingSamples"] = len(train_idx)
    metrics["testSamples"] = len(test_idx)
    return state, metrics
