"""Process bootstrap shared by every transport: settings, database, migrations, first-run seed."""

from __future__ import annotations

import logging

from sqlalchemy import func, select

from kaireon_mcp.config import Settings, load_settings
from kaireon_mcp.storage.crypto import load_secret
from kaireon_mcp.storage.db import Database
from kaireon_mcp.storage.seed import SeedParams, seed_demo, terminal_progress
from kaireon_mcp.storage.tables import Tenant

log = logging.getLogger("kaireon_mcp")


def open_database(settings: Settings | None = None, *, inline_reads: bool = True) -> Database:
    """The configured database; ``serve`` passes ``inline_reads=False`` (see ``Database``)."""
    settings = settings or load_settings()
    return Database(
        settings.database_url,
        load_secret(settings.home),
        inline_reads=inline_reads,
        pinned_tenant=settings.tenant_id if settings.single_tenant else None,
    )


async def prepare(
    settings: Settings | None = None, *, auto_seed: bool = True, inline_reads: bool = True
) -> Database:
    """Migrate, and on the first start of an empty embedded database load the demo tenant."""
    settings = settings or load_settings()
    db = open_database(settings, inline_reads=inline_reads)
    await db.migrate()
    if auto_seed and settings.is_embedded and await _is_empty(db):
        log.info("empty embedded database: loading the demo tenant")
        await seed_demo(db, SeedParams(), progress=terminal_progress)
    if db.pinned_tenant is not None:
        await db.ensure_tenant(db.pinned_tenant)
    return db


async def _is_empty(db: Database) -> bool:
    async with db.session() as session:
        return int((await session.execute(select(func.count()).select_from(Tenant))).scalar_one()) == 0


async def journey_scheduler(db: Database, interval_s: float = 60.0) -> None:
    """Background pass of the journey runtime for every tenant, until cancelled."""
    import asyncio

    from kaireon_mcp.core.decisioning.journeys import advance_journeys
    from kaireon_mcp.storage.context import TenantContext

    while True:
        async with db.session() as session:
            tenants = list((await session.execute(select(Tenant.id))).scalars())
        for tenant in tenants:
            try:
                async with db.tenant(TenantContext(tenant_id=tenant, auth_kind="scheduler")) as repo:
                    await advance_journeys(repo)
            except Exception:  # noqa: BLE001 - one tenant's fault must not stop the others
                log.exception("journey pass failed for tenant %s", tenant)
        await asyncio.sleep(interval_s)
