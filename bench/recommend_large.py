"""In-process recommend() on a large catalogue: 100 offers, 300 creatives, 20 rules, 10 policies,
and a customer with 500 history rows (issue 3 target: p99 < 10 ms, > 300 decisions/s, SQLite).

Usage: python bench/recommend_large.py [--calls N] [--no-persist] [--profile]
"""

from __future__ import annotations

import argparse
import asyncio
import random
import statistics
import tempfile
import time
from datetime import timedelta
from pathlib import Path

from sqlalchemy import insert

from kaireon_mcp.core.decisioning.api import RecommendRequest
from kaireon_mcp.core.decisioning.engine import Engine
from kaireon_mcp.core.decisioning.flows import create_flow, publish_flow
from kaireon_mcp.core.decisioning.recommend import decide, recommend
from kaireon_mcp.core.flow_schema import base_flow_nodes
from kaireon_mcp.storage.context import TenantContext
from kaireon_mcp.storage.db import Database
from kaireon_mcp.storage.tables import (
    Category,
    Channel,
    ContactPolicy,
    Creative,
    DataSchema,
    Interaction,
    Offer,
    OutcomeType,
    QualificationRule,
    SchemaRow,
)
from kaireon_mcp.storage.types import utcnow

CTX = TenantContext(tenant_id="bench")


async def build(db: Database) -> None:
    rng = random.Random(7)
    await db.ensure_tenant("bench")
    async with db.tenant(CTX) as repo:
        for key, cls, cat in (("impression", "neutral", "impression"), ("click", "positive", "response")):
            await repo.create(OutcomeType, {"key": key, "name": key, "classification": cls, "category": cat})
        cats = [await repo.create(Category, {"name": f"Cat {i}"}) for i in range(5)]
        channels = [
            await repo.create(Channel, {"name": f"Ch {i}", "channel_type": t, "status": "active"})
            for i, t in enumerate(("email", "web", "push"))
        ]
        offers = []
        for i in range(100):
            offers.append(
                await repo.create(
                    Offer,
                    {
                        "name": f"Offer {i:03d}",
                        "status": "active",
                        "priority": rng.randint(10, 95),
                        "category_id": cats[i % 5].id,
                    },
                )
            )
        for offer in offers:
            for channel in channels:
                await repo.create(
                    Creative,
                    {
                        "name": f"{offer.name} {channel.name}",
                        "offer_id": offer.id,
                        "channel_id": channel.id,
                        "status": "active",
                    },
                )
        for i in range(20):
            await repo.create(
                QualificationRule,
                {
                    "name": f"Rule {i}",
                    "rule_type": "attribute_condition",
                    "priority": i,
                    "config": {"attribute": "customer.age", "operator": "gte", "value": 18 + i % 3},
                    "scope": "category" if i % 2 else "global",
                    "scope_id": cats[i % 5].id if i % 2 else None,
                },
            )
        for i in range(10):
            await repo.create(
                ContactPolicy,
                {
                    "name": f"Policy {i}",
                    "rule_type": "frequency_cap",
                    "priority": i,
                    "config": {"maxPerWeek": 50 + i},
                    "scope": "channel",
                    "scope_id": channels[i % 3].id,
                },
            )
        schema = await repo.create(
            DataSchema,
            {
                "name": "customers",
                "display_name": "Customers",
                "table_name": "ds_customers",
                "entity_type": "customer",
            },
        )
        await repo.session.execute(
            insert(SchemaRow),
            [
                {
                    "id": f"row_{n}",
                    "tenant_id": "bench",
                    "schema_id": schema.id,
                    "row_key": f"B-{n}",
                    "data": {"customer_id": f"B-{n}", "age": 30 + n % 40},
                }
                for n in range(200)
            ],
        )
        now = utcnow()
        rows = []
        for n in range(500):
            offer = offers[n % 100]
            rows.append(
                {
                    "id": f"ih_b_{n}",
                    "tenant_id": "bench",
                    "customer_id": "B-1",
                    "offer_id": offer.id,
                    "channel_id": channels[n % 3].id,
                    "category_id": offer.category_id,
                    "interaction_type": "impression",
                    "classification": "neutral",
                    "is_impression": True,
                    "timestamp": now - timedelta(hours=n * 3),
                    "context": {},
                    "outcome_details": {},
                }
            )
        await repo.session.execute(insert(Interaction), rows)
        await create_flow(
            repo, {"key": "bench", "name": "Bench", "is_default": True, "status": "active"}, base_flow_nodes()
        )
    async with db.tenant(CTX) as repo:
        flow = await repo.find(
            __import__("kaireon_mcp.storage.tables", fromlist=["DecisionFlow"]).DecisionFlow, key="bench"
        )
        assert flow is not None
        await publish_flow(repo, flow.id, "bench")


async def run(calls: int, persist: bool) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        db = Database(f"sqlite+aiosqlite:///{Path(tmp) / 'bench.db'}", "bench")
        await db.migrate()
        await build(db)
        timings = []
        started_all = time.perf_counter()
        for i in range(calls):
            request = RecommendRequest.model_validate(
                {"customerId": "B-1", "channel": ("email", "web", "push")[i % 3]}
            )
            started = time.perf_counter()
            async with db.tenant(CTX) as repo:
                if persist:
                    await recommend(repo, request)
                else:
                    await decide(await Engine.load(repo), request.model_dump())
            timings.append((time.perf_counter() - started) * 1000)
        total = time.perf_counter() - started_all
        await db.dispose()
    timings.sort()
    q = statistics.quantiles(timings, n=100)
    mode = "recommend() incl. history rows, trace and commit" if persist else "decide() only"
    print(
        f"sqlite, {mode}: {calls} calls, p50 {q[49]:.2f} ms, p99 {q[98]:.2f} ms, "
        f"{calls / total:.0f} decisions/s (one process, one core)"
    )


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--calls", type=int, default=500)
    parser.add_argument("--no-persist", action="store_true")
    args = parser.parse_args()
    asyncio.run(run(args.calls, not args.no_persist))


if __name__ == "__main__":
    main()
