"""Engine, sessions and migrations for SQLite (embedded default) and PostgreSQL."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

from alembic import command
from alembic.config import Config
from sqlalchemy import event, select
from sqlalchemy.engine import Connection
from sqlalchemy.exc import OperationalError
from sqlalchemy.ext.asyncio import (
    AsyncConnection,
    AsyncEngine,
    AsyncSession,
    async_sessionmaker,
    create_async_engine,
)

from kaireon_mcp.errors import KaireonError
from kaireon_mcp.storage.context import TenantContext
from kaireon_mcp.storage.crypto import SecretBox
from kaireon_mcp.storage.group_commit import GroupCommitter, Writes
from kaireon_mcp.storage.repository import Repository
from kaireon_mcp.storage.tables import Tenant

MIGRATIONS = Path(__file__).parent / "migrations"


class DatabaseUnavailable(KaireonError):
    code = "INTERNAL"


def alembic_config() -> Config:
    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS))
    return cfg


def _sqlite_pragmas(dbapi_conn: Any, _record: Any) -> None:
    # let SQLAlchemy, not the sqlite3 module, decide where transactions begin, so SAVEPOINTs
    # nest inside a real BEGIN (the driver's legacy mode would make RELEASE commit)
    dbapi_conn.isolation_level = None
    cursor = dbapi_conn.cursor()
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.execute("PRAGMA busy_timeout=30000")
    cursor.close()


def _sqlite_begin(conn: Any) -> None:
    # IMMEDIATE takes the write lock up front: a deferred transaction that reads and then
    # writes fails at once with SQLITE_BUSY when another writer committed in between, while
    # IMMEDIATE waits on busy_timeout like any other writer (SQLite has one writer anyway)
    conn.exec_driver_sql("BEGIN IMMEDIATE")


def _sqlite_begin_deferred(conn: Any) -> None:
    # a read-only transaction: in WAL mode it reads one consistent snapshot while a writer
    # works, and never takes the write lock (it must not write: that could fail with BUSY)
    conn.exec_driver_sql("BEGIN")


def make_engine(url: str, *, read_only: bool = False) -> AsyncEngine:
    """The engine for ``url``; ``read_only`` SQLite engines begin deferred transactions."""
    if url.startswith("sqlite"):
        path = url.split("///", 1)[-1]
        if path and path != ":memory:":
            Path(path).parent.mkdir(parents=True, exist_ok=True)
        engine = create_async_engine(url, connect_args={"timeout": 30})
        event.listen(engine.sync_engine, "connect", _sqlite_pragmas)
        event.listen(engine.sync_engine, "begin", _sqlite_begin_deferred if read_only else _sqlite_begin)
        return engine
    # no pool_pre_ping: it costs a round trip per checkout (several per request); a connection
    # the server dropped fails one statement and is then replaced (pool invalidation)
    return create_async_engine(url, pool_size=10, max_overflow=20, pool_recycle=1800)


class _WriteGate:
    """Queues this process's SQLite write transactions in FIFO order.

    SQLite admits one writer; without the gate, waiting writers poll in the busy handler with
    sleeps of up to 100 ms and miss the release, which is what made the tail reach seconds.
    Other processes are still arbitrated by SQLite's own lock. One lock per event loop.
    """

    def __init__(self) -> None:
        self._locks: dict[int, asyncio.Lock] = {}

    def lock(self) -> asyncio.Lock:
        key = id(asyncio.get_running_loop())
        gate = self._locks.get(key)
        if gate is None:
            gate = self._locks[key] = asyncio.Lock()
        return gate


class Database:
    """Owns the engine; hands out tenant-bound repositories inside one transaction each."""

    def __init__(self, url: str, secret: str) -> None:
        self.url = url
        self.engine = make_engine(url)
        self.sessions = async_sessionmaker(self.engine, expire_on_commit=False)
        sqlite = self.engine.dialect.name == "sqlite"
        memory = ":memory:" in url or url.rstrip("/").endswith("sqlite+aiosqlite:")
        # an in-memory SQLite database is private to its connection: reads share the writer's
        self.read_engine = make_engine(url, read_only=True) if sqlite and not memory else self.engine
        self.read_sessions = async_sessionmaker(self.read_engine, expire_on_commit=False)
        self._gate = _WriteGate() if sqlite else None
        self._committer = GroupCommitter(self)
        self.box = SecretBox(secret)

    @property
    def dialect(self) -> str:
        return self.engine.dialect.name

    async def migrate(self) -> None:
        """Apply the Alembic history up to head (idempotent)."""

        def upgrade(conn: Connection) -> None:
            cfg = alembic_config()
            cfg.attributes["connection"] = conn
            command.upgrade(cfg, "head")

        try:
            async with self.engine.begin() as conn:
                await conn.run_sync(upgrade)
        except (OperationalError, OSError) as exc:
            raise DatabaseUnavailable(
                f"database unreachable at {self.safe_url}: {exc.__class__.__name__}"
            ) from exc

    @property
    def safe_url(self) -> str:
        return self.engine.url.render_as_string(hide_password=True)

    @asynccontextmanager
    async def _write_turn(self) -> AsyncIterator[None]:
        if self._gate is None:
            yield
            return
        async with self._gate.lock():
            yield

    @asynccontextmanager
    async def session(self) -> AsyncIterator[AsyncSession]:
        """A write transaction not bound to a tenant: only for auth and tenant bootstrap."""
        async with self._write_turn(), self.sessions() as session, session.begin():
            yield session

    @asynccontextmanager
    async def read_session(self) -> AsyncIterator[AsyncSession]:
        """A read-only transaction not bound to a tenant (API-key lookups); never writes."""
        async with self.read_sessions() as session:  # begins on first query, rolls back on close
            yield session

    @asynccontextmanager
    async def tenant(self, ctx: TenantContext) -> AsyncIterator[Repository]:
        """One transaction for one tenant: commits on success, rolls back every row on error."""
        async with self._write_turn(), self.sessions() as session, session.begin():
            yield Repository(session, ctx, self.box)

    @asynccontextmanager
    async def write_connection(self) -> AsyncIterator[AsyncConnection]:
        """A bare write transaction (Core statements only; no tenant, no audit)."""
        async with self._write_turn(), self.engine.begin() as conn:
            yield conn

    async def group_commit(self, writes: Writes) -> None:
        """Commit append-only rows, sharing the transaction with concurrent callers."""
        await self._committer.commit(writes)

    @asynccontextmanager
    async def reader(self, ctx: TenantContext) -> AsyncIterator[Repository]:
        """A read-only transaction for one tenant: one consistent snapshot, no write lock.

        On SQLite it runs beside the writer (WAL) instead of queueing for the write lock, so
        decisions and analyses do not wait for each other. Anything it writes is rolled back.
        """
        async with self.read_sessions() as session:  # begins on first query, rolls back on close
            yield Repository(session, ctx, self.box)

    async def ensure_tenant(self, tenant_id: str, name: str | None = None) -> bool:
        """Create the tenant row if missing; True when it was created."""
        async with self.session() as session:
            exists = (await session.execute(select(Tenant.id).where(Tenant.id == tenant_id))).first()
            if exists:
                return False
            session.add(Tenant(id=tenant_id, name=name or tenant_id, settings={}))
            return True

    async def dispose(self) -> None:
        await self.engine.dispose()
        if self.read_engine is not self.engine:
            await self.read_engine.dispose()
