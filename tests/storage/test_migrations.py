"""Migrations run up from an empty database on SQLite and PostgreSQL, and are idempotent."""

from __future__ import annotations

from pathlib import Path

import pytest
from alembic.script import ScriptDirectory
from sqlalchemy import inspect, text
from sqlalchemy.ext.asyncio import create_async_engine

from kaireon_mcp.storage.db import Database, alembic_config
from kaireon_mcp.storage.tables import Base
from tests.conftest import PG_URL, SECRET


async def _tables(db: Database) -> set[str]:
    async with db.engine.connect() as conn:
        return set(await conn.run_sync(lambda c: inspect(c).get_table_names()))


async def test_sqlite_migrates_from_empty(tmp_path: Path) -> None:
    db = Database(f"sqlite+aiosqlite:///{tmp_path / 'empty.db'}", SECRET)
    try:
        assert await _tables(db) == set()
        await db.migrate()
        await db.migrate()
        tables = await _tables(db)
        assert {t.name for t in Base.metadata.sorted_tables} <= tables
        head = ScriptDirectory.from_config(alembic_config()).get_current_head()
        async with db.engine.connect() as conn:
            version = (await conn.execute(text("SELECT version_num FROM alembic_version"))).scalar_one()
        assert version == head
    finally:
        await db.dispose()


@pytest.mark.skipif(not PG_URL, reason="KAIREON_TEST_POSTGRES_URL not set")
async def test_postgres_migrates_from_empty() -> None:
    """A brand-new schema first on the search path proves the history builds everything from nothing."""
    assert PG_URL
    db = Database(PG_URL, SECRET)
    await db.engine.dispose()
    db.engine = create_async_engine(
        PG_URL, connect_args={"server_settings": {"search_path": "kaireon_mig_test"}}
    )
    try:
        async with db.engine.begin() as conn:
            await conn.execute(text("DROP SCHEMA IF EXISTS kaireon_mig_test CASCADE"))
            await conn.execute(text("CREATE SCHEMA kaireon_mig_test"))
        await db.migrate()
        await db.migrate()
        async with db.engine.connect() as conn:
            names = set(await conn.run_sync(lambda c: inspect(c).get_table_names(schema="kaireon_mig_test")))
        assert {t.name for t in Base.metadata.sorted_tables} <= names
    finally:
        async with db.engine.begin() as conn:
            await conn.execute(text("DROP SCHEMA IF EXISTS kaireon_mig_test CASCADE"))
        await db.dispose()
