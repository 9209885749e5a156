"""Concurrent decisions that find the catalogue stale share one load (catalog._single_flight)."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from kaireon_mcp.core.decisioning import catalog
from kaireon_mcp.storage.context import TenantContext
from kaireon_mcp.storage.db import Database

CALLERS = 8


async def _load_concurrently(db: Database) -> list[Any]:
    async def one() -> Any:
        async with db.reader(TenantContext("demo")) as repo:
            return await catalog.load_catalog(repo)

    return await asyncio.gather(*(one() for _ in range(CALLERS)), return_exceptions=True)


async def test_a_cold_catalogue_is_loaded_once_for_concurrent_callers(
    demo_db: Database, monkeypatch: pytest.MonkeyPatch
) -> None:
    loads: list[str] = []
    real = catalog._load_static

    async def counted(repo: Any) -> Any:
        loads.append(repo.ctx.tenant_id)
        await asyncio.sleep(0.05)  # every caller arrives while the first load runs
        return await real(repo)

    monkeypatch.setattr(catalog, "_load_static", counted)
    catalog._CACHE.clear()
    results = await _load_concurrently(demo_db)
    assert loads == ["demo"]
    assert all(r.offers is results[0].offers for r in results) and results[0].offers
    assert not catalog._IN_FLIGHT


async def test_when_the_shared_load_fails_the_waiters_load_themselves(
    demo_db: Database, monkeypatch: pytest.MonkeyPatch
) -> None:
    calls = 0
    real = catalog._load_static

    async def first_fails(repo: Any) -> Any:
        nonlocal calls
        calls += 1
        await asyncio.sleep(0.05)
        if calls == 1:
            raise RuntimeError("database went away")
        return await real(repo)

    monkeypatch.setattr(catalog, "_load_static", first_fails)
    catalog._CACHE.clear()
    results = await _load_concurrently(demo_db)
    failed = [r for r in results if isinstance(r, BaseException)]
    assert len(failed) == 1 and str(failed[0]) == "database went away"
    assert all(r.offers for r in results if not isinstance(r, BaseException))
    assert 2 <= calls <= CALLERS  # the failed leader, then waiters on their own or behind a new leader
    assert not catalog._IN_FLIGHT
