"""Model algorithms behind ``AlgorithmModel.modelType`` (spec §6.2) and their registry.

Every type maps to a :class:`ModelSpec`; ``runnable=False`` marks types whose
inference lives outside this process (their scorer raises ``ValidationError``).
``online`` types learn on every respond; ``trainable`` types support batch ``train``.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from types import MappingProxyType

from kaireon_mcp.core.models import (
    bayesian,
    epsilon_greedy,
    gradient_boosted,
    logistic_regression,
    online_learner,
    scorecard,
    thompson_bandit,
    unrunnable,
)
from kaireon_mcp.core.models.base import Explanation, LearnFn, ScoreFn, ScoreResult, TrainFn
from kaireon_mcp.errors import ValidationError


@dataclass(frozen=True)
class ModelSpec:
    """What the platform can do with one model type."""

    model_type: str
    score: ScoreFn
    learn: LearnFn | None = None
    train: TrainFn | None = None
    runnable: bool = True
    online: bool = False
    #: the score depends only on (config, state, features): no offer id, no randomness, and
    #: nothing is mutated, so one decision may score it once for all its candidates
    pure: bool = False

    @property
    def trainable(self) -> bool:
        return self.train is not None


def _specs() -> dict[str, ModelSpec]:
    specs = [
        ModelSpec("scorecard", scorecard.score, pure=True),
        ModelSpec("bayesian", bayesian.score, bayesian.learn, bayesian.train, online=True, pure=True),
        ModelSpec(
            "logistic_regression", logistic_regression.score, train=logistic_regression.train, pure=True
        ),
        ModelSpec("gradient_boosted", gradient_boosted.score, train=gradient_boosted.train, pure=True),
        ModelSpec("thompson_bandit", thompson_bandit.score, thompson_bandit.learn, online=True),
        ModelSpec("epsilon_greedy", epsilon_greedy.score, epsilon_greedy.learn, online=True),
        ModelSpec("online_learner", online_learner.score, online_learner.learn, online=True, pure=True),
    ]
    specs += [ModelSpec(t, unrunnable.make_scorer(t), runnable=False) for t in unrunnable.UNRUNNABLE_TYPES]
    return {s.model_type: s for s in specs}


MODEL_TYPES: Mapping[str, ModelSpec] = MappingProxyType(_specs())


def get_model_spec(model_type: str) -> ModelSpec:
    spec = MODEL_TYPES.get(model_type)
    if spec is None:
        raise ValidationError(
            f"unknown modelType {model_type!r}; expected one of {', '.join(MODEL_TYPES)}", field="modelType"
        )
    return spec


def get_scorer(model_type: str) -> ScoreFn:
    """The ``score`` function of a model type (raises ``ValidationError`` for unknown types)."""
    return get_model_spec(model_type).score


__all__ = [
    "MODEL_TYPES",
    "Explanation",
    "LearnFn",
    "ModelSpec",
    "ScoreFn",
    "ScoreResult",
    "TrainFn",
    "get_model_spec",
    "get_scorer",
]
