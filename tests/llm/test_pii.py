"""PII sanitization: what is scrubbed, what is kept on purpose, and the walk's limits."""

from __future__ import annotations

from typing import Any

import pytest

from kaireon_mcp.llm.pii import MAX_ARRAY_ITEMS, MAX_DEPTH, sanitize, scrub_text


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("mail jane.doe+vip@example.co.uk now", "mail [REDACTED:EMAIL] now"),
        ("call +1 (415) 555-0134", "call [REDACTED:PHONE]"),
        ("call +44 20 7946 0958.", "call [REDACTED:PHONE]."),
        ("call +4915112345678", "call [REDACTED:PHONE]"),
        ("call (415) 555-0134 or 415-555-0134", "call [REDACTED:PHONE] or [REDACTED:PHONE]"),
        ("call 415.555.0134 or 1-800-555-0199", "call [REDACTED:PHONE] or [REDACTED:PHONE]"),
        ("ssn 123-45-6789", "ssn [REDACTED:SSN]"),
        ("card 4111 1111 1111 1111", "card [REDACTED:CARD]"),
        ("card 4111-1111-1111-1111.", "card [REDACTED:CARD]."),
        ("amex 378282246310005", "amex [REDACTED:CARD]"),
        ("iban DE89 3704 0044 0532 0130 00 ok", "iban [REDACTED:IBAN] ok"),
        ("iban GB82WEST12345698765432", "iban [REDACTED:IBAN]"),
        ("from 192.168.10.254", "from [REDACTED:IP]"),
        ("key krn_live_9f8e7d6c5b4a", "key [REDACTED:API_KEY]"),
    ],
)
def test_pii_inside_free_text_is_replaced_in_place(text: str, expected: str) -> None:
    assert scrub_text(text) == expected


@pytest.mark.parametrize(
    "text",
    [
        "C-0001",
        "customer C-0001 got offer O-12",
        "2026-03-18T10:30:00Z",
        "2026-03-18T10:30:00.123Z",
        "score 0.749 and cvr 0.0981234567",
        "impressions 1234567 clicks 98765",
        "epoch 1710757800000",
        "4111 1111 1111 1112",  # fails the Luhn check
        "version 1.2.3",
        "offer_4111111111111111",
        "DE00 1234 5678 9012 3456 78",  # fails the IBAN checksum
        "range 100-2000",
        "dec_3f2a9c1b0e",
    ],
)
def test_ids_timestamps_decimals_and_counts_are_not_mangled(text: str) -> None:
    assert scrub_text(text) == text


def test_identity_keys_are_replaced_wholesale_whatever_their_spelling() -> None:
    row = {
        "customerId": "C-0001",
        "email": "not-even-an-address",
        "Phone_Number": "0041 79 123",
        "mobile": "+41791234567",
        "SSN": "123456789",
        "cardNumber": 4111111111111111,
        "first_name": "Jane",
        "lastName": "Doe",
        "dateOfBirth": "1990-01-01",
        "address": {"line1": "1 Main St", "city": "Springfield"},
        "postalCode": 94105,
        "ipAddress": "10.0.0.1",
        "iban": "DE89370400440532013000",
        "apiKey": "krn_x",
        "password": "hunter2",
        "tier": "gold",
        "balance": 1520.75,
    }
    assert sanitize(row) == {
        "customerId": "C-0001",
        "email": "[REDACTED:EMAIL]",
        "Phone_Number": "[REDACTED:PHONE]",
        "mobile": "[REDACTED:PHONE]",
        "SSN": "[REDACTED:SSN]",
        "cardNumber": "[REDACTED:CARD]",
        "first_name": "[REDACTED:NAME]",
        "lastName": "[REDACTED:NAME]",
        "dateOfBirth": "[REDACTED:DATE_OF_BIRTH]",
        "address": "[REDACTED:ADDRESS]",
        "postalCode": "[REDACTED:ADDRESS]",
        "ipAddress": "[REDACTED:IP]",
        "iban": "[REDACTED:IBAN]",
        "apiKey": "[REDACTED:SECRET]",
        "password": "[REDACTED:SECRET]",
        "tier": "gold",
        "balance": 1520.75,
    }


def test_channel_breakdowns_and_flags_under_identity_keys_survive() -> None:
    metrics = {
        "byChannel": {"email": {"sent": 120, "ctr": 0.031}, "phone": 45},
        "emailOptIn": True,
        "hasPhone": False,
    }
    assert sanitize(metrics) == metrics


def test_the_walk_recurses_through_objects_and_arrays_without_touching_the_input() -> None:
    value: dict[str, Any] = {"rows": [{"note": "ping jane@x.io"}, ("a@b.co", 3)], "n": None, "ok": True}
    assert sanitize(value) == {
        "rows": [{"note": "ping [REDACTED:EMAIL]"}, ["[REDACTED:EMAIL]", 3]],
        "n": None,
        "ok": True,
    }
    assert value["rows"][0]["note"] == "ping jane@x.io"


def test_keys_that_contain_pii_are_scrubbed_and_kept_apart() -> None:
    assert sanitize({"a@b.co": 1, "c@d.co": 2}) == {"[REDACTED:EMAIL]": 1, "[REDACTED:EMAIL]#": 2}


def test_long_arrays_are_truncated_with_a_marker() -> None:
    out = sanitize(list(range(MAX_ARRAY_ITEMS + 7)))
    assert out[:MAX_ARRAY_ITEMS] == list(range(MAX_ARRAY_ITEMS))
    assert out[MAX_ARRAY_ITEMS:] == ["…7 more items truncated"]


def test_nesting_beyond_the_depth_limit_is_cut() -> None:
    value: Any = "jane@x.io"
    for _ in range(MAX_DEPTH + 5):
        value = {"next": value}
    out = sanitize(value)
    for _ in range(MAX_DEPTH):
        out = out["next"]
    assert out == "[TRUNCATED:DEPTH]"


def test_sanitizing_is_deterministic_and_idempotent() -> None:
    value = {"note": "card 4111 1111 1111 1111, mail a@b.co", "email": "a@b.co"}
    once = sanitize(value)
    assert sanitize(value) == once
    assert sanitize(once) == once
