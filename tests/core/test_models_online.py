import math

import pytest

from kaireon_mcp.core.models import online_learner as ol

STATE = {
    "weights": {"credit_score": 0.004, "income": 0.000015, "age": 0.005},
    "bias": -3.2,
    "learningRate": 0.01,
}
CUSTOMER = {"credit_score": 760, "income": 95000, "age": 38, "segment": "Gold"}


def expected_score():
    z = -3.2 + 0.004 * 760 + 0.000015 * 95000 + 0.005 * 38
    return 1 / (1 + math.exp(-z))


def test_doc_fixture():
    res = ol.score({}, STATE, CUSTOMER)
    assert res.score == pytest.approx(expected_score())
    assert round(res.score, 4) == 0.8108
    assert [e["field"] for e in res.explanations] == ["credit_score", "income", "age"]
    assert res.explanations[1]["contribution"] == pytest.approx(1.425)


def test_cold_start_is_half():
    assert ol.score({}, {}, CUSTOMER).score == 0.5


def test_learn_one_sgd_step():
    s = expected_score()
    new = ol.learn({"predictors": ["credit_score", "income", "age"]}, STATE, CUSTOMER, None, None, "positive")
    err = 1 - s
    assert new["bias"] == pytest.approx(-3.2 + 0.01 * err)
    assert new["weights"]["credit_score"] == pytest.approx(0.004 + 0.01 * err * 760)
    assert new["weights"]["age"] == pytest.approx(0.005 + 0.01 * err * 38)
    assert STATE["bias"] == -3.2  # input untouched


def test_learn_negative_neutral_and_new_features():
    neg = ol.learn({}, STATE, {"credit_score": 760, "tenure": 2}, None, None, "negative")
    s = 1 / (1 + math.exp(-(-3.2 + 0.004 * 760)))
    assert neg["weights"]["tenure"] == pytest.approx(0.01 * (0 - s) * 2)
    assert ol.learn({}, STATE, CUSTOMER, None, None, "neutral") == STATE
