"""Small storage helpers shared by the AI services (tenant-bound inserts, settings reads)."""

from __future__ import annotations

from typing import Any, TypeVar

from sqlalchemy import select

from kaireon_mcp.storage.repository import Repository
from kaireon_mcp.storage.tables import Base, Tenant
from kaireon_mcp.storage.types import new_id

__all__ = ["insert_row", "tenant_settings"]

T = TypeVar("T", bound=Base)


async def insert_row(repo: Repository, model: type[T], values: dict[str, Any]) -> T:
    """Insert a bookkeeping row (conversation, message, digest) owned by the caller's tenant.

    Unlike ``Repository.create`` this writes no audit entry: chat turns and import
    bookkeeping are not business entities, and auditing every message would bury the
    entries that matter.
    """
    values = {k: v for k, v in values.items() if k != "tenant_id"}
    values.setdefault("id", new_id(model.__prefix__))
    row = model(tenant_id=repo.ctx.tenant_id, **values)
    repo.session.add(row)
    await repo.session.flush()
    return row


async def tenant_settings(repo: Repository) -> dict[str, Any]:
    """The tenant's settings JSON ({} when the tenant row is missing)."""
    stmt = select(Tenant.settings).where(Tenant.id == repo.ctx.tenant_id)
    value = (await repo.session.execute(stmt)).scalar_one_or_none()
    return dict(value or {})
