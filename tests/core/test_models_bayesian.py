import math
import random

import pytest

from kaireon_mcp.core.models import bayesian
from kaireon_mcp.core.models.base import stratified_split

STATE = {
    "priors": {"positive": 30, "negative": 70},
    "sampleCount": 100,
    "likelihoods": {
        "segment": {"positive": {"Gold": 20, "Silver": 10}, "negative": {"Gold": 10, "Silver": 60}},
        "credit_score": {
            "positive": {">=700": 25, "[600,700)": 5},
            "negative": {"<600": 40, "[600,700)": 20, ">=700": 10},
        },
    },
}
CONFIG = {"binEdges": {"credit_score": [600, 700]}}


def test_hand_computed_posterior_and_explanations():
    res = bayesian.score(CONFIG, STATE, {"segment": "Gold", "credit_score": 760})
    seg = math.log((21 / 32) / (11 / 72))  # K=2 categories
    credit = math.log((26 / 33) / (11 / 73))  # K=3 bins
    log_odds = math.log(31 / 71) + seg + credit
    assert res.raw_score == pytest.approx(log_odds)
    assert res.score == pytest.approx(1 / (1 + math.exp(-log_odds)))
    assert [e["field"] for e in res.explanations] == ["credit_score", "segment"]
    assert res.explanations[0]["contribution"] == pytest.approx(credit)
    assert res.confidence == pytest.approx(math.sqrt(100 / 1000))


def test_unseen_category_and_missing_feature():
    res = bayesian.score(CONFIG, STATE, {"segment": "Platinum"})
    # unseen value: K becomes 3, counts 0 in both classes
    seg = math.log((1 / 33) / (1 / 73))
    assert res.raw_score == pytest.approx(math.log(31 / 71) + seg)
    assert [e["field"] for e in res.explanations] == ["segment"]


def test_bin_labels_edge_goes_up():
    assert bayesian.bin_label(599.9, [600, 700]) == "<600"
    assert bayesian.bin_label(600, [600, 700]) == "[600,700)"
    assert bayesian.bin_label(700, [600, 700]) == ">=700"
    assert bayesian.bin_label(True, None) == "true"


def test_empty_state_scores_half_with_zero_confidence():
    res = bayesian.score({}, {}, {"x": 1})
    assert res.score == 0.5 and res.confidence == 0.0


def test_learn_increments_counts_without_mutating_input():
    before = {"priors": {"positive": 1, "negative": 1}, "sampleCount": 2, "likelihoods": {}}
    after = bayesian.learn(
        CONFIG | {"predictors": ["segment", "credit_score"]},
        before,
        {"segment": "Gold", "credit_score": 650},
        None,
        None,
        "positive",
    )
    assert after["priors"] == {"positive": 2, "negative": 1}
    assert after["sampleCount"] == 3
    assert after["likelihoods"]["credit_score"]["positive"] == {"[600,700)": 1}
    assert after["likelihoods"]["segment"]["positive"] == {"Gold": 1}
    assert before["likelihoods"] == {}
    assert bayesian.learn(CONFIG, after, {"segment": "Gold"}, None, None, "neutral") == after


def _categorical_rows(n=600, seed=3):
    rng = random.Random(seed)
    rows = []
    for _ in range(n):
        y = int(rng.random() < 0.35)
        seg = rng.choices(["Gold", "Silver", "Bronze"], [0.6, 0.3, 0.1] if y else [0.2, 0.3, 0.5])[0]
        ch = rng.choices(["web", "email"], [0.7, 0.3] if y else [0.4, 0.6])[0]
        rows.append({"segment": seg, "channel": ch, "converted": y})
    return rows


def test_train_matches_sklearn_categorical_nb():
    from sklearn.naive_bayes import CategoricalNB

    rows = _categorical_rows()
    state, metrics = bayesian.train({"seed": 7}, rows, "converted", ["segment", "channel"])
    labels = [r["converted"] for r in rows]
    train_idx, test_idx = stratified_split(labels, 7)
    assert metrics["trainingSamples"] == len(train_idx) == sum(state["priors"].values())
    assert metrics["testSamples"] == len(test_idx)

    cats = {"segment": ["Bronze", "Gold", "Silver"], "channel": ["email", "web"]}
    enc = [[cats[f].index(rows[i][f]) for f in ("segment", "channel")] for i in train_idx]
    y = [labels[i] for i in train_idx]
    n_pos = sum(y)
    prior = [(len(y) - n_pos + 1) / (len(y) + 2), (n_pos + 1) / (len(y) + 2)]
    nb = CategoricalNB(alpha=1.0, class_prior=prior).fit(enc, y)
    for i in test_idx[:50]:
        x = [[cats[f].index(rows[i][f]) for f in ("segment", "channel")]]
        ours = bayesian.score({"predictors": ["segment", "channel"]}, state, rows[i]).score
        assert ours == pytest.approx(nb.predict_proba(x)[0][1], abs=1e-12)
    assert 0.6 < metrics["auc"] <= 1.0


def test_train_auto_bins_numeric_predictor():
    rng = random.Random(1)
    rows = []
    for _ in range(400):
        y = int(rng.random() < 0.5)
        rows.append({"score": rng.gauss(700 if y else 600, 50), "y": y})
    state, metrics = bayesian.train({}, rows, "y", ["score"])
    assert len(state["binEdges"]["score"]) == 3
    assert metrics["auc"] > 0.75
