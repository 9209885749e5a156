"""Catalog list pages read in one statement: per-tenant statement reuse, paging and totals."""

from __future__ import annotations

from kaireon_mcp.core import catalog
from kaireon_mcp.storage.context import TenantContext
from kaireon_mcp.storage.db import Database
from kaireon_mcp.storage.repository import encode_cursor


async def _channels(db: Database, tenant: str, count: int) -> None:
    await db.ensure_tenant(tenant)
    async with db.tenant(TenantContext(tenant_id=tenant, role="admin")) as repo:
        for i in range(count):
            await catalog.create_channel(
                repo,
                {"name": f"{tenant}-{i}", "channelType": "web", "placements": [{"name": "A"}, {"name": "B"}]},
            )


async def _list(db: Database, tenant: str, **kwargs: object) -> dict:  # type: ignore[type-arg]
    async with db.tenant(TenantContext(tenant_id=tenant, role="admin")) as repo:
        return await catalog.list_channels(repo, **kwargs)  # type: ignore[arg-type]


async def test_cached_page_statement_stays_within_its_tenant(db: Database) -> None:
    await _channels(db, "t-one", 3)
    await _channels(db, "t-two", 2)
    for _ in range(2):  # the second round runs on the statements cached per tenant
        one, two = await _list(db, "t-one"), await _list(db, "t-two")
        assert {c["name"] for c in one["items"]} == {"t-one-0", "t-one-1", "t-one-2"}
        assert {c["name"] for c in two["items"]} == {"t-two-0", "t-two-1"}
        assert one["pagination"]["total"] == 3 and two["pagination"]["total"] == 2
        assert all(len(c["placements"]) == 2 and c["creativeCount"] == 0 for c in one["items"])


async def test_pages_walk_every_row_once_and_past_the_end_keeps_the_total(db: Database) -> None:
    await _channels(db, "t-walk", 5)
    seen, cursor = [], None
    while True:
        page = await _list(db, "t-walk", limit=2, cursor=cursor)
        assert page["pagination"]["total"] == 5
        seen += [c["name"] for c in page["items"]]
        cursor = page["pagination"]["nextCursor"]
        assert page["pagination"]["hasMore"] is (cursor is not None)
        if cursor is None:
            break
    assert sorted(seen) == [f"t-walk-{i}" for i in range(5)] and len(seen) == 5
    past = await _list(db, "t-walk", limit=2, cursor=encode_cursor(40))
    assert past["items"] == [] and past["pagination"]["total"] == 5
    assert past["pagination"]["hasMore"] is False
    assert (await _list(db, "t-empty"))["pagination"]["total"] == 0
