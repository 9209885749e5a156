"""SINGLE_TENANT_MODE (http-bridge.md 1.1): tenant resolution is skipped, all data is one tenant.

Keys still authenticate and still carry their role; only the tenant they resolve to changes.
"""

from __future__ import annotations

import dataclasses
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from kaireon_mcp.config import load_settings
from kaireon_mcp.runtime import open_database, prepare
from kaireon_mcp.storage.context import TenantContext
from kaireon_mcp.storage.tables import Tenant
from tests.bridge.conftest import TENANT_B, Bridge

DEMO_CUSTOMER = {"customerId": "C-0005", "channel": "web", "limit": 2}


@pytest.fixture
async def pinned(demo_bridge: Bridge) -> AsyncIterator[Bridge]:
    demo_bridge.db.pinned_tenant = "demo"
    yield demo_bridge
    demo_bridge.db.pinned_tenant = None


async def test_every_key_acts_on_the_default_tenant(pinned: Bridge) -> None:
    # tenant-b is empty: without the pin its editor would find no offers for this customer
    async with pinned.client(TENANT_B, "editor", **{"X-Tenant-Id": TENANT_B}) as client:
        answer = await client.post("/api/v1/recommend", json=DEMO_CUSTOMER)
    assert answer.status_code == 200, answer.text
    decisions = answer.json()["decisions"]
    assert decisions and all(d["offerId"].startswith("off_demo_") for d in decisions)


async def test_roles_still_hold_under_the_pin(pinned: Bridge) -> None:
    async with pinned.client(TENANT_B, "viewer") as client:
        refused = await client.post("/api/v1/recommend", json=DEMO_CUSTOMER)
    assert refused.status_code == 403 and refused.json()["error"]["code"] == "FORBIDDEN"


async def test_without_the_pin_tenants_stay_apart(demo_bridge: Bridge) -> None:
    async with demo_bridge.client(TENANT_B, "editor", **{"X-Tenant-Id": "demo"}) as client:
        spoofed = await client.post("/api/v1/recommend", json=DEMO_CUSTOMER)
    assert spoofed.status_code == 403 and spoofed.json()["error"]["field"] == "X-Tenant-Id"


async def test_settings_pin_the_database_and_create_the_tenant(tmp_path: Path) -> None:
    settings = dataclasses.replace(
        load_settings(),
        home=tmp_path,
        database_url=f"sqlite+aiosqlite:///{tmp_path / 'k.db'}",
        tenant_id="solo",
        single_tenant=True,
    )
    assert open_database(dataclasses.replace(settings, single_tenant=False)).pinned_tenant is None
    db = await prepare(settings, auto_seed=False)
    try:
        assert db.pinned_tenant == "solo"
        async with db.tenant(TenantContext("solo")) as repo:
            assert await repo.session.get(Tenant, "solo") is not None
    finally:
        await db.dispose()
