"""Fixtures for the data and flow tool tests: an empty tenant and a direct tool caller."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

import pytest

import kaireon_mcp.tools.data  # noqa: F401  (registers the tools)
import kaireon_mcp.tools.flow_pipelines  # noqa: F401
from kaireon_mcp.storage.db import Database
from kaireon_mcp.tools.registry import execute
from tests.conftest import make_tool_ctx

Call = Callable[..., Awaitable[dict[str, Any]]]


@pytest.fixture
async def tdb(db: Database) -> Database:
    await db.ensure_tenant("t1")
    await db.ensure_tenant("t2")
    return db


@pytest.fixture
def call(tdb: Database) -> Call:
    async def run(
        name: str, args: dict[str, Any] | None = None, tenant: str = "t1", role: str = "admin"
    ) -> Any:
        return await execute(name, args or {}, make_tool_ctx(tdb, tenant=tenant, role=role))

    return run
