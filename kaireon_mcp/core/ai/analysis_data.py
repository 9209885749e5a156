"""What each analyzer reads: row counts for tier routing, samples, statistics (spec 3.6.1, 3.6.5)."""

from __future__ import annotations

from collections import Counter, defaultdict
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import func, select

from kaireon_mcp.core.ai.heuristics import CreativeStats, FieldSpec, numeric_values
from kaireon_mcp.errors import NotFoundError
from kaireon_mcp.storage.repository import Repository
from kaireon_mcp.storage.tables import Channel, Creative, DataSchema, Interaction, SchemaField, SchemaRow
from kaireon_mcp.storage.types import utcnow

__all__ = [
    "CONVERSION_TYPES",
    "SAMPLE_ROWS",
    "SegmentData",
    "count_creatives",
    "count_interactions",
    "creative_stats",
    "customer_weeks",
    "channel_breakdown",
    "field_statistics",
    "load_segment_data",
]

NUMERIC_TYPES = frozenset({"integer", "float", "decimal", "number", "bigint", "numeric", "double"})
CONVERSION_TYPES = frozenset({"convert", "conversion", "purchase", "accept"})
SAMPLE_ROWS = 1000
MAX_CREATIVES = 200
TOP_VALUES = 5


@dataclass
class SegmentData:
    schema_id: str
    row_count: int
    numeric: list[FieldSpec]
    categorical: list[FieldSpec]
    rows: list[dict[str, Any]]


async def _schema_fields(repo: Repository, schema_id: str) -> list[SchemaField]:
    if await repo.find(DataSchema, id=schema_id) is None:
        raise NotFoundError(f"schema {schema_id!r} not found", field="schemaId")
    stmt = repo.scoped(SchemaField).where(SchemaField.schema_id == schema_id).order_by(SchemaField.ordinal)
    return list((await repo.session.execute(stmt)).scalars().all())


async def load_segment_data(
    repo: Repository, schema_id: str, included: list[str] | None, limit: int = SAMPLE_ROWS
) -> SegmentData:
    """Count the schema's rows and sample ``limit`` of them (row-key order, so runs repeat)."""
    fields = [f for f in await _schema_fields(repo, schema_id) if not f.is_primary_key]
    if included is not None:
        wanted = set(included)
        fields = [f for f in fields if f.name in wanted]
    count = await repo.count(SchemaRow, SchemaRow.schema_id == schema_id)
    stmt = (
        select(SchemaRow.data)
        .where(repo.tenant_filter(SchemaRow), SchemaRow.schema_id == schema_id)
        .order_by(SchemaRow.row_key)
        .limit(limit)
    )
    rows = [dict(r or {}) for r in (await repo.session.execute(stmt)).scalars().all()]
    specs = [(f, FieldSpec(f.name, f.display_name or f.name)) for f in fields]
    return SegmentData(
        schema_id=schema_id,
        row_count=count,
        numeric=[s for f, s in specs if f.data_type.lower() in NUMERIC_TYPES],
        categorical=[s for f, s in specs if f.data_type.lower() not in NUMERIC_TYPES],
        rows=rows,
    )


def field_statistics(data: SegmentData) -> list[dict[str, Any]]:
    """Per-field summary for the model: min/max/avg for numbers, distinct + top values otherwise."""
    out: list[dict[str, Any]] = []
    for spec in data.numeric:
        values = numeric_values(data.rows, spec.name)
        if values:
            out.append(
                {
                    "field": spec.name,
                    "kind": "numeric",
                    "min": min(values),
                    "max": max(values),
                    "avg": round(sum(values) / len(values), 4),
                }
            )
    for spec in data.categorical:
        counter = Counter(str(r[spec.name]) for r in data.rows if r.get(spec.name) is not None)
        top = [{"value": v, "count": c} for v, c in counter.most_common(TOP_VALUES)]
        out.append({"field": spec.name, "kind": "categorical", "distinct": len(counter), "topValues": top})
    return out


def _since(lookback_days: int) -> datetime:
    return utcnow() - timedelta(days=lookback_days)


async def count_interactions(repo: Repository, lookback_days: int) -> int:
    """Interaction rows of the tenant inside the policy lookback window."""
    stmt = select(func.count()).where(
        repo.tenant_filter(Interaction), Interaction.timestamp >= _since(lookback_days)
    )
    return int((await repo.session.execute(stmt)).scalar_one())


async def _window_rows(repo: Repository, lookback_days: int) -> list[Any]:
    stmt = select(
        Interaction.customer_id,
        Interaction.channel_id,
        Interaction.timestamp,
        Interaction.is_impression,
        Interaction.interaction_type,
        Interaction.classification,
    ).where(repo.tenant_filter(Interaction), Interaction.timestamp >= _since(lookback_days))
    return list((await repo.session.execute(stmt)).all())


