"""Helpers for studio tool tests: two tenants, one call path (``registry.execute``)."""

from __future__ import annotations

from typing import Any

import pytest
from sqlalchemy import select

import kaireon_mcp.tools.studio_catalog
import kaireon_mcp.tools.studio_delete
import kaireon_mcp.tools.studio_journeys
import kaireon_mcp.tools.studio_rules  # noqa: F401  (registers the tools)
from kaireon_mcp.errors import KaireonError
from kaireon_mcp.storage.context import TenantContext
from kaireon_mcp.storage.db import Database
from kaireon_mcp.storage.tables import AuditLog, Base
from kaireon_mcp.tools.registry import execute
from tests.conftest import make_tool_ctx

TENANT = "demo"
OTHER = "other"


@pytest.fixture
async def sdb(db: Database) -> Database:
    """The parametrised database with two empty tenants."""
    await db.ensure_tenant(TENANT)
    await db.ensure_tenant(OTHER)
    return db


async def call(
    db: Database,
    name: str,
    args: dict[str, Any] | None = None,
    *,
    tenant: str = TENANT,
    role: str = "admin",
    route: str = "/",
) -> dict[str, Any]:
    return await execute(name, args or {}, make_tool_ctx(db, tenant=tenant, role=role, route=route))


async def fails(
    db: Database,
    name: str,
    args: dict[str, Any] | None = None,
    *,
    tenant: str = TENANT,
    role: str = "admin",
    route: str = "/",
) -> KaireonError:
    with pytest.raises(KaireonError) as info:
        await call(db, name, args, tenant=tenant, role=role, route=route)
    return info.value


async def rows(db: Database, model: type[Base], tenant: str = TENANT, **equals: Any) -> list[Any]:
    """Every row of ``model`` for the tenant, soft-deleted ones included, oldest first."""
    async with db.tenant(TenantContext(tenant_id=tenant)) as repo:
        stmt = repo.scoped(model, include_deleted=True)
        for key, value in equals.items():
            stmt = stmt.where(getattr(model, key) == value)
        stmt = stmt.order_by(model.created_at)  # type: ignore[attr-defined]
        return list((await repo.session.execute(stmt)).scalars().all())


async def audit_rows(db: Database, tenant: str = TENANT) -> list[AuditLog]:
    async with db.session() as session:
        stmt = select(AuditLog).where(AuditLog.tenant_id == tenant).order_by(AuditLog.seq)
        return list((await session.execute(stmt)).scalars().all())
