"""Audit rows: one per write, field-level diffs, hash chain, same transaction."""

from __future__ import annotations

import pytest

from kaireon_mcp.errors import ConflictError
from kaireon_mcp.storage.audit import field_diff, verify_chain
from kaireon_mcp.storage.context import TenantContext
from kaireon_mcp.storage.db import Database
from kaireon_mcp.storage.tables import AuditLog, Category, Creative, Offer

CTX = TenantContext(tenant_id="acme", user_id="u-1", user_name="Ada")


def test_field_diff_lists_only_changed_fields() -> None:
    before = {"name": "A", "priority": 50, "tags": ["x"], "updatedAt": "t1", "version": 1}
    after = {"name": "A", "priority": 80, "tags": ["x", "y"], "updatedAt": "t2", "version": 2}
    assert field_diff(before, after) == {
        "priority": {"from": 50, "to": 80},
        "tags": {"from": ["x"], "to": ["x", "y"]},
    }


async def test_create_update_delete_each_write_a_diff(db: Database) -> None:
    await db.ensure_tenant("acme")
    async with db.tenant(CTX) as repo:
        offer = await repo.create(Offer, {"name": "Gold Card", "priority": 50})
    async with db.tenant(CTX) as repo:
        await repo.update(Offer, offer.id, {"priority": 80, "status": "active"})
    async with db.tenant(CTX) as repo:
        await repo.delete(Offer, offer.id)
    async with db.tenant(CTX) as repo:
        entries = await repo.all(AuditLog, order_by=AuditLog.seq)
    assert [e.action for e in entries] == ["create", "update", "soft_delete"]
    assert entries[0].changes["name"] == {"from": None, "to": "Gold Card"}
    assert entries[1].changes == {
        "priority": {"from": 50, "to": 80},
        "status": {"from": "draft", "to": "active"},
    }
    assert entries[1].entity_version == 2
    assert list(entries[2].changes) == ["deletedAt"]
    assert {e.user_id for e in entries} == {"u-1"}
    assert verify_chain(entries) == {"intact": True, "verified": 3}


async def test_tampering_breaks_the_chain(db: Database) -> None:
    await db.ensure_tenant("acme")
    async with db.tenant(CTX) as repo:
        await repo.create(Category, {"name": "Cards"})
        await repo.create(Category, {"name": "Loans"})
        entries = await repo.all(AuditLog, order_by=AuditLog.seq)
        entries[0].changes = {"name": {"from": None, "to": "Forged"}}
        result = verify_chain(entries)
    assert result["intact"] is False and result["brokenReason"] == "hash_mismatch"


async def test_hard_delete_with_children_is_a_conflict_and_rolls_back(db: Database) -> None:
    await db.ensure_tenant("acme")
    async with db.tenant(CTX) as repo:
        from kaireon_mcp.storage.tables import Channel

        offer = await repo.create(Offer, {"name": "Gold"})
        channel = await repo.create(Channel, {"name": "Email"})
        await repo.create(Creative, {"name": "Gold email", "offer_id": offer.id, "channel_id": channel.id})
    with pytest.raises(ConflictError):
        async with db.tenant(CTX) as repo:
            await repo.delete(Offer, offer.id, soft=False)
    async with db.tenant(CTX) as repo:
        assert (await repo.get(Offer, offer.id)).name == "Gold"
        assert await repo.count(AuditLog, AuditLog.action == "delete") == 0


async def test_duplicate_name_is_a_conflict(db: Database) -> None:
    await db.ensure_tenant("acme")
    async with db.tenant(CTX) as repo:
        await repo.create(Offer, {"name": "Gold"})
    with pytest.raises(ConflictError):
        async with db.tenant(CTX) as repo:
            await repo.create(Offer, {"name": "Gold"})


async def test_optimistic_version_mismatch_is_a_conflict(db: Database) -> None:
    await db.ensure_tenant("acme")
    async with db.tenant(CTX) as repo:
        offer = await repo.create(Offer, {"name": "Gold"})
    with pytest.raises(ConflictError):
        async with db.tenant(CTX) as repo:
            await repo.update(Offer, offer.id, {"priority": 1}, expected_version=7)


async def test_transaction_stays_usable_after_a_refused_duplicate(db: Database) -> None:
    await db.ensure_tenant("acme")
    async with db.tenant(CTX) as repo:
        await repo.create(Offer, {"name": "Gold"})
        with pytest.raises(ConflictError):
            await repo.create(Offer, {"name": "Gold"})
        await repo.create(Offer, {"name": "Silver"})
    async with db.tenant(CTX) as repo:
        assert sorted(o.name for o in await repo.all(Offer)) == ["Gold", "Silver"]
        assert await repo.count(AuditLog) == 2
