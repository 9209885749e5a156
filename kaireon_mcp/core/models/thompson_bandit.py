"""Thompson sampling: one Beta(alpha, beta) arm per offer, score = a posterior draw.

State ``{"arms": {offerId: {"alpha": a, "beta": b}}}``. An unseen arm starts from the
prior: ``config.priorAlpha`` / ``config.priorBeta`` (default 1 / 1, uniform), or
``priorRate`` × ``priorStrength`` (alpha = rate·N, beta = (1 − rate)·N) to seed an arm
with a believed conversion rate. Learning is counting: positive → alpha + 1,
negative → beta + 1, neutral ignored (it says nothing about conversion).

Without an ``rng`` a fresh unseeded ``random.Random`` is used, which is what live
exploration wants; pass a seeded one for reproducible tests and replays.
"""

from __future__ import annotations

import copy
import random
from collections.abc import Mapping
from typing import Any

from kaireon_mcp.core.models.base import (
    ScoreResult,
    check_classification,
    config_number,
    require_offer_id,
)
from kaireon_mcp.errors import ValidationError


def prior(config: Mapping[str, Any]) -> tuple[float, float]:
    """(alpha, beta) of an arm that has never been rewarded."""
    if config.get("priorRate") is not None:
        rate = config_number(config, "priorRate", 0.5)
        strength = config_number(config, "priorStrength", 2.0)
        if not 0 < rate < 1 or strength <= 0:
            raise ValidationError(
                "priorRate must be in (0, 1) and priorStrength > 0", field="config.priorRate"
            )
        return rate * strength, (1 - rate) * strength
    alpha = config_number(config, "priorAlpha", 1.0)
    beta = config_number(config, "priorBeta", 1.0)
    if alpha <= 0 or beta <= 0:
        raise ValidationError("priorAlpha and priorBeta must be positive", field="config.priorAlpha")
    return alpha, beta


def arm_params(config: Mapping[str, Any], state: Mapping[str, Any], offer_id: str) -> tuple[float, float]:
    arm = (state.get("arms") or {}).get(offer_id)
    if not arm:
        return prior(config)
    alpha, beta = float(arm.get("alpha", 0)), float(arm.get("beta", 0))
    if alpha <= 0 or beta <= 0:
        raise ValidationError(f"arm {offer_id!r} needs positive alpha and beta", field="modelState.arms")
    return alpha, beta


def score(
    config: Mapping[str, Any],
    state: Mapping[str, Any],
    features: Mapping[str, Any],
    offer_id: str | None = None,
    rng: random.Random | None = None,
) -> ScoreResult:
    """One Beta draw per call; ``confidence`` is the evidence share alpha+beta / (alpha+beta+100)."""
    arm = require_offer_id(offer_id)
    alpha, beta = arm_params(config, state, arm)
    draw = (rng or random.Random()).betavariate(alpha, beta)
    n = alpha + beta
    return ScoreResult(draw, draw, [], n / (n + 100.0))


def learn(
    config: Mapping[str, Any],
    state: Mapping[str, Any],
    features: Mapping[str, Any],
    offer_id: str | None,
    reward: float | None,
    classification: str,
) -> dict[str, Any]:
    """Count one outcome on the offer's arm; returns a new state, the input is untouched."""
    cls = check_classification(classification)
    arm = require_offer_id(offer_id)
    new_state = copy.deepcopy(dict(state))
    if cls == "neutral":
        return new_state
    alpha, beta = arm_params(config, new_state, arm)
    if cls == "positive":
        alpha += 1
    else:
        beta += 1
    new_state.setdefault("arms", {})[arm] = {"alpha": alpha, "beta": beta}
    return new_state
