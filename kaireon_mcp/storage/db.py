"""Engine, sessions and migrations for SQLite (embedded default) and PostgreSQL."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

from alembic import command
from alembic.config import Config
from sqlalchemy import event, select
from sqlalchemy.engine import Connection
from sqlalchemy.exc import OperationalError
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker, create_async_engine

from kaireon_mcp.errors import KaireonError
from kaireon_mcp.storage.context import TenantContext
from kaireon_mcp.storage.crypto import SecretBox
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


def make_engine(url: str) -> AsyncEngine:
    if url.startswith("sqlite"):
        path = url.split("///", 1)[-1]
        if path and path != ":memory:":
            Path(path).parent.mkdir(parents=True, exist_ok=True)
        engine = create_async_engine(url, connect_args={"timeout": 30})
        event.listen(engine.sync_engine, "connect", _sqlite_pragmas)
        event.listen(engine.sync_engine, "begin", _sqlite_begin)
        return engine
    return create_async_engine(url, pool_size=10, max_overflow=20, pool_pre_ping=True)


class Database:
    """Owns the engine; hands out tenant-bound repositories inside one transaction each."""

    def __init__(self, url: str, secret: str) -> None:
        self.url = url
        self.engine = make_engine(url)
        self.sessions = async_sessionmaker(self.engine, expire_on_commit=False)
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
    async def session(self) -> AsyncIterator[AsyncSession]:
        """A transaction not bound to a tenant: only for auth lookups and tenant bootstrap."""
        async with self.sessions() as session, session.begin():
            yield session

    @asynccontextmanager
    async def tenant(self, ctx: TenantContext) -> AsyncIterator[Repository]:
        """One transaction for one tenant: commits on success, rolls back every row on error."""
        async with self.sessions() as session, session.begin():
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
