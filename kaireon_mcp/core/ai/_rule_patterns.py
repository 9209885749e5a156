"""The deterministic rule parser of http-bridge.md 3.10.1: regex families, evaluated in order.

Entities come back in the order their matches start in the text, a metric always
directly before the rule that uses it; category lookup and field warnings are the
caller's (they need the database).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

__all__ = ["CategoryRef", "Extraction", "extract", "normalise"]

NUM = r"((?:\d{1,3}(?:,\d{3})+|\d+)(?:\.\d+)?)"
AGE_1 = re.compile(
    r"\baged?\s*(?:of\s+)?(?:>=|at least|over|above|greater than|more than)?\s*(\d{1,3})\b"
    r"(?:\s*(?:\+|years?(?:\s+old)?))?(?:\s+or\s+(?:older|over|above|more))?"
)
AGE_2 = re.compile(
    r"\b(?:customers?|users?|people|members?|those|anyone|individuals?)\s+(?:who\s+are\s+|that\s+are\s+)?"
    r"(?:over|above|older than|at least)\s+(\d{1,3})\b(?!\s*(?:%|dollars?|usd))"
)
AGE_3 = re.compile(r"\b(\d{1,3})\s*(?:\+\s*)?(?:years?|yrs?)\s+old(?:\s+or\s+(?:older|over|above))?")
WSPEND = re.compile(
    r"\bspen(?:t|d|ds|ding)\s+(?:(?:more than|over|above|at least|greater than|>=?)\s+)?\$\s?"
    + NUM
    + r"(?:\s+or\s+more)?\s+(?:in|within|over|during)\s+the\s+(?:last|past|previous)\s+(\d+)\s+"
    r"(days?|weeks?|months?)\b"
)
SPEND = re.compile(
    r"\bspen(?:t|d|ds|ding)\s+(?:more than|over|above|at least|greater than|>=?)\s+\$\s?" + NUM
)
NEG = re.compile(
    r"\b(?:haven't|have not|hasn't|has not|never|didn't|did not|don't|do not)\s+(?:yet\s+)?"
    r"(convert(?:ed)?|click(?:ed)?|purchas(?:e|ed)|bought|buy|accept(?:ed)?|respond(?:ed)?|open(?:ed)?)\b"
)
CAT = re.compile(r"\b((?:[a-z][a-z0-9&\-]*\s+){0,2}[a-z][a-z0-9&\-]*)\s+offers?\b")
WINDOW_AFTER = re.compile(
    r"\s+(?:in|within|over|during)\s+the\s+(?:last|past|previous)\s+(\d+)\s+(days?|weeks?|months?)\b"
)
STOP_WORDS = frozenset(
    {"on", "for", "with", "to", "of", "the", "any", "all", "our", "these", "those", "show", "only"}
)
UNIT_DAYS = {"day": 1, "week": 7, "month": 30}


@dataclass(frozen=True)
class CategoryRef:
    """A category phrase found next to a negation, to be resolved against the tenant."""

    name: str
    entity_index: int


@dataclass
class Extraction:
    entities: list[dict[str, Any]] = field(default_factory=list)
    categories: list[CategoryRef] = field(default_factory=list)


def normalise(text: str) -> str:
    """Lower-case, straight apostrophes, single spaces."""
    return " ".join(text.replace("\u2019", "'").lower().split())


def _number(raw: str) -> int | float:
    value = float(raw.replace(",", ""))
    return int(value) if value.is_integer() else value


def _amount(value: int | float) -> str:
    return f"${value}" if isinstance(value, int) else f"${value:g}"


def _days(count: str, unit: str) -> int:
    return int(count) * UNIT_DAYS[unit.rstrip("s")]


def _rule(name: str, field_name: str, value: int | float) -> dict[str, Any]:
    condition = {"field": field_name, "operator": "gte", "value": value}
    return {
        "type": "qualification_rule",
        "name": name,
        "payload": {"conditions": [condition], "ruleType": "hard"},
    }


def _age(text: str) -> tuple[int, list[dict[str, Any]]] | None:
    found: list[tuple[int, int, int]] = []
    for order, pattern in enumerate((AGE_1, AGE_2, AGE_3)):
        for match in pattern.finditer(text):
            n = int(match.group(1))
            if 0 <= n <= 120:
                found.append((match.start(), order, n))
                break
    if not found:
        return None
    start, _, n = min(found)
    return start, [_rule(f"Age >= {n}", "customer.age", n)]


def _windowed(text: str) -> tuple[list[tuple[int, list[dict[str, Any]]]], list[tuple[int, int]]]:
    out, spans = [], []
    for match in WSPEND.finditer(text):
        amount, days = _number(match.group(1)), _days(match.group(2), match.group(3))
        metric = f"total_spend_{days}d"
        entities = [
            {
                "type": "behavioral_metric",
                "name": metric,
                "payload": {
                    "aggregation": "sum",
                    "field": "revenue",
                    "windowDays": days,
                    "description": f"Sum of revenue from conversions over the last {days} days",
                },
            },
            _rule(f"Spend >= {_amount(amount)} ({days}d)", metric, amount),
        ]
        out.append((match.start(), entities))
        spans.append(match.span())
    return out, spans


def _plain_spend(text: str, inside: list[tuple[int, int]]) -> list[tuple[int, list[dict[str, Any]]]]:
    out = []
    for match in SPEND.finditer(text):
        if any(a <= match.start() and match.end() <= b for a, b in inside):
            continue
        amount = _number(match.group(1))
        out.append((match.start(), [_rule(f"Spend >= {_amount(amount)}", "customer.total_spend", amount)]))
    return out


def _outcome(verb: str) -> str:
    if verb.startswith(("convert", "purchas", "bought", "buy")):
        return "convert"
    if verb.startswith("click"):
        return "click"
    if verb.startswith(("accept", "respond")):
        return "accept"
    return "open"


def _category(text: str, start: int) -> str | None:
    match = CAT.search(text, start) or CAT.search(text)
    if match is None:
        return None
    words = match.group(1).split()
    while words and words[0] in STOP_WORDS:
        words.pop(0)
    return " ".join(words) or None


def _negations(text: str, default_days: int) -> list[tuple[int, list[dict[str, Any]], str | None]]:
    out = []
    for match in NEG.finditer(text):
        window = WINDOW_AFTER.match(text, match.end())
        days = _days(window.group(1), window.group(2)) if window else default_days
        outcome = _outcome(match.group(1))
        policy = {
            "type": "contact_policy",
            "name": f"Suppress after {outcome}",
            "payload": {
                "ruleType": "outcome_based",
                "config": {"afterOutcome": outcome, "suppressForDays": days},
                "scope": "global",
            },
        }
        out.append((match.start(), [policy], _category(text, match.end())))
    return out


def extract(raw_text: str, default_suppress_days: int = 90) -> Extraction:
    """Run every family over the normalised text."""
    text = normalise(raw_text)
    found: list[tuple[int, list[dict[str, Any]], str | None]] = []
    age = _age(text)
    if age is not None:
        found.append((*age, None))
    windowed, spans = _windowed(text)
    found += [(start, ents, None) for start, ents in windowed]
    found += [(start, ents, None) for start, ents in _plain_spend(text, spans)]
    found += _negations(text, default_suppress_days)
    result = Extraction()
    for _, entities, category in sorted(found, key=lambda item: item[0]):
        if category is not None:
            result.categories.append(CategoryRef(category, len(result.entities)))
        result.entities.extend(entities)
    return result
