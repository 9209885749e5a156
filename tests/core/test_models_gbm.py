import json
import math
import random

import numpy as np
import pytest

from kaireon_mcp.core.models import gradient_boosted as gb
from kaireon_mcp.errors import ValidationError

HAND_STATE = {
    "init_raw_margin": 0.5,
    "trees": [
        {
            "tree_structure": {
                "split_feature": "credit_score",
                "threshold": 700,
                "left": {"leaf_value": -0.2},
                "right": {"leaf_value": 0.6},
            }
        },
        {
            "split_feature": "segment=Gold",
            "threshold": 0.5,
            "left_child": {"leaf_value": 0.1},
            "right_child": {"leaf_value": 0.4},
        },
    ],
}


def test_doc_fixture_raw_margin_1_5():
    res = gb.score({}, HAND_STATE, {"credit_score": 760, "segment": "Gold"})
    assert res.raw_score == pytest.approx(1.5)
    assert res.score == pytest.approx(1 / (1 + math.exp(-1.5)))
    assert round(res.score, 4) == 0.8176
    # Saabas with equal cover: tree 1 root value 0.2 -> +0.4, tree 2 root 0.25 -> +0.15
    assert [(e["field"], round(e["contribution"], 10)) for e in res.explanations] == [
        ("credit_score", 0.4),
        ("segment", 0.15),
    ]
    _margin, bias, contrib = gb.raw_margin_and_contributions(
        HAND_STATE, {"credit_score": 760, "segment": "Gold"}
    )
    assert bias == pytest.approx(0.95)


def test_untrained_state_rejected():
    with pytest.raises(ValidationError):
        gb.score({}, {}, {"x": 1})


def _data(n=800, seed=4):
    rng = np.random.default_rng(seed)
    x = np.column_stack([rng.normal(680, 60, n), rng.normal(70000, 20000, n), rng.integers(0, 2, n)])
    z = 0.03 * (x[:, 0] - 680) + 0.00004 * (x[:, 1] - 70000) + 1.2 * x[:, 2] - 0.3
    y = (rng.random(n) < 1 / (1 + np.exp(-z))).astype(int)
    return x, y


def test_export_reproduces_sklearn_decision_function_and_saabas_is_exact():
    from sklearn.ensemble import GradientBoostingClassifier

    x, y = _data()
    model = GradientBoostingClassifier(n_estimators=30, max_depth=3, random_state=0).fit(x, y)
    names = ["credit_score", "income", "is_gold"]
    state = json.loads(json.dumps(gb.export_sklearn_gbc(model, names)))  # proves it is JSON-able
    expected = model.decision_function(x[:200])
    for row, want in zip(x[:200], expected, strict=True):
        feats = dict(zip(names, row.tolist(), strict=True))
        margin, bias, contrib = gb.raw_margin_and_contributions(state, feats)
        assert margin == pytest.approx(want, abs=1e-9)
        assert bias + sum(contrib.values()) == pytest.approx(margin, abs=1e-9)
        assert gb.score({}, state, feats).score == pytest.approx(model.predict_proba([row])[0][1], abs=1e-9)


def _rows(n=600, seed=8):
    rng = random.Random(seed)
    rows = []
    for _ in range(n):
        credit = rng.gauss(680, 60)
        seg = rng.choice(["Gold", "Silver"])
        z = 0.03 * (credit - 680) + (1.0 if seg == "Gold" else -0.5)
        rows.append({"credit_score": credit, "segment": seg, "y": int(rng.random() < 1 / (1 + math.exp(-z)))})
    return rows


def test_train_end_to_end_and_deterministic():
    rows = _rows()
    cfg = {"nEstimators": 40, "maxDepth": 2}
    state, metrics = gb.train(cfg, rows, "y", ["credit_score", "segment"])
    assert state == gb.train(cfg, rows, "y", ["credit_score", "segment"])[0]
    assert state["feature_names"] == ["credit_score", "segment=Gold", "segment=Silver"]
    assert len(state["trees"]) == 40
    assert metrics["trainingSamples"] == 480 and metrics["testSamples"] == 120
    assert metrics["auc"] > 0.75
    res = gb.score({}, state, {"credit_score": 760, "segment": "Gold"})
    assert {e["field"] for e in res.explanations} <= {"credit_score", "segment"}
    assert res.score > gb.score({}, state, {"credit_score": 600, "segment": "Silver"}).score
