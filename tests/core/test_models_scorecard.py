import math

import pytest

from kaireon_mcp.core.models import scorecard
from kaireon_mcp.errors import ValidationError

CUSTOMER = {"credit_score": 760, "income": 95000, "age": 38, "segment": "Gold"}
RULES = [
    {"field": "credit_score", "operator": "gte", "value": 700, "points": 10},
    {"field": "income", "operator": "gt", "value": 80000, "points": 8},
    {"field": "age", "operator": "lt", "value": 30, "points": 5},  # does not match
    {"field": "segment", "operator": "in", "value": ["Gold", "Platinum"], "points": 4},
    {"field": "age", "operator": "gte", "value": 25, "points": 2},
]


def test_doc_fixture_four_of_five_rules_sigmoid():
    res = scorecard.score({"rules": RULES}, {}, CUSTOMER)
    assert res.raw_score == 74  # 50 + 10 + 8 + 4 + 2
    assert res.score == pytest.approx(1 / (1 + math.exp(-(74 - 50) / 10)))
    assert round(res.score, 3) == 0.917
    assert [e["contribution"] for e in res.explanations] == [10, 8, 4, 2]
    assert res.explanations[0] == {"field": "credit_score", "contribution": 10.0, "value": 760}
    assert res.confidence is None


def test_sigmoid_midpoint_and_scale_configurable():
    res = scorecard.score({"rules": RULES, "midpoint": 70, "scale": 4}, {}, CUSTOMER)
    assert res.score == pytest.approx(1 / (1 + math.exp(-(74 - 70) / 4)))


def test_linear_with_default_bounds_from_rules():
    rules = RULES + [{"field": "segment", "operator": "eq", "value": "Bronze", "points": -6}]
    res = scorecard.score({"rules": rules, "normalization": "linear"}, {}, CUSTOMER)
    lo, hi = 50 - 6, 50 + 10 + 8 + 5 + 4 + 2
    assert res.score == pytest.approx((74 - lo) / (hi - lo))


def test_linear_explicit_bounds_clamps():
    cfg = {"rules": RULES, "normalization": "linear", "minScore": 0, "maxScore": 60}
    assert scorecard.score(cfg, {}, CUSTOMER).score == 1.0
    cfg = {"rules": RULES, "normalization": "linear", "minScore": 60, "maxScore": 100}
    assert scorecard.score(cfg, {}, CUSTOMER).score == pytest.approx(14 / 40)


@pytest.mark.parametrize(
    "op,value,actual,expected",
    [
        ("eq", "Gold", "Gold", True),
        ("eq", 760, "760", True),
        ("eq", "gold", "Gold", False),
        ("neq", "Gold", "Silver", True),
        ("gt", 5, 5, False),
        ("gte", 5, 5, True),
        ("lt", 5, 4.9, True),
        ("lte", 5, 6, False),
        ("gt", 5, "abc", False),
        ("in", ["A", "B"], "B", True),
        ("in", "A, B", "B", True),
        ("not_in", ["A", "B"], "C", True),
        ("not_in", ["A", "B"], "A", False),
        ("contains", "old", "Gold", True),
        ("contains", "vip", ["new", "vip"], True),
        ("starts_with", "Go", "Gold", True),
        ("starts_with", "old", "Gold", False),
    ],
)
def test_operators(op, value, actual, expected):
    rule = {"field": "f", "operator": op, "value": value, "points": 1}
    assert scorecard.rule_matches(rule, {"f": actual}) is expected


def test_missing_field_never_matches_even_negated_operators():
    for op in ("neq", "not_in"):
        assert scorecard.rule_matches({"field": "f", "operator": op, "value": "x"}, {}) is False


def test_unknown_operator_and_bad_normalization_rejected():
    with pytest.raises(ValidationError) as exc:
        scorecard.score(
            {"rules": [{"field": "a", "operator": "approx", "value": "x", "points": 1}]}, {}, {"a": 1}
        )
    assert exc.value.field == "config.rules[0].operator"
    with pytest.raises(ValidationError):
        scorecard.score({"rules": [], "normalization": "tanh"}, {}, {})


def test_nested_feature_lookup_and_operator_aliases():
    rules = [{"field": "customer.tier", "operator": "==", "value": "Gold", "points": 7}]
    res = scorecard.score({"rules": rules}, {}, {"customer": {"tier": "Gold"}})
    assert res.raw_score == 57 and res.explanations[0]["value"] == "Gold"
