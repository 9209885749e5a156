"""The start-time head check agrees with Alembic and still lets a behind database upgrade."""

from __future__ import annotations

from pathlib import Path

from alembic.script import ScriptDirectory
from sqlalchemy import text

from kaireon_mcp.storage.db import Database, alembic_config
from kaireon_mcp.storage.migrations_head import HEAD_REVISION, at_head
from tests.conftest import SECRET


def test_head_constant_matches_the_script_directory() -> None:
    assert HEAD_REVISION == ScriptDirectory.from_config(alembic_config()).get_current_head()


async def test_at_head_only_for_the_head_revision(tmp_path: Path) -> None:
    db = Database(f"sqlite+aiosqlite:///{tmp_path / 'head.db'}", SECRET)
    try:
        async with db.engine.connect() as conn:
            assert await conn.run_sync(at_head) is False  # no version table yet
        await db.migrate()
        async with db.engine.connect() as conn:
            assert await conn.run_sync(at_head) is True
        async with db.engine.begin() as conn:  # a database one revision behind
            await conn.execute(text("UPDATE alembic_version SET version_num = '0001'"))
            await conn.execute(text("DROP INDEX ix_ih_analytics"))
        async with db.engine.connect() as conn:
            assert await conn.run_sync(at_head) is False
        await db.migrate()  # upgrades 0001 -> head instead of trusting a stale marker
        async with db.engine.connect() as conn:
            version = (await conn.execute(text("SELECT version_num FROM alembic_version"))).scalar_one()
        assert version == HEAD_REVISION
    finally:
        await db.dispose()
