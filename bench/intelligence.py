"""Time the 16 intelligence tools on a large seeded demo tenant (100,000 customers, ~1M interactions).

Every call goes through the tool registry (validation, one tenant transaction, the tool), as MCP
and the bridge call it. Each tool runs ``--reps`` times and the median is reported;
explainDecision runs over ``--explain-calls`` different customers. runHealthCheck is timed with
its cache cleared (the 5-minute cache would otherwise answer every repeat) and once cached.

Usage:
  python bench/intelligence.py [--customers 100000] [--contacts 9.0] [--db PATH] [--postgres URL]

``--db`` keeps the SQLite file so a second run skips seeding (seed_demo is a no-op for
identical parameters).
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from sqlalchemy import func, select  # noqa: E402

from kaireon_mcp.config import load_settings  # noqa: E402
from kaireon_mcp.core.intelligence.health import HEALTH_CACHE  # noqa: E402
from kaireon_mcp.storage.context import TenantContext  # noqa: E402
from kaireon_mcp.storage.db import Database  # noqa: E402
from kaireon_mcp.storage.seed import SeedParams, seed_demo  # noqa: E402
from kaireon_mcp.storage.tables import Interaction  # noqa: E402
from kaireon_mcp.tools import load_all  # noqa: E402
from kaireon_mcp.tools.registry import ToolContext, execute  # noqa: E402

TARGETS_MS = {
    "analyzeContactPolicySuppression": 3000,
    "analyzeOfferPerformance": 3000,
    "simulateFrequencyCapChange": 5000,
    "explainDecision": 50,
}

CALLS: list[tuple[str, dict[str, Any]]] = [
    ("explainDecision", {"customerId": "C-0001", "channel": "email"}),
    (
        "compareOfferEligibility",
        {"customerId": "C-0005", "offerIds": ["off_demo_bogo_5_day_hard", "off_demo_bogo_5_day_easy"]},
    ),
    ("listCustomerSuppressions", {"customerId": "C-0001"}),
    ("traceCustomerJourney", {"customerId": "C-0001"}),
    ("analyzeQualificationFunnel", {}),
    ("analyzeContactPolicySuppression", {}),
    ("analyzeContactPolicySuppression", {"period": "day"}),
    ("analyzeContactPolicySuppression", {"period": "month"}),
    ("analyzePolicyConflicts", {}),
    ("analyzeOfferPerformance", {}),
    ("analyzeOfferPerformance", {"period": "month"}),
    (
        "simulateRuleChange",
        {
            "ruleId": "qr_demo_min_income_30k",
            "proposedChange": {"field": "value", "oldValue": 30000, "newValue": 40000},
        },
    ),
    ("simulateFrequencyCapChange", {"channel": "email", "currentCap": 3, "newCap": 2, "period": "week"}),
    ("simulateFrequencyCapChange", {"channel": "email", "currentCap": 3, "newCap": 4, "period": "month"}),
    ("analyzeModelHealth", {"modelId": "offer-scorecard"}),
    ("explainModelScoring", {"modelId": "offer-scorecard", "customerId": "C-0001"}),
    ("suggestModelImprovements", {"modelId": "naive-bayes"}),
    ("detectModelDrift", {"modelId": "offer-scorecard"}),
    ("runHealthCheck", {}),
    ("analyzeCrossModule", {}),
]


def label(name: str, args: dict[str, Any]) -> str:
    extra = args.get("period") or ""
    return f"{name} ({extra})" if extra else name


async def timed(fn: Callable[[], Any]) -> float:
    started = time.perf_counter()
    await fn()
    return (time.perf_counter() - started) * 1000


async def seed(db: Database, customers: int, contacts: float) -> None:
    await db.migrate()
    started = time.perf_counter()
    result = await seed_demo(db, SeedParams(customers=customers, days=90, contacts_per_customer=contacts))
    async with db.session() as session:
        rows = (await session.execute(select(func.count()).select_from(Interaction))).scalar_one()
    if db.dialect == "postgresql":
        await analyze(db)
    what = "seeded" if result.created else "reused"
    print(
        f"{db.dialect}: {what} {customers:,} customers, {rows:,} interaction rows "
        f"in {time.perf_counter() - started:.1f} s",
        flush=True,
    )


async def analyze(db: Database) -> None:
    """A bulk load leaves PostgreSQL without statistics or a visibility map until autovacuum runs;
    a live database has both, so measure with them (VACUUM cannot run inside a transaction)."""
    async with db.engine.connect() as conn:
        auto = await conn.execution_options(isolation_level="AUTOCOMMIT")
        await auto.exec_driver_sql("VACUUM ANALYZE")


async def run(url: str, customers: int, contacts: float, reps: int, explain_calls: int) -> None:
    db = Database(url, "bench")
    await seed(db, customers, contacts)
    load_all()
    ctx = ToolContext(
        db=db, principal=TenantContext(tenant_id="demo", role="viewer"), settings=load_settings()
    )
    await execute("explainDecision", {"customerId": "C-0002"}, ctx)  # open the pool, warm caches
    rows: list[tuple[str, float, float]] = []
    for name, args in CALLS:
        samples = []
        for _ in range(reps):
            HEALTH_CACHE.clear()
            samples.append(await timed(lambda n=name, a=args: execute(n, a, ctx)))  # type: ignore[misc]
        rows.append((label(name, args), statistics.median(samples), max(samples)))
    explain = [
        await timed(
            lambda i=i: execute(
                "explainDecision",  # type: ignore[misc]
                {"customerId": f"C-{1 + i * 997 % customers:04d}", "channel": "email"},
                ctx,
            )
        )
        for i in range(explain_calls)
    ]
    explain.sort()
    rows.append((f"explainDecision x{explain_calls} customers", statistics.median(explain), explain[-1]))
    await execute("runHealthCheck", {}, ctx)
    cached = await timed(lambda: execute("runHealthCheck", {}, ctx))
    rows.append(("runHealthCheck (cached)", cached, cached))
    await db.dispose()
    print(f"\n| tool ({db.dialect}) | median ms | max ms | target |\n|---|---|---|---|")
    for name, median, worst in rows:
        target = TARGETS_MS.get(name.split(" ")[0])
        verdict = "" if target is None else f"< {target} ms {'ok' if median < target else 'MISSED'}"
        print(f"| {name} | {median:,.1f} | {worst:,.1f} | {verdict} |")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--customers", type=int, default=100_000)
    parser.add_argument("--contacts", type=float, default=9.0, help="contact events per customer (seeder)")
    parser.add_argument("--reps", type=int, default=3)
    parser.add_argument("--explain-calls", type=int, default=50)
    parser.add_argument("--db", default=None, help="SQLite file to keep (reused when already seeded)")
    parser.add_argument("--postgres", default=None, help="also run on this (emptied) PostgreSQL URL")
    args = parser.parse_args()
    bench = (args.customers, args.contacts, args.reps, args.explain_calls)
    if args.db:
        asyncio.run(run(f"sqlite+aiosqlite:///{args.db}", *bench))
    else:
        with tempfile.TemporaryDirectory() as tmp:
            asyncio.run(run(f"sqlite+aiosqlite:///{Path(tmp) / 'bench.db'}", *bench))
    if args.postgres:
        asyncio.run(run(args.postgres, *bench))


if __name__ == "__main__":
    main()
