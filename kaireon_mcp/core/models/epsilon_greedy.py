"""Epsilon-greedy bandit with decaying exploration.

``eps_t = epsilon / (1 + decayRate · totalPulls)`` (defaults 0.1 and 0.001, read from
config, then state). With probability eps_t an offer explores (score = a uniform
draw), otherwise it exploits its mean reward ``totalReward / pulls``. An arm never
pulled scores 1.0 regardless (optimism: every offer gets tried once).

``score`` flips its own coin per offer; :func:`score_offers` flips one coin for a whole
decision, the spec's "with prob eps_t every offer gets random()". Rewards: positive →
``reward`` clamped to [0, 1] (default 1), negative → 0; neutral outcomes are ignored.
State: ``{"arms": {offerId: {"pulls": n, "totalReward": r}}, "totalPulls": n}``.
"""

from __future__ import annotations

import copy
import random
from collections.abc import Iterable, Mapping
from typing import Any

from kaireon_mcp.core.models.base import (
    ScoreResult,
    check_classification,
    clamp01,
    require_offer_id,
    to_number,
)
from kaireon_mcp.errors import ValidationError


def _param(config: Mapping[str, Any], state: Mapping[str, Any], key: str, default: float) -> float:
    for source in (config, state):
        if source.get(key) is not None:
            num = to_number(source[key])
            if num is None or num < 0:
                raise ValidationError(f"{key} must be a non-negative number", field=f"config.{key}")
            return num
    return default


def epsilon_t(config: Mapping[str, Any], state: Mapping[str, Any]) -> float:
    """Current exploration probability after ``totalPulls`` pulls."""
    eps = _param(config, state, "epsilon", 0.1)
    decay = _param(config, state, "decayRate", 0.001)
    pulls = float(state.get("totalPulls", 0))
    return min(1.0, eps / (1.0 + decay * pulls))


def _exploit(state: Mapping[str, Any], offer_id: str) -> float | None:
    arm = (state.get("arms") or {}).get(offer_id) or {}
    pulls = float(arm.get("pulls", 0))
    if pulls <= 0:
        return None
    return clamp01(float(arm.get("totalReward", 0.0)) / pulls)


def _result(state: Mapping[str, Any], offer_id: str, explore: bool, rng: random.Random) -> ScoreResult:
    mean = _exploit(state, offer_id)
    if mean is None:
        return ScoreResult(1.0, 1.0)
    value = rng.random() if explore else mean
    return ScoreResult(value, value)


def score(
    config: Mapping[str, Any],
    state: Mapping[str, Any],
    features: Mapping[str, Any],
    offer_id: str | None = None,
    rng: random.Random | None = None,
) -> ScoreResult:
    """Score one offer with its own explore/exploit coin."""
    arm = require_offer_id(offer_id)
    r = rng or random.Random()
    return _result(state, arm, r.random() < epsilon_t(config, state), r)


def score_offers(
    config: Mapping[str, Any],
    state: Mapping[str, Any],
    offer_ids: Iterable[str],
    rng: random.Random | None = None,
) -> dict[str, ScoreResult]:
    """Score a whole offer set with one shared explore/exploit coin."""
    r = rng or random.Random()
    explore = r.random() < epsilon_t(config, state)
    return {o: _result(state, require_offer_id(o), explore, r) for o in offer_ids}


def learn(
    config: Mapping[str, Any],
    state: Mapping[str, Any],
    features: Mapping[str, Any],
    offer_id: str | None,
    reward: float | None,
    classification: str,
) -> dict[str, Any]:
    """Record one pull; returns a new state."""
    cls = check_classification(classification)
    arm = require_offer_id(offer_id)
    new_state = copy.deepcopy(dict(state))
    if cls == "neutral":
        return new_state
    value = (1.0 if reward is None else clamp01(float(reward))) if cls == "positive" else 0.0
    arms = new_state.setdefault("arms", {})
    entry = arms.setdefault(arm, {"pulls": 0, "totalReward": 0.0})
    entry["pulls"] = int(entry.get("pulls", 0)) + 1
    entry["totalReward"] = float(entry.get("totalReward", 0.0)) + value
    new_state["totalPulls"] = int(new_state.get("totalPulls", 0)) + 1
    return new_state
