"""Bridge fixtures: the app over a real database, API keys per role and tenant, an httpx client."""

from __future__ import annotations

import dataclasses
from collections.abc import AsyncIterator, Mapping
from typing import Any

import httpx
import pytest

from kaireon_mcp.bridge import create_app
from kaireon_mcp.bridge.app import default_services
from kaireon_mcp.bridge.ratelimit import MemoryRateLimiter, RateLimiter
from kaireon_mcp.config import Settings, load_settings
from kaireon_mcp.core.ai.ml_worker import MLWorkerClient
from kaireon_mcp.storage import keys
from kaireon_mcp.storage.db import Database

TENANT_A = "tenant-a"
TENANT_B = "tenant-b"


def bridge_settings(**changes: Any) -> Settings:
    return dataclasses.replace(load_settings(), redis_url=None, ml_worker_url=None, **changes)


@dataclasses.dataclass
class Bridge:
    """An app plus keys: ``keys[(tenant, role)]``."""

    db: Database
    app: Any
    keys: dict[tuple[str, str], str]

    def client(self, tenant: str = TENANT_A, role: str = "admin", **headers: str) -> httpx.AsyncClient:
        key = self.keys[(tenant, role)]
        return httpx.AsyncClient(
            transport=httpx.ASGITransport(app=self.app),
            base_url="http://bridge.test",
            headers={"X-API-Key": key, **headers},
        )

    def anonymous(self) -> httpx.AsyncClient:
        return httpx.AsyncClient(transport=httpx.ASGITransport(app=self.app), base_url="http://bridge.test")


async def mint_keys(db: Database, tenants: tuple[str, ...]) -> dict[tuple[str, str], str]:
    out = {}
    for tenant in tenants:
        for role in ("admin", "editor", "viewer"):
            out[(tenant, role)] = (await keys.create_key(db, tenant, role, f"{tenant}-{role}")).plaintext
    return out


def build_app(
    db: Database,
    env: Mapping[str, str] | None = None,
    limiter: RateLimiter | None = None,
    ml_worker: MLWorkerClient | None = None,
    **settings: Any,
) -> Any:
    conf = bridge_settings(**settings)
    services = default_services(conf, dict(env or {}), ml_worker=ml_worker, llm_timeout=10.0)
    return create_app(db, conf, services=services, limiter=limiter or MemoryRateLimiter(), mount_mcp=False)


@pytest.fixture
async def bridge(db: Database) -> AsyncIterator[Bridge]:
    """Two empty tenants, keys for every role, no AI provider configured."""
    yield Bridge(db, build_app(db), await mint_keys(db, (TENANT_A, TENANT_B)))


@pytest.fixture
async def demo_bridge(demo_db: Database) -> AsyncIterator[Bridge]:
    """The small demo tenant plus an empty second tenant."""
    yield Bridge(demo_db, build_app(demo_db), await mint_keys(demo_db, ("demo", TENANT_B)))
