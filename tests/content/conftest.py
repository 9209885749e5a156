"""Fixtures for content tools: a tenant with an offer and a creative, and a direct tool caller."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from typing import Any

import pytest

import kaireon_mcp.tools.content  # noqa: F401  (registers the tools)
from kaireon_mcp.storage.context import TenantContext
from kaireon_mcp.storage.db import Database
from kaireon_mcp.storage.tables import Channel, Creative, Offer
from kaireon_mcp.tools.registry import execute
from tests.conftest import make_tool_ctx

Call = Callable[..., Awaitable[Any]]


@dataclass
class Catalog:
    offer_id: str
    creative_id: str


@pytest.fixture
async def catalog(db: Database) -> Catalog:
    await db.ensure_tenant("t1")
    await db.ensure_tenant("t2")
    async with db.tenant(TenantContext(tenant_id="t1")) as repo:
        offer = await repo.create(
            Offer, {"name": "Double Stars Week", "description": "Earn 2x stars on lattes"}
        )
        channel = await repo.create(Channel, {"name": "Email", "channel_type": "email"})
        creative = await repo.create(
            Creative,
            {
                "name": "Double Stars email",
                "offer_id": offer.id,
                "channel_id": channel.id,
                "content": {"subject": "2x Stars, {{first_name}}!", "body": "All week long.", "imageUrl": 3},
            },
        )
    return Catalog(offer.id, creative.id)


@pytest.fixture
def call(db: Database) -> Call:
    async def run(
        name: str,
        args: dict[str, Any] | None = None,
        tenant: str = "t1",
        env: Mapping[str, str] | None = None,
        route: str = "/studio/treatments",
    ) -> Any:
        ctx = make_tool_ctx(db, tenant=tenant, route=route)
        ctx.services["env"] = dict(env or {})
        return await execute(name, args or {}, ctx)

    return run
