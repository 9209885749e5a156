"""A Score node's shared model results answer exactly as scoring every candidate afresh did.

``Engine.model_score`` builds the features once per node and scores a ``pure`` model once
for all candidates; the reference below is the per-candidate implementation it replaced.
It must also leave ``state.rng`` where the old code did, since later choices draw from it.
"""

from __future__ import annotations

import random
from datetime import UTC, datetime
from typing import Any

import pytest

from kaireon_mcp.core.contact_policy import ContactLedger
from kaireon_mcp.core.decisioning.engine import Engine
from kaireon_mcp.core.decisioning.nodes import runnable
from kaireon_mcp.core.decisioning.state import Candidate, DecisionState, ScoreMemo
from kaireon_mcp.core.models import MODEL_TYPES, bayesian
from kaireon_mcp.core.qualification import CustomerContext

GBM_STATE = {
    "init_raw_margin": 0.5,
    "trees": [
        {
            "tree_structure": {
                "split_feature": "age",
                "threshold": 40,
                "left": {"leaf_value": -0.2},
                "right": {"leaf_value": 0.3},
            }
        }
    ],
}
SCORECARD = {"rules": [{"field": "tier", "operator": "eq", "value": "gold", "points": 20},
                       {"field": "age", "operator": "gte", "value": 30, "points": 10}]}  # fmt: skip

MODELS: list[dict[str, Any]] = [
    {"modelType": "scorecard", "config": SCORECARD},
    {"modelType": "scorecard", "config": {"rules": [{"field": "a", "operator": "bogus"}]}},
    {"modelType": "logistic_regression", "modelState": {"weights": {"age": 0.05, "tier=gold": 1.0}}},
    {"modelType": "logistic_regression", "modelState": {"weights": {"age": "x"}}},
    {"modelType": "gradient_boosted", "modelState": GBM_STATE},
    {"modelType": "gradient_boosted", "modelState": {}},
    {"modelType": "online_learner", "modelState": {"weights": {"age": 0.02}, "bias": -0.5}},
    {"modelType": "bayesian", "modelState": bayesian.learn({}, {}, {"tier": "gold"}, None, None, "positive")},
    {"modelType": "thompson_bandit", "modelState": {"arms": {"o1": {"alpha": 3, "beta": 2}}}},
    {"modelType": "epsilon_greedy", "config": {"epsilon": 0.5}},
    {"modelType": "external_endpoint"},
]


def _reference(state: DecisionState, cand: Candidate, model: dict[str, Any]) -> Any:
    """``Engine.model_score`` before the memo: fresh features and a Random for every call."""
    if not runnable(model):
        return None
    spec = MODEL_TYPES[str(model["modelType"])]
    features = {k: v for k, v in state.customer.attributes.items() if "." not in k}
    try:
        result = spec.score(
            model.get("config") or {},
            model.get("modelState") or {},
            features,
            cand.offer_id,
            random.Random(state.rng.random()),
        )
    except Exception:  # noqa: BLE001
        state.degraded = True
        weight = float((cand.creative or cand.offer).get("weight") or 100)
        return 0.5 * weight / 100 * cand.fit_multiplier, []
    return result.score, [dict(e) for e in result.explanations]


def _state(attributes: dict[str, Any]) -> DecisionState:
    return DecisionState(
        tenant_id="t",
        customer=CustomerContext("c1", attributes=attributes),
        ledger=ContactLedger(),
        request={},
        now=datetime(2026, 1, 1, tzinfo=UTC),
        rng=random.Random(11),
    )


def _candidates() -> list[Candidate]:
    return [
        Candidate(offer={"id": f"o{i}", "weight": 40 + i}, fit_multiplier=1 - i / 10) for i in range(1, 6)
    ]


@pytest.mark.parametrize("attributes", [{"tier": "gold", "age": 44, "x.y": 1}, {"age": "31"}, {}])
def test_memoised_scores_match_per_candidate_scores(attributes: dict[str, Any]) -> None:
    engine = Engine(repo=None, catalog=None)  # type: ignore[arg-type]
    for order in range(3):
        models = random.Random(order).sample(MODELS, len(MODELS))
        old, new = _state(dict(attributes)), _state(dict(attributes))
        memo = ScoreMemo()
        for cand_old, cand_new in zip(_candidates(), _candidates(), strict=True):
            for model in models:
                assert engine.model_score(new, cand_new, model, memo) == _reference(old, cand_old, model)
                assert engine.model_score(new, cand_new, model) == _reference(old, cand_old, model)
        assert new.rng.getstate() == old.rng.getstate()
        assert new.degraded == old.degraded


@pytest.mark.parametrize("spec", [s for s in MODEL_TYPES.values() if s.pure], ids=lambda s: s.model_type)
def test_pure_models_ignore_offer_and_randomness(spec: Any) -> None:
    """What lets one result serve every candidate: no offer id, no rng, inputs untouched."""
    for model in (m for m in MODELS if m["modelType"] == spec.model_type):
        features = {"tier": "gold", "age": 44}
        config, model_state = model.get("config") or {}, model.get("modelState") or {}
        try:
            first = spec.score(config, model_state, features, "o1", random.Random(1))
        except Exception:  # noqa: BLE001
            continue
        assert spec.score(config, model_state, features, "o2", None) == first
        assert spec.score(config, model_state, features, None, random.Random(2)) == first
        assert features == {"tier": "gold", "age": 44}
