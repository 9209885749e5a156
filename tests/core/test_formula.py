"""Formula engine: grammar, precedence, functions and the never-throw contract."""

from __future__ import annotations

import pytest

from kaireon_mcp.core.formula import FormulaError, evaluate_formula, parse_formula, tokenize, validate_formula
from kaireon_mcp.errors import ValidationError


def test_credit_card_walkthrough() -> None:
    assert evaluate_formula("19.99 - customer.loyalty_score * 0.05", {"customer.loyalty_score": 40}) == 17.99
    nested = {"customer": {"loyalty_score": 40}}
    assert evaluate_formula("19.99 - customer.loyalty_score * 0.05", nested) == 17.99
    variables = {"base_rate": 20, "customer.loyalty_score": "40"}
    assert evaluate_formula("base_rate * (1 - customer.loyalty_score * 0.01)", variables) == 12.0


@pytest.mark.parametrize(
    ("expression", "expected"),
    [
        ("2 + 3 * 4", 14),
        ("(2 + 3) * 4", 20),
        ("10 - 4 - 3", 3),
        ("-2 * 3", -6),
        ("- -2", 2),
        ("2 * 3 % 4", 2),
        ("7 % 3", 1),
        ("-7 % 3", -1),
        ("7 / 2", 3.5),
        (".5 + 1e1", 10.5),
        ("3 > 2", 1),
        ("3 < 2", 0),
        ("2 == 2.0", 1),
        ("1 + 1 == 2", 1),
        ("'a' == 'a'", 1),
        ("'a' != 'b'", 1),
        ("'apple' < 'banana'", 1),
        ("1 && 0", 0),
        ("0 || 2", 1),
        ("!0", 1),
        ("1 < 2 && 3 > 4 || 1", 1),
        ("5 > 3 ? 'big' : 'small'", "big"),
        ("0 ? 1 : 0 ? 2 : 3", 3),
        ("true ? 1 : 2", 1),
        ("false", False),
        ("null", None),
        ('"rate: " + 5', "rate: 5"),
        ("'a' + 'b'", "ab"),
        ("min(3, 1, 2)", 1),
        ("max(3, '7', 2)", 7.0),
        ("round(2.345, 2)", 2.35),
        ("round(2.5)", 3.0),
        ("round(-2.5)", -3.0),
        ("coalesce(null, missing_field, 4, 5)", 4),
        ("concat('a', 1, null, 2.0)", "a12"),
        ("abs(-3)", 3),
        ("floor(2.7)", 2),
        ("ceil(2.1)", 3),
        ("0.1 + 0.2", 0.3),
        ("'it\\'s'", "it's"),
    ],
)
def test_expressions(expression: str, expected: object) -> None:
    assert evaluate_formula(expression, {}) == expected


@pytest.mark.parametrize(
    "expression",
    [
        "1 / 0",
        "5 % 0",
        "1 +",
        "(1",
        "a b",
        "'unterminated",
        "2 $ 3",
        "unknown_fn(1)",
        "missing * 2",
        "abs(1, 2)",
        "min()",
        "'a' < 1",
        "'text' * 2",
        "",
    ],
)
def test_errors_yield_none(expression: str) -> None:
    assert evaluate_formula(expression, {}) is None


def test_variables_and_types() -> None:
    assert evaluate_formula("x * 2", {"x": "40"}) == 80.0
    assert evaluate_formula("flag ? 'yes' : 'no'", {"flag": True}) == "yes"
    assert evaluate_formula("obj + 1", {"obj": [1, 2]}) is None
    assert evaluate_formula("attributes.tier + '-member'", {"attributes.tier": "gold"}) == "gold-member"
    assert evaluate_formula("1" + " + 1" * 3000, {}) is None  # longer than the 4000-character limit


def test_parse_errors_surface_for_validation() -> None:
    assert validate_formula("19.99 - customer.loyalty_score * 0.05") is None
    message = validate_formula("1 + * 2")
    assert message is not None and "Unexpected" in message
    with pytest.raises(FormulaError) as info:
        parse_formula("max(1,")
    assert isinstance(info.value, ValidationError)
    assert info.value.field == "formula"
    assert validate_formula("(" * 2000 + "1" + ")" * 2000) is not None  # nesting too deep


def test_tokenizer_keeps_dotted_identifiers_whole() -> None:
    kinds = [(t.kind, t.text) for t in tokenize("customer.loyalty_score>=10")]
    assert kinds == [("name", "customer.loyalty_score"), ("op", ">="), ("number", "10"), ("end", "")]
