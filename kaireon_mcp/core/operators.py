"""The one condition evaluator shared by rules, filters, triggers, scorecards and policies.

Every module that compares a field to a value goes through :func:`compare` so that
operator spellings, numeric coercion and missing-value semantics never drift apart.
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterable, Mapping
from datetime import date, datetime
from decimal import Decimal
from functools import lru_cache
from typing import Any, Final

from kaireon_mcp.errors import ValidationError


class _Missing:
    """Sentinel for "the field does not exist", distinct from an explicit ``None``."""

    _instance: _Missing | None = None

    def __new__(cls) -> _Missing:
        if cls._instance is None:
            cls._instance = super().__new__(cls)
        return cls._instance

    def __repr__(self) -> str:
        return "MISSING"

    def __bool__(self) -> bool:
        return False


MISSING: Final = _Missing()

CANONICAL_OPERATORS: Final[frozenset[str]] = frozenset(
    {
        "eq", "neq", "gt", "gte", "lt", "lte", "in", "not_in", "contains", "starts_with",
        "regex", "is_null", "is_not_null", "exists", "not_exists",
    }
)  # fmt: skip

OPERATOR_ALIASES: Final[Mapping[str, str]] = {
    "=": "eq",
    "==": "eq",
    "equals": "eq",
    "!=": "neq",
    "<>": "neq",
    "not_equals": "neq",
    ">": "gt",
    "greater_than": "gt",
    ">=": "gte",
    "greater_than_or_equal": "gte",
    "<": "lt",
    "less_than": "lt",
    "<=": "lte",
    "less_than_or_equal": "lte",
    "not in": "not_in",
    "startswith": "starts_with",
    "matches": "regex",
}

# Operators whose truth depends only on presence, so a missing field is not "skip".
PRESENCE_OPERATORS: Final[frozenset[str]] = frozenset({"exists", "not_exists", "is_null", "is_not_null"})

_SYMBOLS: Final[Mapping[str, str]] = {
    "eq": "==", "neq": "!=", "gt": ">", "gte": ">=", "lt": "<", "lte": "<=", "in": "in",
    "not_in": "not in", "contains": "contains", "starts_with": "starts with", "regex": "matches",
    "is_null": "is null", "is_not_null": "is not null", "exists": "exists", "not_exists": "does not exist",
}  # fmt: skip

_NEGATED_SYMBOLS: Final[Mapping[str, str]] = {
    "eq": "!=", "neq": "==", "gt": "<=", "gte": "<", "lt": ">=", "lte": ">", "in": "not in",
    "not_in": "in", "contains": "does not contain", "starts_with": "does not start with",
    "regex": "does not match", "is_null": "is not null", "is_not_null": "is null",
    "exists": "does not exist", "not_exists": "exists",
}  # fmt: skip


_KNOWN: dict[str, str] = {}
_KNOWN_MAX = 1024


def normalize_operator(operator: str) -> str:
    """Map any accepted spelling to its canonical name; unknown spellings are config errors.

    Accepted spellings are memoised: every rule, policy and scorecard check normalises.
    """
    if not isinstance(operator, str):
        raise ValidationError(f"Operator must be a string, got {type(operator).__name__}", field="operator")
    canonical = _KNOWN.get(operator)
    if canonical is None:
        canonical = _normalize(operator)
        if len(_KNOWN) < _KNOWN_MAX:
            _KNOWN[operator] = canonical
    return canonical


def _normalize(operator: str) -> str:
    key = operator.strip()
    lowered = key.lower()
    if lowered in CANONICAL_OPERATORS:
        return lowered
    canonical = OPERATOR_ALIASES.get(key) or OPERATOR_ALIASES.get(lowered)
    if canonical is None:
        raise ValidationError(f"Unknown operator {operator!r}", field="operator")
    return canonical


def operator_symbol(operator: str, negated: bool = False) -> str:
    """Human-readable symbol for reasons such as ``age 16 < 18`` (negated = the failing relation)."""
    canonical = normalize_operator(operator)
    return (_NEGATED_SYMBOLS if negated else _SYMBOLS)[canonical]


def to_number(value: Any) -> float | None:
    """Coerce ints, floats, Decimals and numeric strings; booleans and NaN are not numbers."""
    kind = type(value)
    if kind is float or kind is int:  # the common case, without the isinstance chain
        number = float(value)
        return None if math.isnan(number) else number
    if isinstance(value, bool) or value is None or value is MISSING:
        return None
    if isinstance(value, int | float | Decimal):
        number = float(value)
    elif isinstance(value, str):
        try:
            number = float(value.strip())
        except ValueError:
            return None
    else:
        return None
    return None if math.isnan(number) else number


def _as_bool(value: Any) -> bool | None:
    if isinstance(value, bool):
        return value
    if isinstance(value, str) and value.strip().lower() in {"true", "false"}:
        return value.strip().lower() == "true"
    return None


def _equals(actual: Any, expected: Any) -> bool:
    if actual is MISSING:
        return False
    if isinstance(actual, bool) or isinstance(expected, bool):
        left, right = _as_bool(actual), _as_bool(expected)
        return left is not None and left == right
    if actual == expected:
        return True
    left_num, right_num = to_number(actual), to_number(expected)
    return left_num is not None and left_num == right_num


def _ordered(actual: Any, expected: Any) -> tuple[Any, Any] | None:
    """Return a comparable pair, or ``None`` when the two values have no common order."""
    left_num, right_num = to_number(actual), to_number(expected)
    if left_num is not None and right_num is not None:
        return left_num, right_num
    if isinstance(actual, str) and isinstance(expected, str):
        return actual, expected
    if isinstance(actual, datetime) and isinstance(expected, datetime):
        return actual, expected
    if isinstance(actual, date) and isinstance(expected, date):
        return actual, expected
    return None


def _as_collection(value: Any) -> list[Any] | None:
    if isinstance(value, str):
        return [part.strip() for part in value.split(",")]
    if isinstance(value, Mapping):
        return list(value.keys())
    if isinstance(value, Iterable):
        return list(value)
    return None


def _membership(actual: Any, expected: Any) -> bool:
    options = _as_collection(expected)
    if options is None or actual is MISSING or actual is None:
        return False
    values = actual if isinstance(actual, list | tuple | set | frozenset) else [actual]
    return any(_equals(value, option) for value in values for option in options)


def _contains(actual: Any, expected: Any) -> bool:
    if isinstance(actual, str):
        return expected is not None and str(expected) in actual
    if isinstance(actual, Mapping):
        return expected in actual
    if isinstance(actual, list | tuple | set | frozenset):
        return any(_equals(item, expected) for item in actual)
    return False


@lru_cache(maxsize=512)
def _compiled(pattern: str) -> re.Pattern[str]:
    try:
        return re.compile(pattern)
    except re.error as exc:
        raise ValidationError(f"Invalid regex {pattern!r}: {exc}", field="value") from exc


def _compare_order(canonical: str, actual: Any, expected: Any) -> bool:
    pair = _ordered(actual, expected)
    if pair is None:
        return False
    left, right = pair
    if canonical == "gt":
        return bool(left > right)
    if canonical == "gte":
        return bool(left >= right)
    if canonical == "lt":
        return bool(left < right)
    return bool(left <= right)


def compare(actual: Any, operator: str, expected: Any = None) -> bool:
    """Evaluate ``actual <operator> expected``.

    ``actual`` may be :data:`MISSING` (field absent): it equals nothing, has no order, and
    only ``neq``/``not_in``/``is_null``/``not_exists`` hold for it. ``exists`` means present
    and not null. Ordering coerces numeric strings; otherwise strings and dates compare
    natively and mixed types are simply "false" rather than an error.
    """
    return compare_canonical(actual, normalize_operator(operator), expected)


def compare_canonical(actual: Any, canonical: str, expected: Any = None) -> bool:
    """:func:`compare` for an operator already passed through :func:`normalize_operator`."""
    if canonical == "eq":
        return _equals(actual, expected)
    if canonical == "neq":
        return not _equals(actual, expected)
    if canonical in {"gt", "gte", "lt", "lte"}:
        return _compare_order(canonical, actual, expected)
    if canonical == "in":
        return _membership(actual, expected)
    if canonical == "not_in":
        return not _membership(actual, expected)
    if canonical == "contains":
        return _contains(actual, expected)
    if canonical == "starts_with":
        return isinstance(actual, str) and expected is not None and actual.startswith(str(expected))
    if canonical == "regex":
        pattern = _compiled(str(expected))
        return isinstance(actual, str | int | float) and pattern.search(str(actual)) is not None
    if canonical in {"is_null", "not_exists"}:
        return actual is None or actual is MISSING
    return actual is not None and actual is not MISSING  # is_not_null, exists


def _walk(mapping: Mapping[str, Any], parts: list[str]) -> tuple[bool, Any]:
    """Longest-prefix-first descent so flat dotted keys and nested dicts both resolve."""
    for cut in range(len(parts), 0, -1):
        key = ".".join(parts[:cut])
        if key not in mapping:
            continue
        value = mapping[key]
        if cut == len(parts):
            return True, value
        if isinstance(value, Mapping):
            found, inner = _walk(value, parts[cut:])
            if found:
                return True, inner
    return False, None


def resolve_field(
    path: str, namespaces: Mapping[str, Any], default_namespace: str | None = None
) -> tuple[bool, Any]:
    """Find ``path`` (e.g. ``customer.age``) in ``{"customer": {...}, "offer": {...}}``.

    Tried in order: the whole path as a flat key or nested walk from the top; the whole
    path as a literal key inside its namespace (``{"customer": {"customer.age": 3}}``);
    then, if given, inside ``default_namespace`` (so ``starbucks_customers.age`` or a bare
    ``age`` resolves against customer attributes, also when stored as ``customer.age``).
    Returns ``(found, value)``.
    """
    if not path:
        return False, None
    if type(path) is str and type(namespaces) is dict and default_namespace is None and "." not in path:
        return (True, namespaces[path]) if path in namespaces else (False, None)  # a plain key
    parts = path.split(".")
    found, value = _walk(namespaces, parts)
    if found:
        return True, value
    head = namespaces.get(parts[0])
    if isinstance(head, Mapping) and path in head:
        return True, head[path]
    if default_namespace is not None and parts[0] != default_namespace:
        scope = namespaces.get(default_namespace)
        if isinstance(scope, Mapping):
            found, value = _walk(scope, parts)
            prefixed = f"{default_namespace}.{path}"
            if not found and prefixed in scope:
                return True, scope[prefixed]
            return found, value
    return False, None


def evaluate_condition(
    condition: Mapping[str, Any], namespaces: Mapping[str, Any], default_namespace: str | None = None
) -> bool:
    """``{field, operator, value}`` against the namespaces; an absent field is :data:`MISSING`."""
    field = condition.get("field") or condition.get("attribute")
    if not isinstance(field, str):
        raise ValidationError("Condition needs a string 'field'", field="field")
    found, actual = resolve_field(field, namespaces, default_namespace)
    return compare(actual if found else MISSING, str(condition.get("operator", "eq")), condition.get("value"))


def evaluate_tree(
    node: Mapping[str, Any], namespaces: Mapping[str, Any], default_namespace: str | None = None
) -> bool:
    """Nested and/or trees: ``{all|and: [...]}``, ``{any|or: [...]}``,
    ``{conditions: [...], combinator: AND|OR}``, ``{not: node}`` or a leaf condition.

    Empty groups are true for AND and false for OR, as in logic.
    """
    for key, combine in (("all", all), ("and", all), ("any", any), ("or", any)):
        if key in node:
            return combine(evaluate_tree(child, namespaces, default_namespace) for child in node[key])
    if "not" in node:
        return not evaluate_tree(node["not"], namespaces, default_namespace)
    if "conditions" in node:
        combinator = str(node.get("combinator", "AND")).upper()
        if combinator not in {"AND", "OR"}:
            raise ValidationError(f"Unknown combinator {combinator!r}", field="combinator")
        children = (evaluate_tree(child, namespaces, default_namespace) for child in node["conditions"])
        return all(children) if combinator == "AND" else any(children)
    return evaluate_condition(node, namespaces, default_namespace)


def format_value(value: Any) -> str:
    """Compact rendering for reason strings: ``16`` not ``16.0``, lists as ``[a, b]``."""
    if value is MISSING:
        return "<missing>"
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    if isinstance(value, list | tuple | set | frozenset):
        return "[" + ", ".join(format_value(item) for item in value) + "]"
    return str(value)
