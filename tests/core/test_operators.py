"""The shared condition evaluator: operators, aliases, coercion and field resolution."""

from __future__ import annotations

import pytest

from kaireon_mcp.core.operators import (
    MISSING,
    compare,
    evaluate_condition,
    evaluate_tree,
    format_value,
    normalize_operator,
    operator_symbol,
    resolve_field,
    to_number,
)
from kaireon_mcp.errors import ValidationError


@pytest.mark.parametrize(
    ("alias", "canonical"),
    [
        ("=", "eq"), ("==", "eq"), ("equals", "eq"), ("!=", "neq"), ("not_equals", "neq"),
        (">", "gt"), ("greater_than", "gt"), (">=", "gte"), ("<", "lt"), ("less_than", "lt"),
        ("<=", "lte"), ("EQ", "eq"), (" in ", "in"),
    ],
)  # fmt: skip
def test_aliases_normalise(alias: str, canonical: str) -> None:
    assert normalize_operator(alias) == canonical


def test_unknown_operator_is_a_validation_error() -> None:
    with pytest.raises(ValidationError) as info:
        compare(1, "approximately", 1)
    assert info.value.field == "operator"
    assert info.value.code == "VALIDATION"


@pytest.mark.parametrize(
    ("actual", "operator", "expected", "result"),
    [
        (18, ">=", 18, True),
        (17, ">=", 18, False),
        ("18", "gte", 18, True),  # numeric strings are coerced
        ("9", "gt", "10", False),  # numerically 9 < 10, not lexically "9" > "10"
        ("abc", "gt", 1, False),  # no common order → false, never an error
        (5, "lt", 5, False),
        (5, "lte", 5.0, True),
        ("5", "eq", 5.0, True),
        ("gold", "eq", "Gold", False),
        ("gold", "neq", "silver", True),
        (True, "eq", "true", True),
        (1, "eq", True, False),  # a number is not a boolean
        ("2026-01-02", "gt", "2026-01-01", True),  # ISO strings order lexically
        (None, "gt", 0, False),
    ],
)
def test_compare_scalars(actual: object, operator: str, expected: object, result: bool) -> None:
    assert compare(actual, operator, expected) is result


def test_membership_and_contains() -> None:
    assert compare("gold", "in", ["gold", "platinum"])
    assert not compare("silver", "in", ["gold", "platinum"])
    assert compare("3", "in", [1, 2, 3])
    assert compare(["a", "b"], "in", ["b", "c"])  # list actual: any overlap
    assert compare("x", "in", "a, x")  # comma-separated expected
    assert compare("silver", "not_in", ["gold"])
    assert not compare("gold", "not_in", ["gold"])
    assert compare("premium card", "contains", "card")
    assert compare(["vip", "new"], "contains", "vip")
    assert not compare(None, "contains", "x")
    assert compare("SBX-0042", "starts_with", "SBX-")
    assert not compare(42, "starts_with", "4")


def test_regex_and_invalid_pattern() -> None:
    assert compare("user@example.com", "regex", r"@example\.com$")
    assert not compare("user@other.com", "regex", r"@example\.com$")
    with pytest.raises(ValidationError):
        compare("x", "regex", "(unclosed")


def test_presence_operators_distinguish_missing_from_null() -> None:
    assert compare(MISSING, "not_exists")
    assert compare(None, "not_exists")
    assert compare(0, "exists")
    assert not compare(MISSING, "exists")
    assert compare(None, "is_null") and compare(MISSING, "is_null")
    assert compare("", "is_not_null")
    assert compare(MISSING, "neq", 5)
    assert not compare(MISSING, "eq", None)
    assert not compare(MISSING, "lt", 5)


def test_to_number() -> None:
    assert to_number(" 4.5 ") == 4.5
    assert to_number(True) is None
    assert to_number("nan") is None
    assert to_number("abc") is None


def test_resolve_field_nested_flat_and_default_namespace() -> None:
    namespaces = {
        "customer": {"age": 30, "starbucks_customers.income": 72000, "customer.tier": "gold", "blank": None},
        "offer": {"priority": 70, "customFields": {"fee": 95}},
        "request.channel": "email",
    }
    assert resolve_field("customer.age", namespaces) == (True, 30)
    assert resolve_field("offer.customFields.fee", namespaces) == (True, 95)
    assert resolve_field("request.channel", namespaces) == (True, "email")  # flat top-level key
    assert resolve_field("customer.tier", namespaces) == (True, "gold")  # flat key inside namespace
    assert resolve_field("customer.starbucks_customers.income", namespaces) == (True, 72000)
    assert resolve_field("starbucks_customers.income", namespaces, "customer") == (True, 72000)
    assert resolve_field("age", namespaces, "customer") == (True, 30)
    assert resolve_field("tier", namespaces, "customer") == (True, "gold")  # stored as "customer.tier"
    assert resolve_field("customer.blank", namespaces) == (True, None)
    assert resolve_field("customer.height", namespaces) == (False, None)
    assert resolve_field("starbucks_customers.income", namespaces) == (False, None)
    assert resolve_field("", namespaces) == (False, None)


def test_evaluate_condition_and_trees() -> None:
    ns = {"customer": {"age": 30, "tier": "gold"}, "request": {"channel": "email"}}
    assert evaluate_condition({"field": "customer.age", "operator": ">=", "value": 18}, ns)
    assert evaluate_condition({"field": "customer.height", "operator": "not_exists"}, ns)
    assert not evaluate_condition({"field": "customer.height", "operator": "gt", "value": 1}, ns)
    adult = {"not": {"field": "customer.age", "operator": "lt", "value": 21}}
    sms = {"field": "request.channel", "operator": "eq", "value": "sms"}
    tree = {
        "all": [
            {"field": "customer.tier", "operator": "in", "value": ["gold", "platinum"]},
            {"any": [sms, adult]},
        ]
    }
    assert evaluate_tree(tree, ns)
    flat_or = {"combinator": "OR", "conditions": [{"field": "customer.age", "operator": "lt", "value": 18}]}
    assert not evaluate_tree(flat_or, ns)
    assert evaluate_tree({"conditions": [], "combinator": "AND"}, ns)
    with pytest.raises(ValidationError):
        evaluate_tree({"combinator": "XOR", "conditions": []}, ns)


def test_symbols_and_formatting() -> None:
    assert operator_symbol(">=", negated=True) == "<"
    assert operator_symbol("eq") == "=="
    assert format_value(18.0) == "18"
    assert format_value(["gold", "platinum"]) == "[gold, platinum]"
    assert format_value(MISSING) == "<missing>"
