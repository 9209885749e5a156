"""The demo tenant: deterministic, idempotent, with C-0001 capped on email this week."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from sqlalchemy import func, select

from kaireon_mcp.storage.db import Database
from kaireon_mcp.storage.seed import SeedParams, dataset_digest, seed_demo
from kaireon_mcp.storage.tables import (
    Channel,
    ContactPolicy,
    DecisionFlow,
    DecisionFlowVersion,
    Interaction,
    Offer,
    SchemaRow,
)

ANCHOR = datetime(2026, 11, 18, 15, 30, tzinfo=UTC)  # a Wednesday
SMALL = SeedParams(customers=60, days=30)


async def _counts(db: Database) -> dict[str, int]:
    out = {}
    async with db.session() as session:
        for model in (Offer, SchemaRow, Interaction, DecisionFlow, ContactPolicy):
            stmt = select(func.count()).select_from(model).where(model.tenant_id == "demo")
            out[model.__tablename__] = int((await session.execute(stmt)).scalar_one())
    return out


async def test_seed_twice_equals_seed_once(db: Database) -> None:
    first = await seed_demo(db, SMALL, anchor=ANCHOR)
    once = await _counts(db)
    second = await seed_demo(db, SMALL, anchor=ANCHOR)
    assert first.created and not second.created
    assert await _counts(db) == once
    assert once["offers"] == 10 and once["schema_rows"] == 60


async def test_same_seed_same_dataset_other_seed_differs(db: Database) -> None:
    await seed_demo(db, SMALL, anchor=ANCHOR)
    digest_a = await dataset_digest(db, "demo", ANCHOR)
    await seed_demo(db, SeedParams(customers=60, days=30, random_seed=7), anchor=ANCHOR)
    digest_other = await dataset_digest(db, "demo", ANCHOR)
    await seed_demo(db, SMALL, anchor=ANCHOR)  # different params: wiped and rebuilt
    assert await dataset_digest(db, "demo", ANCHOR) == digest_a
    assert digest_other != digest_a


async def test_c0001_has_three_email_impressions_this_week(db: Database) -> None:
    await seed_demo(db, SMALL, anchor=ANCHOR)
    week_start = datetime(2026, 11, 16, tzinfo=UTC)
    async with db.session() as session:
        email = (await session.execute(select(Channel).where(Channel.channel_type == "email"))).scalar_one()
        stmt = select(Interaction).where(
            Interaction.customer_id == "C-0001",
            Interaction.channel_id == email.id,
            Interaction.is_impression,
            Interaction.timestamp >= week_start,
        )
        rows = list((await session.execute(stmt)).scalars())
        cap = await session.execute(select(ContactPolicy).where(ContactPolicy.name == "Email 3 per week"))
        policy = cap.scalar_one()
    assert len(rows) == 3
    assert all(week_start <= r.timestamp <= ANCHOR for r in rows)
    assert policy.config == {"maxPerWeek": 3} and policy.scope_id == email.id


async def test_history_spans_the_window_and_flow_is_published(db: Database) -> None:
    await seed_demo(db, SMALL, anchor=ANCHOR)
    async with db.session() as session:
        oldest = (await session.execute(select(func.min(Interaction.timestamp)))).scalar_one()
        newest = (await session.execute(select(func.max(Interaction.timestamp)))).scalar_one()
        flow = (await session.execute(select(DecisionFlow).where(DecisionFlow.is_default))).scalar_one()
        versions = (await session.execute(select(DecisionFlowVersion))).scalars().all()
    assert ANCHOR - timedelta(days=30) <= oldest and newest <= ANCHOR
    assert flow.status == "active" and flow.published_version == 1 and len(versions) == 1
