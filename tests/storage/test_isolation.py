"""Tenant A can neither read, list, update nor delete tenant B's rows through a repository."""

from __future__ import annotations

import pytest

from kaireon_mcp.errors import NotFoundError, ValidationError
from kaireon_mcp.storage.context import TenantContext
from kaireon_mcp.storage.db import Database
from kaireon_mcp.storage.tables import ENTITY_TABLES, AuditLog, Category, ContactPolicy, Offer

A = TenantContext(tenant_id="tenant-a")
B = TenantContext(tenant_id="tenant-b")


async def _offer(db: Database, ctx: TenantContext, name: str) -> str:
    await db.ensure_tenant(ctx.tenant_id)
    async with db.tenant(ctx) as repo:
        return (await repo.create(Offer, {"name": name, "priority": 70})).id


async def test_other_tenant_rows_are_invisible(db: Database) -> None:
    b_offer = await _offer(db, B, "B secret offer")
    await _offer(db, A, "A offer")
    async with db.tenant(A) as repo:
        with pytest.raises(NotFoundError):
            await repo.get(Offer, b_offer)
        assert await repo.find(Offer, name="B secret offer") is None
        page = await repo.page(Offer)
        assert [o.name for o in page.items] == ["A offer"]
        assert page.total == 1
        assert await repo.count(Offer) == 1
        assert [o.name for o in await repo.all(Offer)] == ["A offer"]


async def test_other_tenant_rows_cannot_be_changed(db: Database) -> None:
    b_offer = await _offer(db, B, "B offer")
    await db.ensure_tenant(A.tenant_id)
    async with db.tenant(A) as repo:
        with pytest.raises(NotFoundError):
            await repo.update(Offer, b_offer, {"priority": 1})
        with pytest.raises(NotFoundError):
            await repo.delete(Offer, b_offer)
        with pytest.raises(NotFoundError):
            await repo.delete(Offer, b_offer, soft=False)
    async with db.tenant(B) as repo:
        row = await repo.get(Offer, b_offer)
        assert row.priority == 70 and row.deleted_at is None and row.version == 1


async def test_create_ignores_a_foreign_tenant_id(db: Database) -> None:
    await db.ensure_tenant(A.tenant_id)
    await db.ensure_tenant(B.tenant_id)
    async with db.tenant(A) as repo:
        row = await repo.create(Category, {"name": "Cards", "tenant_id": B.tenant_id})
        assert row.tenant_id == A.tenant_id
    async with db.tenant(B) as repo:
        assert await repo.count(Category) == 0


async def test_audit_log_is_tenant_scoped(db: Database) -> None:
    await _offer(db, A, "A offer")
    await _offer(db, B, "B offer")
    async with db.tenant(A) as repo:
        entries = await repo.all(AuditLog)
        assert {e.tenant_id for e in entries} == {"tenant-a"}
        assert [e.entity_name for e in entries] == ["A offer"]


def test_every_business_table_carries_a_tenant() -> None:
    for name, model in ENTITY_TABLES.items():
        if name == "tenant":
            continue
        assert "tenant_id" in model.__table__.columns, name


def test_no_context_without_a_tenant() -> None:
    with pytest.raises(ValidationError):
        TenantContext(tenant_id="")


async def test_failed_transaction_leaves_no_partial_rows(db: Database) -> None:
    await db.ensure_tenant(A.tenant_id)
    with pytest.raises(RuntimeError):
        async with db.tenant(A) as repo:
            await repo.create(ContactPolicy, {"name": "cap", "rule_type": "frequency_cap"})
            await repo.create(ContactPolicy, {"name": "cooldown", "rule_type": "cooldown"})
            raise RuntimeError("boom after two writes")
    async with db.tenant(A) as repo:
        assert await repo.count(ContactPolicy) == 0
        assert await repo.count(AuditLog) == 0
