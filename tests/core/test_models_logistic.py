import math
import random

import numpy as np
import pytest

from kaireon_mcp.core.models import logistic_regression as lr
from kaireon_mcp.core.models.base import stratified_split


def sig(z):
    return 1 / (1 + math.exp(-z))


def test_hand_written_state_scores_and_explains():
    state = {
        "bias": -4.0,
        "weights": {"credit_score": 0.004, "income": 0.00001, "segment=Gold": 0.5, "segment=Silver": 0.2},
    }
    feats = {"credit_score": 760, "income": 95000, "segment": "Gold"}
    res = lr.score({}, state, feats)
    z = -4.0 + 0.004 * 760 + 0.00001 * 95000 + 0.5
    assert res.raw_score == pytest.approx(z)
    assert res.score == pytest.approx(sig(z))
    assert [e["field"] for e in res.explanations] == ["credit_score", "income", "segment"]
    assert res.explanations[2] == {"field": "segment", "contribution": 0.5, "value": "Gold"}


def test_missing_numeric_uses_imputed_mean():
    state = {"bias": 0.0, "weights": {"age": 0.1}, "imputation": {"age": 40.0}}
    assert lr.score({}, state, {}).raw_score == pytest.approx(4.0)
    assert lr.score({}, {"weights": {"age": 0.1}}, {}).score == 0.5


def _rows(n=500, seed=11):
    rng = random.Random(seed)
    rows = []
    for _ in range(n):
        credit = rng.gauss(680, 60)
        income = rng.gauss(70000, 20000)
        seg = rng.choice(["Gold", "Silver", "Bronze"])
        z = (
            -0.5
            + 0.02 * (credit - 680)
            + 0.00003 * (income - 70000)
            + {"Gold": 0.8, "Silver": 0.0, "Bronze": -0.6}[seg]
        )
        rows.append(
            {"credit_score": credit, "income": income, "segment": seg, "y": int(rng.random() < sig(z))}
        )
    return rows


def test_train_converges_to_sklearn_l2_solution():
    from sklearn.linear_model import LogisticRegression
    from sklearn.preprocessing import StandardScaler

    rows = _rows()
    l2 = 0.01
    cfg = {"learningRate": 0.5, "l2": l2, "epochs": 4000, "seed": 5}
    state, metrics = lr.train(cfg, rows, "y", ["credit_score", "income", "segment"])

    labels = [r["y"] for r in rows]
    train_idx, test_idx = stratified_split(labels, 5)
    segs = ["Bronze", "Gold", "Silver"]

    def enc(r):
        return [r["credit_score"], r["income"], *[1.0 if r["segment"] == s else 0.0 for s in segs]]

    x = np.array([enc(rows[i]) for i in train_idx])
    scaler = StandardScaler().fit(x)
    sk = LogisticRegression(C=1 / (l2 * len(train_idx)), tol=1e-10, max_iter=10000)
    sk.fit(scaler.transform(x), [labels[i] for i in train_idx])
    for i in test_idx:
        expected = sk.predict_proba(scaler.transform([enc(rows[i])]))[0][1]
        assert lr.score({}, state, rows[i]).score == pytest.approx(expected, abs=1e-4)
    assert set(state["weights"]) == {
        "credit_score",
        "income",
        "segment=Bronze",
        "segment=Gold",
        "segment=Silver",
    }
    assert metrics["trainingSamples"] == len(train_idx)
    assert metrics["auc"] > 0.75
    assert metrics["errorRate"] == pytest.approx(1 - metrics["accuracy"])


def test_train_is_deterministic():
    rows = _rows(200, seed=2)
    a = lr.train({"epochs": 50}, rows, "y", ["credit_score", "segment"])
    b = lr.train({"epochs": 50}, rows, "y", ["credit_score", "segment"])
    assert a == b
