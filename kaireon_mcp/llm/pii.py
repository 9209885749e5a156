"""PII sanitization of tool outputs before they reach a model, a client or storage (spec section 5).

Two passes over a JSON value: values under identity keys (``email``, ``phone``, ``ssn``...)
are replaced wholesale, and every remaining string is scanned for e-mails, phone numbers,
SSNs, payment cards, IBANs, IPv4 addresses and ``krn_`` API keys. Pseudonymous ids
(``customerId``, ``C-0001``), timestamps, decimals and counts are kept on purpose: the
assistant needs them for follow-up calls. The walk is deterministic and stores nothing.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from typing import Any

__all__ = ["MAX_ARRAY_ITEMS", "MAX_DEPTH", "redaction", "sanitize", "scrub_text"]

MAX_DEPTH = 20
MAX_ARRAY_ITEMS = 500


def redaction(kind: str) -> str:
    """The replacement token for one kind of PII, e.g. ``[REDACTED:EMAIL]``."""
    return f"[REDACTED:{kind}]"


# Normalised key (lower case, no "_" or "-") -> kind. Matched exactly.
_EXACT_KEYS: dict[str, str] = {
    "mobile": "PHONE",
    "ssn": "SSN",
    "socialsecuritynumber": "SSN",
    "taxid": "TAX_ID",
    "nationalid": "NATIONAL_ID",
    "passport": "PASSPORT",
    "passportnumber": "PASSPORT",
    "dob": "DATE_OF_BIRTH",
    "street": "ADDRESS",
    "zip": "ADDRESS",
    "ip": "IP",
    "iban": "IBAN",
    "token": "SECRET",
}
# Normalised key suffixes -> kind, longest first so "ipaddress" wins over "address".
# ("homePhone", "customerEmail", "billingAddress", "clientSecret" ...)
_SUFFIX_KEYS: tuple[tuple[str, str], ...] = (
    ("socialsecuritynumber", "SSN"),
    ("creditcardnumber", "CARD"),
    ("accountnumber", "ACCOUNT"),
    ("emailaddress", "EMAIL"),
    ("mobilenumber", "PHONE"),
    ("phonenumber", "PHONE"),
    ("dateofbirth", "DATE_OF_BIRTH"),
    ("accesstoken", "SECRET"),
    ("refreshtoken", "SECRET"),
    ("cardnumber", "CARD"),
    ("creditcard", "CARD"),
    ("postalcode", "ADDRESS"),
    ("ipaddress", "IP"),
    ("birthdate", "DATE_OF_BIRTH"),
    ("firstname", "NAME"),
    ("lastname", "NAME"),
    ("fullname", "NAME"),
    ("password", "SECRET"),
    ("zipcode", "ADDRESS"),
    ("address", "ADDRESS"),
    ("apikey", "SECRET"),
    ("secret", "SECRET"),
    ("email", "EMAIL"),
    ("phone", "PHONE"),
)
# Under these keys a nested object is more likely a per-channel breakdown
# ({"email": {"sent": 120}}) than an identity, so it is walked instead of dropped.
_CHANNEL_KINDS = frozenset({"EMAIL", "PHONE"})
# Numbers under identity keys are redacted only when they could be the identifier itself.
_MIN_IDENTIFYING_DIGITS = 7
_ALWAYS_NUMERIC_KINDS = frozenset({"ADDRESS", "DATE_OF_BIRTH", "SSN", "CARD", "ACCOUNT", "SECRET"})


def _key_kind(key: str) -> str | None:
    norm = key.lower().replace("_", "").replace("-", "")
    if norm in _EXACT_KEYS:
        return _EXACT_KEYS[norm]
    for suffix, kind in _SUFFIX_KEYS:
        if norm.endswith(suffix):
            return kind
    return None


def _luhn_ok(digits: str) -> bool:
    total = 0
    for i, ch in enumerate(reversed(digits)):
        d = int(ch)
        if i % 2:
            d = d * 2 - 9 if d > 4 else d * 2
        total += d
    return total % 10 == 0


def _is_card(match: re.Match[str]) -> bool:
    digits = re.sub(r"\D", "", match.group())
    # Card numbers start with 2-6 (Mastercard 2-series through Discover); this keeps
    # 13-digit epoch-millisecond timestamps ("17...") from passing by Luhn luck.
    return 13 <= len(digits) <= 19 and digits[0] in "23456" and _luhn_ok(digits)


def _is_iban(match: re.Match[str]) -> bool:
    compact = match.group().replace(" ", "")
    if not 15 <= len(compact) <= 34:
        return False
    rearranged = compact[4:] + compact[:4]
    return int("".join(str(int(ch, 36)) for ch in rearranged)) % 97 == 1


def _is_phone(match: re.Match[str]) -> bool:
    return 7 <= sum(ch.isdigit() for ch in match.group()) <= 15


_OCTET = r"(?:25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)"
_US_PHONE = r"(?<![\w.+\-])(?:1[-. ])?(?:\(\d{3}\) ?|\d{3}[-. ])\d{3}[-. ]\d{4}(?!\w|[.\-]\d)"
# Each pattern refuses to start or end inside a word or a decimal, which is what keeps
# "C-0001", "2026-03-18T10:30:00Z" and "0.749" intact.
_PATTERNS: tuple[tuple[str, re.Pattern[str], Callable[[re.Match[str]], bool] | None], ...] = (
    ("EMAIL", re.compile(r"[A-Za-z0-9._%+\-]+@[A-Za-z0-9\-]+(?:\.[A-Za-z0-9\-]+)*\.[A-Za-z]{2,}"), None),
    ("API_KEY", re.compile(r"\bkrn_[A-Za-z0-9_\-]{8,}"), None),
    ("IBAN", re.compile(r"\b[A-Z]{2}\d{2}(?: ?[A-Z0-9]{4}){2,7}(?: ?[A-Z0-9]{1,3})?\b"), _is_iban),
    ("CARD", re.compile(r"(?<![\w.+])\d(?:[ -]?\d){12,18}(?!\w|\.\d)"), _is_card),
    ("SSN", re.compile(r"(?<![\w-])\d{3}-\d{2}-\d{4}(?![\w-])"), None),
    ("IP", re.compile(rf"(?<![\w.]){_OCTET}(?:\.{_OCTET}){{3}}(?!\w|\.\d)"), None),
    ("PHONE", re.compile(r"(?<![\w+])\+\d[\d ().\-]{5,22}\d(?!\w)"), _is_phone),
    ("PHONE", re.compile(_US_PHONE), None),
)


def _replacer(kind: str, accept: Callable[[re.Match[str]], bool] | None) -> Callable[[re.Match[str]], str]:
    token = redaction(kind)

    def replace(match: re.Match[str]) -> str:
        return token if accept is None or accept(match) else match.group()

    return replace


_REPLACERS = tuple((pattern, _replacer(kind, accept)) for kind, pattern, accept in _PATTERNS)


def scrub_text(text: str) -> str:
    """Replace every PII value found inside free text by its redaction token."""
    for pattern, replace in _REPLACERS:
        text = pattern.sub(replace, text)
    return text


def _identifying_number(kind: str, value: int | float) -> bool:
    digits = len(str(abs(int(value))))
    return kind in _ALWAYS_NUMERIC_KINDS or digits >= _MIN_IDENTIFYING_DIGITS


def _redact_keyed(kind: str, value: Any, depth: int) -> Any:
    """A value under an identity key: gone wholesale, except harmless flags and counts."""
    if value is None or isinstance(value, bool) or value == "":
        return value
    if isinstance(value, int | float):
        return redaction(kind) if _identifying_number(kind, value) else value
    if isinstance(value, Mapping | list | tuple) and kind in _CHANNEL_KINDS:
        return _walk(value, depth)
    return redaction(kind)


def _walk_mapping(value: Mapping[Any, Any], depth: int) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for raw_key, item in value.items():
        key = scrub_text(str(raw_key))
        while key in out:  # two keys that redact to the same token must both survive
            key += "#"
        kind = _key_kind(str(raw_key))
        out[key] = _walk(item, depth + 1) if kind is None else _redact_keyed(kind, item, depth + 1)
    return out


def _walk_sequence(value: list[Any] | tuple[Any, ...] | set[Any] | frozenset[Any], depth: int) -> list[Any]:
    items = list(value)
    out = [_walk(item, depth + 1) for item in items[:MAX_ARRAY_ITEMS]]
    if len(items) > MAX_ARRAY_ITEMS:
        out.append(f"…{len(items) - MAX_ARRAY_ITEMS} more items truncated")
    return out


def _walk(value: Any, depth: int) -> Any:
    if value is None or isinstance(value, bool | int | float):
        return value
    if isinstance(value, str):
        return scrub_text(value)
    if isinstance(value, Mapping | list | tuple | set | frozenset) and depth >= MAX_DEPTH:
        return "[TRUNCATED:DEPTH]"
    if isinstance(value, Mapping):
        return _walk_mapping(value, depth)
    if isinstance(value, list | tuple | set | frozenset):
        return _walk_sequence(value, depth)
    return scrub_text(str(value))


def sanitize(value: Any) -> Any:
    """Return a PII-free copy of a JSON-like value; the input is never modified.

    Objects and arrays are walked to depth 20 (deeper containers become
    ``"[TRUNCATED:DEPTH]"``), arrays keep their first 500 items plus a marker,
    tuples and sets become lists and unknown objects their scrubbed ``str()``.
    """
    return _walk(value, 0)
