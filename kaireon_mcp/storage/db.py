"""Engine, sessions and migrations for SQLite (embedded default) and PostgreSQL."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any

import orjson
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
from sqlalchemy.orm import Session

from kaireon_mcp.errors import KaireonError
from kaireon_mcp.storage import inline_sqlite
from kaireon_mcp.storage.context import TenantContext
from kaireon_mcp.storage.crypto import SecretBox
from kaireon_mcp.storage.fast_read import FastReader
from kaireon_mcp.storage.fast_write import FastWriter
from kaireon_mcp.storage.group_commit import GroupCommitter, Writes, apply_writes
from kaireon_mcp.storage.repository import Repository
from kaireon_mcp.storage.tables import Tenant

if TYPE_CHECKING:
    from alembic.config import Config

MIGRATIONS = Path(__file__).parent / "migrations"


class DatabaseUnavailable(KaireonError):
    code = "INTERNAL"


def alembic_config() -> Config:
    """Alembic's configuration (imported here: Alembic costs ~0.5 s and most starts skip it)."""
    from alembic.config import Config

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


def _json_dumps(value: Any) -> str:
    # orjson: the decision trace is the largest value written per decision, and the
    # standard encoder took ~8% of a decision's server CPU; unknown types fall back to str
    return orjson.dumps(value, default=str, option=orjson.OPT_NON_STR_KEYS).decode()


def _sqlite_query_only(dbapi_conn: Any, _record: Any) -> None:
    # a reader that tries to write fails in SQLite itself, whatever path the write took
    cursor = dbapi_conn.cursor()
    cursor.execute("PRAGMA query_only=ON")
    cursor.close()


def make_engine(url: str, *, read_only: bool = False, inline: bool = True) -> AsyncEngine:
    """The engine for ``url``.

    ``read_only`` engines run every statement in autocommit: no BEGIN, no ROLLBACK on
    release (each is a round trip, and on SQLite a hop to the driver's thread), and on
    SQLite no write lock, so reads proceed beside the one writer (WAL). Each statement
    sees the latest committed state; hot-path readers need no snapshot across statements
    (the catalogue cache is keyed by the fingerprint it was loaded after).
    """
    reset = None if read_only else "rollback"
    if url.startswith("sqlite"):
        path = url.split("///", 1)[-1]
        if path and path != ":memory:":
            Path(path).parent.mkdir(parents=True, exist_ok=True)
        # a pool as large as the concurrency: an overflow connection is closed on return, and
        # reopening one costs a driver thread plus the PRAGMAs below
        engine = create_async_engine(
            url,
            connect_args={"timeout": 30},
            pool_reset_on_return=reset,
            pool_size=32 if read_only else 8,
            max_overflow=32,
            # a reader's session still "rolls back" on close; in autocommit that is a no-op
            # that aiosqlite pays as a hop to its thread per tool call: skip it
            **({"isolation_level": "AUTOCOMMIT", "skip_autocommit_rollback": True} if read_only else {}),
            json_serializer=_json_dumps,
            json_deserializer=orjson.loads,
            # readers call sqlite3 inline (no driver thread): see storage/inline_sqlite.py
            **({"module": inline_sqlite.dbapi()} if read_only and inline else {}),
        )
        event.listen(engine.sync_engine, "connect", _sqlite_pragmas)
        if read_only:
            event.listen(engine.sync_engine, "connect", _sqlite_query_only)
        if not read_only:
            event.listen(engine.sync_engine, "begin", _sqlite_begin)
        return engine
    # no pool_pre_ping: it costs a round trip per checkout (several per request); a connection
    # the server dropped fails one statement and is then replaced (pool invalidation)
    return create_async_engine(
        url,
        pool_size=10,
        max_overflow=20,
        pool_recycle=1800,
        pool_reset_on_return=reset,
        isolation_level="AUTOCOMMIT" if read_only else None,
        json_serializer=_json_dumps,
        json_deserializer=orjson.loads,
    )


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


class ReadOnlyWrite(KaireonError):
    """A write attempted on a read-only repository; the caller retries in a write transaction."""

    code = "INTERNAL"


class _ReadOnlySession(Session):
    """Session class of ``Database.reader``: refuses flushes and DML before any SQL is sent."""


def _refuse_flush(session: Session, *_: Any) -> None:
    if session.new or session.dirty or session.deleted:
        raise ReadOnlyWrite("a read-only transaction cannot write")


def _refuse_dml(state: Any) -> None:
    if state.is_insert or state.is_update or state.is_delete:
        raise ReadOnlyWrite("a read-only transaction cannot write")


event.listen(_ReadOnlySession, "before_flush", _refuse_flush)
event.listen(_ReadOnlySession, "do_orm_execute", _refuse_dml)


