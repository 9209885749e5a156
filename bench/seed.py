"""Time `seed_demo` for the default demo (2,000 customers x 90 days) on a fresh SQLite file.

Usage: python bench/seed.py [--customers N] [--days D] [--postgres URL]
"""

from __future__ import annotations

import argparse
import asyncio
import tempfile
import time
from pathlib import Path

from kaireon_mcp.storage.db import Database
from kaireon_mcp.storage.seed import SeedParams, seed_demo


async def run(url: str, params: SeedParams) -> None:
    db = Database(url, "bench")
    await db.migrate()
    started = time.perf_counter()
    result = await seed_demo(db, params)
    elapsed = time.perf_counter() - started
    again = time.perf_counter()
    await seed_demo(db, params)
    noop = time.perf_counter() - again
    await db.dispose()
    print(f"{db.dialect}: seeded {result.counts} in {elapsed:.2f} s; idempotent re-run {noop:.3f} s")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--customers", type=int, default=2000)
    parser.add_argument("--days", type=int, default=90)
    parser.add_argument("--postgres", default=None, help="also run on this (emptied) PostgreSQL URL")
    args = parser.parse_args()
    params = SeedParams(customers=args.customers, days=args.days)
    with tempfile.TemporaryDirectory() as tmp:
        asyncio.run(run(f"sqlite+aiosqlite:///{Path(tmp) / 'bench.db'}", params))
    if args.postgres:
        asyncio.run(run(args.postgres, SeedParams(tenant="bench", customers=args.customers, days=args.days)))


if __name__ == "__main__":
    main()
