"""Online logistic learner: ``score = sigmoid(bias + Σ wᵢ·xᵢ)`` over numeric features.

State ``{"weights": {field: w}, "bias": b, "learningRate": eta}``; a cold start
(no weights, bias 0) scores 0.5. Each outcome applies one SGD step on log-loss:
``error = reward − score``; ``wᵢ += eta·error·xᵢ``; ``bias += eta·error``.

Reward defaults to 1 for positive and 0 for negative outcomes (an explicit
``reward`` overrides); neutral outcomes are ignored. Features used for learning
are ``config.predictors`` when set, otherwise every numeric feature, so new
signals join the model as they appear. Weights are in raw units, so large-scale
features (income) need a small ``learningRate`` or pre-scaled inputs.
"""

from __future__ import annotations

import copy
import random
from collections.abc import Mapping
from typing import Any

from kaireon_mcp.core.models.base import (
    ScoreResult,
    check_classification,
    explanation,
    predictor_fields,
    sigmoid,
    sort_explanations,
    to_number,
)
from kaireon_mcp.errors import ValidationError

DEFAULT_LEARNING_RATE = 0.05


def _numeric_features(features: Mapping[str, Any], names: list[str]) -> dict[str, float]:
    """Numeric values of ``names`` (text is skipped even when it looks numeric: no guessing)."""
    out: dict[str, float] = {}
    for name in names:
        value = features.get(name)
        num = None if isinstance(value, str) else to_number(value)
        if num is not None:
            out[name] = num
    return out


def score(
    config: Mapping[str, Any],
    state: Mapping[str, Any],
    features: Mapping[str, Any],
    offer_id: str | None = None,
    rng: random.Random | None = None,
) -> ScoreResult:
    """Only weighted, numeric features count; missing ones contribute nothing."""
    weights = state.get("weights") or {}
    z = float(state.get("bias", 0.0))
    x = _numeric_features(features, list(weights))
    parts = []
    for name, value in x.items():
        contribution = float(weights[name]) * value
        z += contribution
        parts.append(explanation(name, contribution, features[name]))
    return ScoreResult(sigmoid(z), z, sort_explanations(parts))


def _learning_rate(config: Mapping[str, Any], state: Mapping[str, Any]) -> float:
    for source in (config, state):
        if source.get("learningRate") is not None:
            eta = to_number(source["learningRate"])
            if eta is None or eta <= 0:
                raise ValidationError("learningRate must be a positive number", field="config.learningRate")
            return eta
    return DEFAULT_LEARNING_RATE


def learn(
    config: Mapping[str, Any],
    state: Mapping[str, Any],
    features: Mapping[str, Any],
    offer_id: str | None,
    reward: float | None,
    classification: str,
) -> dict[str, Any]:
    """One SGD step; returns a new state."""
    cls = check_classification(classification)
    new_state = copy.deepcopy(dict(state))
    if cls == "neutral":
        return new_state
    target = float(reward) if reward is not None else (1.0 if cls == "positive" else 0.0)
    eta = _learning_rate(config, state)
    error = target - score(config, state, features).score
    weights = new_state.setdefault("weights", {})
    names = predictor_fields(config.get("predictors")) or list(features)
    for name, value in _numeric_features(features, names).items():
        weights[name] = float(weights.get(name, 0.0)) + eta * error * value
    new_state["bias"] = float(new_state.get("bias", 0.0)) + eta * error
    new_state["updates"] = int(new_state.get("updates", 0)) + 1
    return new_state
