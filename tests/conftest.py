"""Shared fixtures: a clean database per test on SQLite and, when configured, PostgreSQL."""

from __future__ import annotations

import asyncio
import contextlib
import io
import os
import shutil
import sqlite3
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import pytest
from sqlalchemy import text
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import AsyncConnection

from kaireon_mcp.storage.db import Database
from kaireon_mcp.storage.tables import Base
from kaireon_mcp.storage.types import utcnow

#: "gw0", "gw1", ... inside a pytest-xdist worker (``-n``); None in a plain run
WORKER = os.environ.get("PYTEST_XDIST_WORKER")


def _worker_postgres_url(url: str | None) -> str | None:
    """Under pytest-xdist every worker has its own database, ``<name>_gw0``, ``<name>_gw1``, ..."""
    if not url or not WORKER:
        return url
    parsed = make_url(url)
    return parsed.set(database=f"{parsed.database}_{WORKER}").render_as_string(hide_password=False)


def _worker_redis_url(url: str | None) -> str | None:
    """... and its own Redis database: the configured index for gw0, the one below it for gw1, ..."""
    if not url or not WORKER:
        return url
    number = int(WORKER.removeprefix("gw"))
    if number >= 16:
        raise pytest.UsageError("at most 16 xdist workers: each needs a Redis database of its own")
    parts = urlsplit(url)
    index = (int(parts.path.strip("/") or 0) - number) % 16
    return urlunsplit(parts._replace(path=f"/{index}"))


PG_URL = _worker_postgres_url(os.environ.get("KAIREON_TEST_POSTGRES_URL"))
REDIS_URL = _worker_redis_url(os.environ.get("KAIREON_TEST_REDIS_URL"))
# test modules read these at import, after this conftest: in a worker they name its own databases
for _name, _value in (("KAIREON_TEST_POSTGRES_URL", PG_URL), ("KAIREON_TEST_REDIS_URL", REDIS_URL)):
    if _value:
        os.environ[_name] = _value
BACKENDS = ["sqlite"] + (["postgres"] if PG_URL else [])
SECRET = "test-secret-key"


async def _create_database_if_missing(url: str) -> None:
    import asyncpg

    parsed = make_url(url)
    admin = parsed.set(drivername="postgresql", database="postgres").render_as_string(hide_password=False)
    conn = await asyncpg.connect(admin)
    try:
        if not await conn.fetchval("SELECT 1 FROM pg_database WHERE datname = $1", parsed.database):
            await conn.execute(f'CREATE DATABASE "{parsed.database}"')
    finally:
        await conn.close()


@pytest.fixture(scope="session", autouse=True)
def _worker_postgres_database() -> None:
    """A worker's own PostgreSQL database exists before its first test (plain runs use the URL as is)."""
    if PG_URL and WORKER:
        asyncio.run(_create_database_if_missing(PG_URL))


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


async def _empty_all(db: Database) -> None:
    """Every table emptied, children before parents, in one transaction and one round trip.

    ``DELETE`` rather than ``TRUNCATE``: the tables hold at most a few thousand rows here, and a
    54-table TRUNCATE (new files for every table and index, synced at commit) cost 0.2-1.2 s per
    test against a few milliseconds for the DELETEs, sent as one multi-statement query (which
    PostgreSQL runs as one transaction). The end state is the same: every table empty, no
    sequence reset (the TRUNCATE did not RESTART IDENTITY either). Should a foreign-key cycle
    ever defeat the ordering, the TRUNCATE ... CASCADE runs instead.
    """
    import asyncpg

    tables = Base.metadata.sorted_tables
    async with db.engine.connect() as conn:
        driver = await _postgres_driver(conn)
        try:
            await driver.execute("; ".join(f"DELETE FROM {t.name}" for t in reversed(tables)))
        except asyncpg.IntegrityConstraintViolationError:
            await driver.execute(f"TRUNCATE {', '.join(t.name for t in tables)} CASCADE")


async def _postgres_driver(conn: AsyncConnection) -> Any:
    """The asyncpg connection under a SQLAlchemy one (COPY and multi-statement queries)."""
    raw = await conn.get_raw_connection()
    return raw.driver_connection


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
        await _empty_all(database)
    try:
        yield database
    finally:
        await database.dispose()


DEMO_PARAMS_KW = {"customers": 60, "days": 30}


