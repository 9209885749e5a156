"""Fixtures for the playbook tests: every tool registered, a fresh rate limiter, row counters."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from sqlalchemy import func, select, text

from kaireon_mcp.storage.db import Database
from kaireon_mcp.storage.tables import AuditLog, Base
from kaireon_mcp.tools import load_all
from kaireon_mcp.tools.playbooks import LIMITER
from kaireon_mcp.tools.registry import execute
from tests.conftest import make_tool_ctx

load_all()


@pytest.fixture(autouse=True)
def fresh_limiter() -> Iterator[None]:
    """The process-wide limiter would otherwise carry hits from one test into the next."""
    LIMITER.reset()
    yield
    LIMITER.reset()


async def call(
    db: Database, name: str, args: dict[str, Any] | None = None, **services: Any
) -> dict[str, Any]:
    ctx = make_tool_ctx(db)
    ctx.services.update(services)
    return await execute(name, args or {}, ctx)


async def row_counts(db: Database) -> dict[str, int]:
    """Rows per table (all tenants): any write anywhere shows up as a changed count."""
    counts = {}
    async with db.session() as session:
        for table in Base.metadata.sorted_tables:
            counts[table.name] = int(
                (await session.execute(text(f"SELECT COUNT(*) FROM {table.name}"))).scalar_one()
            )
    return counts


async def audit_actions(db: Database, prefix: str = "playbook.") -> list[AuditLog]:
    async with db.session() as session:
        stmt = select(AuditLog).where(AuditLog.action.like(f"{prefix}%")).order_by(AuditLog.seq)
        return list((await session.execute(stmt)).scalars().all())


async def count(db: Database, model: Any, *where: Any) -> int:
    async with db.session() as session:
        stmt = select(func.count()).select_from(model).where(model.tenant_id == "demo", *where)
        return int((await session.execute(stmt)).scalar_one())
