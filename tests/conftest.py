"""Shared fixtures: a clean database per test on SQLite and, when configured, PostgreSQL."""

from __future__ import annotations

import asyncio
import os
import shutil
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from sqlalchemy import text

from kaireon_mcp.storage.db import Database
from kaireon_mcp.storage.tables import Base

PG_URL = os.environ.get("KAIREON_TEST_POSTGRES_URL")
BACKENDS = ["sqlite"] + (["postgres"] if PG_URL else [])
SECRET = "test-secret-key"


async def _fresh_postgres_schema(url: str) -> None:
    db = Database(url, SECRET)
    async with db.engine.begin() as conn:
        await conn.execute(text("DROP SCHEMA IF EXISTS public CASCADE"))
        await conn.execute(text("CREATE SCHEMA public"))
    await db.migrate()
    await db.dispose()


@pytest.fixture(scope="session")
def sqlite_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("template") / "template.db"

    async def build() -> None:
        db = Database(f"sqlite+aiosqlite:///{path}", SECRET)
        await db.migrate()
        await db.dispose()

    asyncio.run(build())
    return path


@pytest.fixture(scope="session")
def postgres_ready() -> bool:
    if PG_URL:
        asyncio.run(_fresh_postgres_schema(PG_URL))
    return bool(PG_URL)


async def _truncate_all(db: Database) -> None:
    names = ", ".join(t.name for t in Base.metadata.sorted_tables)
    async with db.engine.begin() as conn:
        await conn.execute(text(f"TRUNCATE {names} CASCADE"))


@pytest.fixture(params=BACKENDS)
async def db(
    request: pytest.FixtureRequest, tmp_path: Path, sqlite_template: Path, postgres_ready: bool
) -> AsyncIterator[Database]:
    """A migrated, empty database of the parametrised backend."""
    if request.param == "sqlite":
        path = tmp_path / "kaireon.db"
        shutil.copy(sqlite_template, path)
        database = Database(f"sqlite+aiosqlite:///{path}", SECRET)
    else:
        assert PG_URL
        database = Database(PG_URL, SECRET)
        await _truncate_all(database)
    try:
        yield database
    finally:
        await database.dispose()


DEMO_PARAMS_KW = {"customers": 60, "days": 30}


@pytest.fixture
async def demo_db(db: Database) -> Database:
    """``db`` holding a small demo tenant (60 customers, 30 days) anchored at now."""
    from kaireon_mcp.storage.seed import SeedParams, seed_demo

    await seed_demo(db, SeedParams(**DEMO_PARAMS_KW))  # type: ignore[arg-type]
    return db


def make_tool_ctx(db: Database, tenant: str = "demo", role: str = "admin", route: str = "/", **env: str):  # noqa: ANN201
    """A ToolContext for direct registry calls in tests (development env unless overridden)."""
    from kaireon_mcp.config import load_settings
    from kaireon_mcp.storage.context import TenantContext
    from kaireon_mcp.tools.registry import ToolContext

    settings = load_settings()
    if env:
        import dataclasses

        settings = dataclasses.replace(settings, **env)  # type: ignore[arg-type]
    return ToolContext(
        db=db, principal=TenantContext(tenant_id=tenant, role=role), settings=settings, route=route
    )