#: how long a seeded demo tenant may be copied instead of seeded again (see ``demo_db``)
DEMO_REUSE_S = 20.0


@dataclass
class _DemoSnapshot:
    """The rows of a freshly seeded demo tenant, per table, as the backend stores them."""

    anchor: datetime
    tables: dict[str, Any]

    def fresh(self) -> bool:
        now = utcnow()
        return now.date() == self.anchor.date() and (now - self.anchor).total_seconds() < DEMO_REUSE_S


#: per backend, the latest snapshot this process took
_DEMO_SNAPSHOTS: dict[str, _DemoSnapshot] = {}


async def _take_snapshot(db: Database, scratch: Path) -> dict[str, Any]:
    """Every table's rows: COPY ... BINARY on PostgreSQL, a backup copy of the file on SQLite."""
    if db.dialect == "sqlite":
        path = scratch / "demo-snapshot.db"
        with (
            contextlib.closing(sqlite3.connect(db.url.split("///", 1)[-1])) as source,
            contextlib.closing(sqlite3.connect(path)) as target,
        ):
            source.backup(target)
        return {"path": path}
    tables: dict[str, bytes] = {}
    async with db.engine.connect() as conn:
        driver = await _postgres_driver(conn)
        for table in Base.metadata.sorted_tables:
            out = io.BytesIO()
            status = await driver.copy_from_table(table.name, output=out, format="binary")
            if status != "COPY 0":
                tables[table.name] = out.getvalue()
    return tables


async def _restore_snapshot(db: Database, snapshot: dict[str, Any]) -> None:
    """Load a snapshot into the (empty) database, parents before children, in one transaction."""
    if db.dialect == "sqlite":
        with contextlib.closing(sqlite3.connect(db.url.split("///", 1)[-1], isolation_level=None)) as conn:
            conn.execute("ATTACH DATABASE ? AS snap", (str(snapshot["path"]),))
            conn.execute("BEGIN IMMEDIATE")
            for table in Base.metadata.sorted_tables:
                conn.execute(f"INSERT INTO main.{table.name} SELECT * FROM snap.{table.name}")
            conn.execute("COMMIT")
            conn.execute("DETACH DATABASE snap")
        return
    async with db.engine.connect() as conn:
        driver = await _postgres_driver(conn)
        async with driver.transaction():
            for table in Base.metadata.sorted_tables:
                if table.name in snapshot:
                    await driver.copy_to_table(
                        table.name, source=io.BytesIO(snapshot[table.name]), format="binary"
                    )
        for table in ("interactions", "schema_rows", "metric_values"):  # as seed_demo does after its load
            await driver.execute(f"ANALYZE {table}")


@pytest.fixture
async def demo_db(db: Database, tmp_path_factory: pytest.TempPathFactory) -> Database:
    """``db`` holding a small demo tenant (60 customers, 30 days) anchored at now.

    Seeding takes about a second, so the first test seeds and snapshots the rows and the tests
    that follow within ``DEMO_REUSE_S`` (and on the same UTC day, so the same ISO week) load that
    snapshot into their own empty database instead: byte for byte the rows the seeding test got
    (COPY BINARY / INSERT ... SELECT), then the ANALYZE seeding runs. A test's database is still
    its own; only the anchor (and the rows' created_at) may be up to ``DEMO_REUSE_S`` older than
    the test. The per-process catalogue cache (keyed by URL and tenant, so shared by PostgreSQL
    tests) is dropped so a restored tenant is loaded from the database, as a freshly seeded one
    (new timestamps, new fingerprint) always was.
    """
    from kaireon_mcp.core.decisioning import catalog
    from kaireon_mcp.storage.seed import SeedParams, seed_demo

    backend = db.dialect
    snapshot = _DEMO_SNAPSHOTS.get(backend)
    if snapshot is not None and snapshot.fresh():
        await _restore_snapshot(db, snapshot.tables)
        catalog._CACHE.clear()
        return db
    anchor = utcnow()
    await seed_demo(db, SeedParams(**DEMO_PARAMS_KW), anchor=anchor)  # type: ignore[arg-type]
    scratch = tmp_path_factory.mktemp("demo-snapshot") if backend == "sqlite" else Path()
    _DEMO_SNAPSHOTS[backend] = _DemoSnapshot(anchor, await _take_snapshot(db, scratch))
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
