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


def open_database(settings: Settings | None = None) -> Database:
    settings = settings or load_settings()
    return Database(settings.database_url, load_secret(settings.home))


async def prepare(settings: Settings | None = None, *, auto_seed: bool = True) -> Database:
    """Migrate, and on the first start of an empty embedded database load the demo tenant."""
    settings = settings or load_settings()
    db = open_database(settings)
    await db.migrate()
    if auto_seed and settings.is_embedded and await _is_empty(db):
        log.info("empty embedded database: loading the demo tenant")
        await seed_demo(db, SeedParams(), progress=terminal_progress)
    return db


async def _is_empty(db: Database) -> bool:
    async with db.session() as session:
        return int((await session.execute(select(func.count()).select_from(Tenant))).scalar_one()) == 0
