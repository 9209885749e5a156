"""Shared types and helpers for the model scorers.

Every algorithm module speaks the same three-function contract (``score``,
``learn``, ``train``) so the registry and the decision pipeline never need to
know which algorithm sits behind a ``modelKey``.
"""

from __future__ import annotations

import math
import random
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol, TypedDict

from kaireon_mcp.errors import ValidationError

CLASSIFICATIONS = ("positive", "negative", "neutral")


class Explanation(TypedDict):
    """One feature's share of a score; ``contribution`` is in the model's raw units."""

    field: str
    contribution: float
    value: Any


@dataclass(frozen=True)
class ScoreResult:
    """Output of every scorer: ``score`` in [0, 1], ``raw_score`` in model units."""

    score: float
    raw_score: float
    explanations: list[Explanation] = field(default_factory=list)
    confidence: float | None = None

    def to_dict(self) -> dict[str, Any]:
        """Wire shape used by the score endpoints (camelCase like the rest of the API)."""
        return {
            "score": self.score,
            "rawScore": self.raw_score,
            "explanations": [dict(e) for e in self.explanations],
            "confidence": self.confidence,
        }


class ScoreFn(Protocol):
    def __call__(
        self,
        config: Mapping[str, Any],
        state: Mapping[str, Any],
        features: Mapping[str, Any],
        offer_id: str | None = None,
        rng: random.Random | None = None,
    ) -> ScoreResult: ...


class LearnFn(Protocol):
    def __call__(
        self,
        config: Mapping[str, Any],
        state: Mapping[str, Any],
        features: Mapping[str, Any],
        offer_id: str | None,
        reward: float | None,
        classification: str,
    ) -> dict[str, Any]: ...


class TrainFn(Protocol):
    def __call__(
        self,
        config: Mapping[str, Any],
        rows: Sequence[Mapping[str, Any]],
        target_field: str,
        predictors: Sequence[Any],
    ) -> tuple[dict[str, Any], dict[str, Any]]: ...


def sigmoid(z: float) -> float:
    """Numerically stable logistic function (no overflow for large |z|)."""
    if z >= 0:
        return 1.0 / (1.0 + math.exp(-z))
    ez = math.exp(z)
    return ez / (1.0 + ez)


def clamp01(x: float) -> float:
    return 0.0 if x < 0.0 else 1.0 if x > 1.0 else x


def explanation(field_name: str, contribution: float, value: Any) -> Explanation:
    return {"field": field_name, "contribution": float(contribution), "value": value}


def sort_explanations(items: Iterable[Explanation]) -> list[Explanation]:
    """Largest |contribution| first; field name keeps ties stable across runs."""
    return sorted(items, key=lambda e: (-abs(e["contribution"]), e["field"]))


def check_classification(classification: str) -> str:
    if classification not in CLASSIFICATIONS:
        raise ValidationError(
            f"classification must be one of {', '.join(CLASSIFICATIONS)}, got {classification!r}",
            field="classification",
        )
    return classification


def require_offer_id(offer_id: str | None) -> str:
    """Bandits keep one arm per offer, so they cannot score without one."""
    if not offer_id:
        raise ValidationError("offer_id is required for bandit models", field="offerId")
    return offer_id


def to_number(value: Any) -> float | None:
    """Numeric view of a feature value; ``None`` when it is not a finite number."""
    if value is None:
        return None
    if isinstance(value, bool):
        return 1.0 if value else 0.0
    if isinstance(value, int | float):
        f = float(value)
    elif isinstance(value, str):
        try:
            f = float(value.strip())
        except ValueError:
            return None
    else:
        return None
    return f if math.isfinite(f) else None


def config_number(config: Mapping[str, Any], key: str, default: float) -> float:
    """Read a numeric hyper-parameter, rejecting junk instead of silently defaulting."""
    raw = config.get(key, default)
    if raw is None:
        return default
    num = to_number(raw)
    if num is None or isinstance(raw, bool):
        raise ValidationError(f"config.{key} must be a number", field=f"config.{key}")
    return num


def predictor_fields(predictors: Iterable[Any] | None) -> list[str]:
    """Accept ``["a", "b"]`` or ``[{field, selected}]``; unselected entries are dropped."""
    out: list[str] = []
    for p in predictors or []:
        if isinstance(p, str):
            name = p
        elif isinstance(p, Mapping):
            if p.get("selected") is False:
                continue
            name = str(p.get("field") or p.get("name") or "")
        else:
            raise ValidationError("predictors must be strings or {field} objects", field="predictors")
        if name and name not in out:
            out.append(name)
    return out


_TRUE = {"1", "true", "yes", "y", "positive", "converted", "accepted", "t"}
_FALSE = {"0", "false", "no", "n", "negative", "rejected", "f", "none"}


def to_label(value: Any, target_field: str) -> int | None:
    """Binary target as 0/1; ``None`` for a missing label (row is skipped)."""
    if value is None or value == "":
        return None
    if isinstance(value, bool):
        return int(value)
    if isinstance(value, int | float) and value in (0, 1):
        return int(value)
    if isinstance(value, str) and value.strip().lower() in _TRUE:
        return 1
    if isinstance(value, str) and value.strip().lower() in _FALSE:
        return 0
    raise ValidationError(
        f"target {target_field!r} must be binary (0/1, true/false, yes/no), got {value!r}",
        field="targetField",
    )


def labelled_rows(
    rows: Sequence[Mapping[str, Any]], target_field: str
) -> tuple[list[Mapping[str, Any]], list[int]]:
    """Rows with a usable label, and the labels; training needs both classes twice over."""
    kept: list[Mapping[str, Any]] = []
    labels: list[int] = []
    for row in rows:
        label = to_label(row.get(target_field), target_field)
        if label is not None:
            kept.append(row)
            labels.append(label)
    if labels.count(1) < 2 or labels.count(0) < 2:
        raise ValidationError(
            "training needs at least 2 positive and 2 negative labelled rows", field="targetField"
        )
    return kept, labels


def stratified_split(
    labels: Sequence[int], seed: int, test_fraction: float = 0.2
) -> tuple[list[int], list[int]]:
    """Deterministic stratified hold-out: each class keeps ~20 % for testing (at least one row).

    Returns (train_indices, test_indices), both sorted so downstream order is stable.
    """
    rng = random.Random(seed)
    train: list[int] = []
    test: list[int] = []
    for cls in (0, 1):
        idx = [i for i, y in enumerate(labels) if y == cls]
        rng.shuffle(idx)
        n_test = min(len(idx) - 1, max(1, round(len(idx) * test_fraction)))
        test.extend(idx[:n_test])
        train.extend(idx[n_test:])
    return sorted(train), sorted(test)


def training_seed(config: Mapping[str, Any]) -> int:
    return int(config_number(config, "seed", 42))
