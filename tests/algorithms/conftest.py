"""Helpers for algorithm tool tests: two tenants, one call path (``registry.execute``), small fixtures.

The training fixture is separable on purpose, so "training worked" has a sharp meaning: every
positive customer must outscore every negative one after training.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import insert, select

import kaireon_mcp.tools.algorithms  # noqa: F401  (registers the tools)
import kaireon_mcp.tools.runtime  # noqa: F401  (recommend, for end-to-end traces)
from kaireon_mcp.errors import KaireonError
from kaireon_mcp.storage.context import TenantContext
from kaireon_mcp.storage.db import Database
from kaireon_mcp.storage.repository import Repository
from kaireon_mcp.storage.tables import (
    AlgorithmModel,
    AuditLog,
    Base,
    DataSchema,
    Interaction,
    SchemaField,
    SchemaRow,
)
from kaireon_mcp.tools.registry import execute
from tests.conftest import make_tool_ctx

TENANT = "demo"
OTHER = "other"
T0 = datetime(2025, 3, 1, 12, 0, tzinfo=UTC)
#: 40 labelled customers (20 positive), plus 4 with no history at all
LABELLED = 40
UNSEEN = 4


@pytest.fixture
async def adb(db: Database) -> Database:
    """The parametrised database with two empty tenants."""
    await db.ensure_tenant(TENANT)
    await db.ensure_tenant(OTHER)
    return db


async def call(
    db: Database,
    name: str,
    args: dict[str, Any] | None = None,
    *,
    tenant: str = TENANT,
    role: str = "admin",
    route: str = "/",
) -> dict[str, Any]:
    return await execute(name, args or {}, make_tool_ctx(db, tenant=tenant, role=role, route=route))


async def fails(
    db: Database,
    name: str,
    args: dict[str, Any] | None = None,
    *,
    tenant: str = TENANT,
    role: str = "admin",
    route: str = "/",
) -> KaireonError:
    with pytest.raises(KaireonError) as info:
        await call(db, name, args, tenant=tenant, role=role, route=route)
    return info.value


async def audit_rows(db: Database, tenant: str = TENANT, action: str | None = None) -> list[AuditLog]:
    async with db.session() as session:
        stmt = select(AuditLog).where(AuditLog.tenant_id == tenant).order_by(AuditLog.seq)
        if action:
            stmt = stmt.where(AuditLog.action == action)
        return list((await session.execute(stmt)).scalars().all())


async def model_row(db: Database, model_id: str, tenant: str = TENANT) -> AlgorithmModel:
    async with db.tenant(TenantContext(tenant_id=tenant)) as repo:
        return await repo.get(AlgorithmModel, model_id)


async def set_columns(db: Database, model: type[Base], row_id: str, **values: Any) -> None:
    """Fixture shortcut for columns no tool sets directly (e.g. metrics before a promotion)."""
    async with db.tenant(TenantContext(tenant_id=TENANT)) as repo:
        await repo.update(model, row_id, values)


def customer(i: int) -> dict[str, Any]:
    """Even customers are positive: high income, frequent visits, gold tier."""
    positive = i % 2 == 0
    return {
        "customer_id": f"C-{i:03d}",
        "income": (90_000 if positive else 30_000) + 1000 * i,
        "visit_frequency": (5 if positive else 0) + i % 3,
        "tier": "gold" if positive else "green",
    }


def is_positive(row: dict[str, Any]) -> bool:
    return int(row["customer_id"][2:]) % 2 == 0


async def seed_training_data(db: Database, tenant: str = TENANT, schema_name: str = "customers") -> str:
    """A customer schema with 44 rows; the first 40 have history, even ones a positive click."""
    async with db.tenant(TenantContext(tenant_id=tenant)) as repo:
        schema = await repo.create(
            DataSchema,
            {
                "name": schema_name,
                "display_name": schema_name,
                "table_name": f"ds_{schema_name}",
                "entity_type": "customer",
            },
        )
        await add_fields(repo, schema.id, FIELDS)
        rows = [customer(i) for i in range(LABELLED + UNSEEN)]
        await repo.session.execute(
            insert(SchemaRow),
            [
                {
                    "id": f"row_{tenant}_{schema_name}_{r['customer_id']}",
                    "tenant_id": tenant,
                    "schema_id": schema.id,
                    "row_key": r["customer_id"],
                    "data": r,
                }
                for r in rows
            ],
        )
        history = []
        for r in rows[:LABELLED]:
            history.append(interaction(tenant, r["customer_id"], "impression", "neutral", T0))
            if is_positive(r):
                history.append(
                    interaction(tenant, r["customer_id"], "click", "positive", T0 + timedelta(hours=1))
                )
        await repo.session.execute(insert(Interaction), history)
        return str(schema.id)


FIELDS = [
    ("customer_id", "varchar"),
    ("income", "integer"),
    ("visit_frequency", "integer"),
    ("tier", "varchar"),
]


async def add_fields(repo: Repository, schema_id: str, fields: list[tuple[str, str]]) -> None:
    """Schema columns; every one but the key is flagged as a predictor."""
    for ordinal, (name, dtype) in enumerate(fields):
        await repo.create(
            SchemaField,
            {
                "schema_id": schema_id,
                "name": name,
                "data_type": dtype,
                "is_predictor": name != "customer_id",
                "ordinal": ordinal,
            },
        )


_SEQ = iter(range(1, 10**9))


def interaction(
    tenant: str, customer_id: str, kind: str, classification: str, when: datetime, offer_id: str = "off_x"
) -> dict[str, Any]:
    return {
        "id": f"ih_{tenant}_{next(_SEQ):09d}",
        "tenant_id": tenant,
        "customer_id": customer_id,
        "offer_id": offer_id,
        "interaction_type": kind,
        "classification": classification,
        "is_impression": kind == "impression",
        "context": {},
        "outcome_details": {},
        "timestamp": when,
    }
