"""recordOutcome idempotency: a retry replays, the same key on another event is a CONFLICT."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from sqlalchemy import select

import kaireon_mcp.tools.flows  # noqa: F401 - registers tools
import kaireon_mcp.tools.runtime  # noqa: F401
from kaireon_mcp.errors import ConflictError
from kaireon_mcp.storage.db import Database
from kaireon_mcp.storage.tables import Interaction
from kaireon_mcp.tools.registry import execute
from tests.conftest import make_tool_ctx


async def call(db: Database, name: str, args: dict[str, Any]) -> dict[str, Any]:
    return await execute(name, args, make_tool_ctx(db))


async def rows_with_key(db: Database, key: str) -> list[tuple[str, str]]:
    async with db.session() as s:
        found = await s.execute(
            select(Interaction.customer_id, Interaction.interaction_type).where(
                Interaction.idempotency_key == key
            )
        )
        return [tuple(r) for r in found.all()]  # type: ignore[misc]


async def click_on_first_decision(db: Database, customer: str, key: str) -> dict[str, Any]:
    """A recordOutcome body: a click on rank 1 of a fresh web recommendation."""
    rec = await call(db, "recommend", {"customerId": customer, "channel": "web", "limit": 2})
    return {
        "customerId": customer,
        "recommendationId": rec["recommendationId"],
        "rank": 1,
        "outcome": "click",
        "idempotencyKey": key,
    }


async def test_same_key_on_another_event_is_a_conflict_and_writes_nothing(demo_db: Database) -> None:
    body = await click_on_first_decision(demo_db, "C-0005", "k-shared")
    first = await call(demo_db, "recordOutcome", body)
    assert first["status"] == "recorded" and first["replayed"] is False

    retry = await call(demo_db, "recordOutcome", dict(body))
    assert retry["replayed"] is True and retry["interactionId"] == first["interactionId"]

    other = await call(demo_db, "recommend", {"customerId": "C-0006", "channel": "web", "limit": 1})
    cases = [
        ({**body, "outcome": "impression"}, "outcome 'click', not 'impression'"),
        (
            {**body, "customerId": "C-0006", "recommendationId": other["recommendationId"]},
            "customerId 'C-0005', not 'C-0006'",
        ),
        ({**body, "rank": 2}, "rank 1, not 2"),
    ]
    for changed, detail in cases:
        with pytest.raises(ConflictError) as refused:
            await call(demo_db, "recordOutcome", changed)
        assert refused.value.field == "idempotencyKey" and detail in refused.value.message

    assert await rows_with_key(demo_db, "k-shared") == [("C-0005", "click")]


async def test_concurrent_retries_record_once(demo_db: Database) -> None:
    """Two deliveries of one event racing: one records, the other answers as its retry."""
    body = await click_on_first_decision(demo_db, "C-0007", "k-race")
    a, b = await asyncio.gather(
        call(demo_db, "recordOutcome", body), call(demo_db, "recordOutcome", dict(body))
    )
    assert a["interactionId"] == b["interactionId"]
    assert sorted([a["replayed"], b["replayed"]]) == [False, True]
    assert await rows_with_key(demo_db, "k-race") == [("C-0007", "click")]
