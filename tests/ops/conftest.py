"""A tiny hand-countable tenant: 2 offers, 2 channels, 3 customers, 12 interactions, 5 traces."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

import kaireon_mcp.tools.metrics
import kaireon_mcp.tools.operations  # noqa: F401  (registers the tools)
from kaireon_mcp.storage.context import TenantContext
from kaireon_mcp.storage.db import Database
from kaireon_mcp.storage.tables import Channel, DecisionTrace, Interaction, Offer
from kaireon_mcp.tools.registry import ToolContext, execute
from tests.conftest import make_tool_ctx

Call = Callable[..., Awaitable[Any]]
ANCHOR = datetime(2026, 3, 10, 12, 0, tzinfo=UTC)

# (customer, offer, channel, type, classification, is_impression, value, age)
EVENTS: list[tuple[str, str, str, str, str, bool, float | None, timedelta]] = [
    ("C1", "O1", "CH1", "impression", "neutral", True, None, timedelta(minutes=30)),
    ("C1", "O1", "CH1", "click", "positive", False, None, timedelta(minutes=20)),
    ("C1", "O1", "CH1", "conversion", "positive", False, 10.0, timedelta(hours=3)),
    ("C1", "O2", "CH2", "impression", "neutral", True, None, timedelta(days=2)),
    ("C1", "O2", "CH2", "click", "positive", False, None, timedelta(days=2)),
    ("C2", "O1", "CH1", "impression", "neutral", True, None, timedelta(days=3)),
    ("C2", "O1", "CH1", "dismiss", "negative", False, None, timedelta(days=3)),
    ("C2", "O2", "CH2", "impression", "neutral", True, None, timedelta(days=3)),
    ("C2", "O2", "CH2", "click", "positive", False, None, timedelta(days=3)),
    ("C3", "O1", "CH1", "impression", "neutral", True, None, timedelta(days=20)),
    ("C3", "O1", "CH1", "conversion", "positive", False, 5.0, timedelta(days=20)),
    ("C3", "O1", "CH1", "recommendation", "neutral", False, None, timedelta(days=20)),
]
# (duration ms, selected offers, degraded, age)
TRACES: list[tuple[float, list[str], bool, timedelta]] = [
    (10, ["O1"], False, timedelta(hours=1)),
    (20, ["O2"], False, timedelta(hours=2)),
    (30, [], True, timedelta(hours=3)),
    (400, ["O1"], False, timedelta(hours=4)),
    (1000, [], False, timedelta(days=20)),
]


@dataclass
class Fixture:
    db: Database
    anchor: datetime
    offers: dict[str, str]
    channels: dict[str, str]


async def seed_ops(db: Database, tenant: str, anchor: datetime) -> Fixture:
    await db.ensure_tenant(tenant)
    async with db.tenant(TenantContext(tenant_id=tenant)) as repo:
        offers = {
            k: (await repo.create(Offer, {"name": f"Offer {k}", "status": "active"})).id for k in ("O1", "O2")
        }
        channels = {k: (await repo.create(Channel, {"name": f"Channel {k}"})).id for k in ("CH1", "CH2")}
        for i, (cid, off, chn, kind, cls, imp, value, age) in enumerate(EVENTS):
            repo.session.add(
                Interaction(
                    id=f"ih_{tenant}_{i}",
                    tenant_id=tenant,
                    customer_id=cid,
                    offer_id=offers[off],
                    channel_id=channels[chn],
                    interaction_type=kind,
                    classification=cls,
                    is_impression=imp,
                    conversion_value=value,
                    timestamp=anchor - age,
                )
            )
        for i, (ms, selected, degraded, age) in enumerate(TRACES):
            repo.session.add(
                DecisionTrace(
                    id=f"trc_{tenant}_{i}",
                    tenant_id=tenant,
                    customer_id="C1",
                    request_id=f"req{i}",
                    channel_id=channels["CH1"],
                    selected_offers=[{"offerId": o} for o in selected],
                    degraded_scoring=degraded,
                    total_duration_ms=ms,
                    created_at=anchor - age,
                )
            )
    return Fixture(db, anchor, offers, channels)


@pytest.fixture
async def fx(db: Database) -> Fixture:
    """Anchored at a fixed instant: for core calls that take ``now``."""
    await db.ensure_tenant("t2")
    return await seed_ops(db, "t1", ANCHOR)


@pytest.fixture
async def live(db: Database) -> Fixture:
    """Anchored at the real clock: for tool calls (which measure up to now)."""
    await db.ensure_tenant("t2")
    return await seed_ops(db, "t1", datetime.now(UTC))


def ctx_for(db: Database, tenant: str = "t1", role: str = "admin", user: str | None = None) -> ToolContext:
    ctx = make_tool_ctx(db, tenant=tenant, role=role)
    ctx.principal = TenantContext(tenant_id=tenant, role=role, user_id=user)
    return ctx


@pytest.fixture
def call(db: Database) -> Call:
    async def run(
        name: str,
        args: dict[str, Any] | None = None,
        tenant: str = "t1",
        role: str = "admin",
        user: str | None = None,
    ) -> Any:
        return await execute(name, args or {}, ctx_for(db, tenant, role, user))

    return run