def _is_contact(row: Any, use_impressions: bool) -> bool:
    if use_impressions:
        return bool(row.is_impression) or row.interaction_type == "impression"
    return bool(row.interaction_type == "recommendation")


def _is_conversion(row: Any) -> bool:
    return row.classification == "positive" and row.interaction_type in CONVERSION_TYPES


async def customer_weeks(repo: Repository, lookback_days: int) -> list[tuple[int, bool]]:
    """``(contacts, converted)`` per (customer, ISO week) in the lookback window.

    Contacts are impression rows; a tenant that records no impressions is measured on
    its recommendation rows instead, so one decision is never counted twice. A week
    converted when it holds a positive conversion-type outcome (convert, conversion,
    purchase, accept).
    """
    rows = await _window_rows(repo, lookback_days)
    use_impressions = any(r.is_impression or r.interaction_type == "impression" for r in rows)
    contacts: Counter[tuple[str, tuple[int, int]]] = Counter()
    converted: set[tuple[str, tuple[int, int]]] = set()
    for row in rows:
        iso = row.timestamp.isocalendar()
        key = (row.customer_id, (iso[0], iso[1]))
        if _is_contact(row, use_impressions):
            contacts[key] += 1
        elif _is_conversion(row):
            converted.add(key)
    return [(n, key in converted) for key, n in sorted(contacts.items())]


async def channel_breakdown(repo: Repository, lookback_days: int) -> list[dict[str, Any]]:
    """Per channel: impressions, clicks, conversions, CTR, CVR (model prompt input)."""
    names = {c.id: c.name for c in await repo.all(Channel)}
    totals: dict[str, Counter[str]] = defaultdict(Counter)
    for row in await _window_rows(repo, lookback_days):
        bucket = totals[row.channel_id or "unknown"]
        if row.is_impression:
            bucket["impressions"] += 1
        elif row.interaction_type == "click":
            bucket["clicks"] += 1
        if _is_conversion(row):
            bucket["conversions"] += 1
    out = []
    for channel_id, c in sorted(totals.items()):
        out.append(
            {
                "channel": names.get(channel_id, channel_id),
                "impressions": c["impressions"],
                "clicks": c["clicks"],
                "conversions": c["conversions"],
                "ctr": round(c["clicks"] / c["impressions"], 4) if c["impressions"] else 0.0,
                "cvr": round(c["conversions"] / c["clicks"], 4) if c["clicks"] else 0.0,
            }
        )
    return out


async def count_creatives(repo: Repository) -> int:
    return await repo.count(Creative)


async def _interaction_totals(repo: Repository) -> dict[str, dict[str, float]]:
    stmt = (
        select(
            Interaction.creative_id,
            Interaction.interaction_type,
            Interaction.is_impression,
            func.count(),
            func.coalesce(func.sum(Interaction.conversion_value), 0.0),
        )
        .where(repo.tenant_filter(Interaction), Interaction.creative_id.is_not(None))
        .group_by(Interaction.creative_id, Interaction.interaction_type, Interaction.is_impression)
    )
    totals: dict[str, dict[str, float]] = defaultdict(lambda: defaultdict(float))
    for creative_id, kind, impression, count, value in (await repo.session.execute(stmt)).all():
        t = totals[str(creative_id)]
        if impression:
            t["impressions"] += count
        elif kind == "click":
            t["clicks"] += count
        elif kind in CONVERSION_TYPES:
            t["conversions"] += count
            t["revenue"] += float(value or 0.0)
    return totals


async def creative_stats(repo: Repository) -> tuple[list[CreativeStats], dict[str, Creative]]:
    """Up to 200 creatives, highest impressions first, with counters.

    Counters stored on the creative (``metrics.impressions`` ...) win; otherwise they are
    aggregated from interaction history, which is where this build records them.
    """
    creatives = await repo.all(Creative, order_by=Creative.id)
    totals = await _interaction_totals(repo)
    stats = []
    for c in creatives:
        m = c.metrics if isinstance(c.metrics, dict) and "impressions" in c.metrics else totals.get(c.id, {})
        stats.append(
            CreativeStats(
                creative_id=c.id,
                name=c.name,
                channel_id=c.channel_id,
                impressions=int(m.get("impressions", 0) or 0),
                clicks=int(m.get("clicks", 0) or 0),
                conversions=int(m.get("conversions", 0) or 0),
                revenue=float(m.get("revenue", 0.0) or 0.0),
            )
        )
    stats.sort(key=lambda s: (-s.impressions, s.creative_id))
    kept = stats[:MAX_CREATIVES]
    by_id = {c.id: c for c in creatives}
    return kept, {s.creative_id: by_id[s.creative_id] for s in kept}