class Database:
    """Owns the engine; hands out tenant-bound repositories inside one transaction each.

    ``inline_reads``: read-only repositories call SQLite inline on the event loop (fastest
    for short reads; right for a one-client stdio server and for tests). A multi-client
    HTTP server passes False, so a multi-second analysis runs on the driver's thread and
    never stalls other requests; its decision hot path stays inline (``select_rows``).
    """

    def __init__(
        self, url: str, secret: str, *, inline_reads: bool = True, pinned_tenant: str | None = None
    ) -> None:
        self.url = url
        #: single-tenant deployments: the tenant every credential resolves to (see ``authenticate``)
        self.pinned_tenant = pinned_tenant
        self.engine = make_engine(url)
        self.sessions = async_sessionmaker(self.engine, expire_on_commit=False)
        sqlite = self.engine.dialect.name == "sqlite"
        memory = ":memory:" in url or url.rstrip("/").endswith("sqlite+aiosqlite:")
        # an in-memory SQLite database is private to its connection: reads share the writer's
        if memory:
            self.read_engine = self.engine
        elif sqlite:
            self.read_engine = make_engine(url, read_only=True, inline=inline_reads)
        else:
            # the writer's pool in autocommit: a second pool would pay connection set-up and
            # dialect initialisation again, and PostgreSQL serves readers beside writers anyway
            self.read_engine = self.engine.execution_options(isolation_level="AUTOCOMMIT")
        self.read_sessions = async_sessionmaker(
            self.read_engine, expire_on_commit=False, sync_session_class=_ReadOnlySession
        )
        self._gate = _WriteGate() if sqlite else None
        self._committer = GroupCommitter(self)
        path = url.split("///", 1)[-1] if sqlite else ""
        self._fast = FastReader(path, self.engine.dialect) if sqlite and not memory else None
        self._writer = FastWriter(path, self.engine.dialect) if sqlite and not memory else None
        self.box = SecretBox(secret)

    @property
    def dialect(self) -> str:
        return self.engine.dialect.name

    async def migrate(self) -> None:
        """Apply the Alembic history up to head (idempotent).

        A database already at head (most starts) is recognised with one query, without
        importing or running Alembic; see ``storage/migrations_head.py``.
        """
        from kaireon_mcp.storage.migrations_head import at_head

        def upgrade(conn: Connection) -> None:
            if at_head(conn):
                return

            from alembic import command

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
    async def tenant(self, ctx: TenantContext) -> AsyncIterator[Repository]:
        """One transaction for one tenant: commits on success, rolls back every row on error."""
        async with self._write_turn(), self.sessions() as session, session.begin():
            yield Repository(session, ctx, self.box)

    @asynccontextmanager
    async def write_connection(self) -> AsyncIterator[AsyncConnection]:
        """A bare write transaction (Core statements only; no tenant, no audit)."""
        async with self._write_turn(), self.engine.begin() as conn:
            yield conn

    async def commit_writes(self, writes: Writes) -> None:
        """Commit ``writes`` in one transaction of their own."""
        if self._writer is not None:
            async with self._write_turn():
                await self._writer.apply(writes)
            return
        async with self.write_connection() as conn:
            await apply_writes(conn, self.dialect, writes)

    async def group_commit(self, writes: Writes) -> None:
        """Commit append-only rows, sharing the transaction with concurrent callers."""
        await self._committer.commit(writes)

    async def select_rows(self, stmt: Any, params: dict[str, Any]) -> Sequence[Any]:
        """Rows of a column SELECT read outside any transaction (see storage/fast_read.py)."""
        if self._fast is not None:
            return self._fast.rows(stmt, params)
        async with self.read_engine.connect() as conn:
            return (await conn.execute(stmt, params)).all()

    @asynccontextmanager
    async def reader(self, ctx: TenantContext) -> AsyncIterator[Repository]:
        """Autocommit reads for one tenant: no transaction, no write lock; must not write.

        On SQLite it runs beside the writer (WAL) instead of queueing for the write lock, so
        decisions do not wait for writers and writers do not wait for decisions.
        """
        async with self.read_sessions() as session:  # autocommit: no BEGIN, no ROLLBACK
            yield Repository(session, ctx, self.box, fast_rows=self.select_rows)

    async def ensure_tenant(self, tenant_id: str, name: str | None = None) -> bool:
        """Create the tenant row if missing; True when it was created."""
        async with self.session() as session:
            exists = (await session.execute(select(Tenant.id).where(Tenant.id == tenant_id))).first()
            if exists:
                return False
            session.add(Tenant(id=tenant_id, name=name or tenant_id, settings={}))
            return True

    async def dispose(self) -> None:
        if self._fast is not None:
            self._fast.close()
        if self._writer is not None:
            self._writer.close()
        await self.engine.dispose()
        if self.read_engine.sync_engine.pool is not self.engine.sync_engine.pool:
            await self.read_engine.dispose()
