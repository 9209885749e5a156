"""Small hand-built tenants for the intelligence tools, so every expected number can be counted by hand."""

from __future__ import annotations

import itertools
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import insert

import kaireon_mcp.tools.intelligence  # noqa: F401 - registers the tools
from kaireon_mcp.core.contact_policy import window_bounds
from kaireon_mcp.core.intelligence.health import HEALTH_CACHE
from kaireon_mcp.storage.context import TenantContext
from kaireon_mcp.storage.db import Database
from kaireon_mcp.storage.repository import Repository
from kaireon_mcp.storage.tables import (
    Channel,
    ContactPolicy,
    Creative,
    DataSchema,
    Interaction,
    Offer,
    QualificationRule,
    SchemaRow,
)
from kaireon_mcp.storage.types import utcnow
from kaireon_mcp.tools.registry import execute
from tests.conftest import make_tool_ctx

TENANT = "t_intel"
_seq = itertools.count(1)
_tenants = itertools.count(1)


@pytest.fixture(autouse=True)
def _fresh_health_cache() -> None:
    HEALTH_CACHE.clear()


async def call(
    db: Database, name: str, args: dict[str, Any] | None = None, tenant: str = TENANT
) -> dict[str, Any]:
    return await execute(name, args or {}, make_tool_ctx(db, tenant=tenant))


def this_week(now: datetime, k: int, n: int) -> datetime:
    """The k-th of n evenly spaced moments between this ISO week's Monday 00:00 and now."""
    start, _ = window_bounds("week", now)
    return start + (now - start) * k / (n + 1)


@dataclass
class Fixture:
    """A tenant built row by row: channels, offers with creatives, customers and history."""

    db: Database
    #: unique per test so no per-process cache keyed by tenant can leak between test databases
    tenant: str = field(default_factory=lambda: f"{TENANT}_{next(_tenants)}")
    now: datetime = field(default_factory=utcnow)
    channels: dict[str, str] = field(default_factory=dict)
    offers: dict[str, str] = field(default_factory=dict)

    async def call(self, name: str, args: dict[str, Any] | None = None) -> dict[str, Any]:
        return await call(self.db, name, args, tenant=self.tenant)

    @property
    def ctx(self) -> TenantContext:
        return TenantContext(tenant_id=self.tenant, role="admin")

    async def setup(self) -> Fixture:
        await self.db.ensure_tenant(self.tenant)
        return self

    async def _create(self, model: Any, values: dict[str, Any]) -> Any:
        async with self.db.tenant(self.ctx) as repo:
            return await repo.create(model, values)

    async def channel(self, name: str, ctype: str) -> str:
        row = await self._create(
            Channel, {"id": f"chn_{name}", "name": name, "channel_type": ctype, "status": "active"}
        )
        self.channels[name] = row.id
        return str(row.id)

    async def offer(self, name: str, **values: Any) -> str:
        row = await self._create(
            Offer, {"id": f"off_{name}", "name": name, "status": "active", "priority": 50, **values}
        )
        self.offers[name] = row.id
        for channel_id in self.channels.values():
            await self._create(
                Creative,
                {
                    "id": f"crv_{name}_{channel_id}",
                    "name": f"{name} {channel_id}",
                    "offer_id": row.id,
                    "channel_id": channel_id,
                    "status": "active",
                },
            )
        return str(row.id)

    async def rule(self, name: str, rule_type: str, config: dict[str, Any], **values: Any) -> str:
        values = {"scope": "global", "priority": 50, "status": "active", **values}
        row = await self._create(
            QualificationRule,
            {"id": f"qr_{name}", "name": name, "rule_type": rule_type, "config": config, **values},
        )
        return str(row.id)

    async def policy(self, name: str, rule_type: str, config: dict[str, Any], **values: Any) -> str:
        values = {"scope": "global", "priority": 50, "status": "active", **values}
        row = await self._create(
            ContactPolicy,
            {"id": f"cp_{name}", "name": name, "rule_type": rule_type, "config": config, **values},
        )
        return str(row.id)

    async def customers(self, rows: dict[str, dict[str, Any]]) -> None:
        schema = await self._create(
            DataSchema,
            {
                "id": f"sch_{self.tenant}",
                "name": "customers",
                "display_name": "Customers",
                "table_name": "ds_customers",
                "entity_type": "customer",
            },
        )
        async with self.db.tenant(self.ctx) as repo:
            await repo.session.execute(
                insert(SchemaRow),
                [
                    {
                        "id": f"row_{self.tenant}_{key}",
                        "tenant_id": self.tenant,
                        "schema_id": schema.id,
                        "row_key": key,
                        "data": {"customer_id": key, **data},
                    }
                    for key, data in rows.items()
                ],
            )

    async def history(self, rows: list[dict[str, Any]]) -> None:
        """Interaction rows: ``{customer, when, channel?, offer?, type?, classification?, value?}``."""
        async with self.db.tenant(self.ctx) as repo:
            await repo.session.execute(insert(Interaction), [self._interaction(repo, r) for r in rows])

    def _interaction(self, repo: Repository, row: dict[str, Any]) -> dict[str, Any]:
        kind = row.get("type", "impression")
        return {
            "id": f"ih_{next(_seq):08d}",
            "tenant_id": self.tenant,
            "customer_id": row["customer"],
            "offer_id": row.get("offer"),
            "channel_id": row.get("channel"),
            "interaction_type": kind,
            "classification": row.get("classification", "neutral"),
            "is_impression": kind == "impression",
            "direction": "outbound",
            "conversion_value": row.get("value"),
            "context": {},
            "outcome_details": {},
            "timestamp": row["when"],
        }

    def ago(self, **delta: float) -> datetime:
        return self.now - timedelta(**delta)


@pytest.fixture
async def fx(db: Database) -> Fixture:
    return await Fixture(db).setup()
