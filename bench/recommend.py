"""Recommend latency on the seeded demo tenant (SQLite embedded default), p50/p95/p99 over N calls.

Usage: python bench/recommend.py [--calls N] [--customers N]
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import tempfile
import time
from pathlib import Path

from kaireon_mcp.core.decisioning.api import RecommendRequest
from kaireon_mcp.core.decisioning.recommend import recommend
from kaireon_mcp.storage.context import TenantContext
from kaireon_mcp.storage.db import Database
from kaireon_mcp.storage.seed import SeedParams, seed_demo


async def run(url: str, calls: int, customers: int) -> None:
    db = Database(url, "bench")
    await db.migrate()
    await seed_demo(db, SeedParams(customers=customers))
    ctx = TenantContext(tenant_id="demo")
    timings = []
    for i in range(calls):
        request = RecommendRequest(
            customerId=f"C-{(i % customers) + 1:04d}", channel=("web", "email", "in_app")[i % 3]
        )
        started = time.perf_counter()
        async with db.tenant(ctx) as repo:
            await recommend(repo, request)
        timings.append((time.perf_counter() - started) * 1000)
    await db.dispose()
    timings.sort()
    q = statistics.quantiles(timings, n=100)
    print(
        f"{db.dialect}: {calls} recommend calls (incl. commit of history rows + trace): "
        f"p50 {q[49]:.1f} ms, p95 {q[94]:.1f} ms, p99 {q[98]:.1f} ms, max {timings[-1]:.1f} ms"
    )


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--calls", type=int, default=300)
    parser.add_argument("--customers", type=int, default=2000)
    parser.add_argument("--postgres", default=None)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        asyncio.run(run(f"sqlite+aiosqlite:///{Path(tmp) / 'bench.db'}", args.calls, args.customers))
    if args.postgres:
        asyncio.run(run(args.postgres, args.calls, args.customers))


if __name__ == "__main__":
    main()
