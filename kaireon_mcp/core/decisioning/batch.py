"""Batch decisioning for file-delivery channels: a customer list in, one file out.

Customers are decided one at a time and their rows handed to the file writer through a
generator, so memory stays flat however many rows the file gets.
"""

from __future__ import annotations

import asyncio
import queue
from collections.abc import AsyncIterator, Iterable, Iterator
from pathlib import Path
from typing import Any

from sqlalchemy import select

from kaireon_mcp.core.decisioning.engine import Engine
from kaireon_mcp.core.decisioning.recommend import decide, decision_rows, persist
from kaireon_mcp.core.file_delivery import FORMATS, write_records
from kaireon_mcp.errors import ValidationError
from kaireon_mcp.storage.context import TenantContext
from kaireon_mcp.storage.db import Database
from kaireon_mcp.storage.tables import BatchRun, Channel, DataSchema, SchemaRow
from kaireon_mcp.storage.types import new_id, utcnow

DEFAULT_COLUMNS = [
    "customerId",
    "rank",
    "offerId",
    "offerName",
    "creativeId",
    "score",
    "channelId",
    "placementId",
    "recommendationId",
]


async def customer_ids(db: Database, ctx: TenantContext, batch: int = 5000) -> AsyncIterator[str]:
    """Every customer key of the tenant's customer schemas, streamed in keyset pages."""
    last = ""
    while True:
        async with db.tenant(ctx) as repo:
            stmt = (
                select(SchemaRow.row_key)
                .join(DataSchema, DataSchema.id == SchemaRow.schema_id)
                .where(
                    repo.tenant_filter(SchemaRow),
                    DataSchema.entity_type == "customer",
                    SchemaRow.row_key > last,
                )
                .order_by(SchemaRow.row_key)
                .distinct()
                .limit(batch)
            )
            keys = list((await repo.session.execute(stmt)).scalars())
        if not keys:
            return
        for key in keys:
            yield key
        last = keys[-1]


async def run_file_delivery(
    db: Database,
    ctx: TenantContext,
    channel_id: str,
    customers: Iterable[str] | None,
    output: Path,
    *,
    persist_rows: bool = True,
    chunk: int = 500,
) -> dict[str, Any]:
    """Decide for every customer on a file channel and write the channel's ``fileConfig`` format."""
    async with db.tenant(ctx) as repo:
        channel = await repo.get(Channel, channel_id)
        config = dict(channel.file_config or {})
        run = await repo.create(
            BatchRun, {"channel_id": channel.id, "status": "running", "output_path": str(output)}
        )
    fmt = str(config.get("format", "csv"))
    if fmt not in FORMATS:
        raise ValidationError(
            f"fileConfig.format must be one of {', '.join(FORMATS)}", field="fileConfig.format"
        )
    columns = list(config.get("columns") or DEFAULT_COLUMNS)
    if not columns or len(set(columns)) != len(columns):
        raise ValidationError("fileConfig.columns must be distinct names", field="fileConfig.columns")
    stats = {"customersProcessed": 0, "customersWithRecommendations": 0, "totalRecommendations": 0}
    ids = list(customers) if customers is not None else [c async for c in customer_ids(db, ctx)]
    pipe: queue.Queue[list[dict[str, Any]] | None] = queue.Queue(maxsize=4)
    writer = asyncio.create_task(asyncio.to_thread(write_records, output, fmt, columns, _drain(pipe), config))
    try:
        for start in range(0, len(ids), chunk):
            batch = await _decide_chunk(
                db, ctx, channel, config, ids[start : start + chunk], stats, persist_rows
            )
            if not await _put(pipe, batch, writer):
                break
    finally:
        await _put(pipe, None, writer)
    written = await writer
    async with db.tenant(ctx) as repo:
        summary = {
            **stats,
            "rowsWritten": written,
            "format": fmt,
            "averageOffersPerCustomer": round(
                stats["totalRecommendations"] / max(1, stats["customersProcessed"]), 3
            ),
        }
        await repo.update(
            BatchRun, run.id, {"status": "completed", "summary": summary, "finished_at": utcnow()}
        )
    return {"runId": run.id, **summary, "outputPath": str(output)}


async def _decide_chunk(
    db: Database,
    ctx: TenantContext,
    channel: Channel,
    config: dict[str, Any],
    chunk_ids: list[str],
    stats: dict[str, int],
    persist_rows: bool,
) -> list[dict[str, Any]]:
    """One transaction per chunk: decide, optionally persist, and flatten into file rows."""
    rows: list[dict[str, Any]] = []
    async with db.tenant(ctx) as repo:
        engine = await Engine.load(repo)
        for customer in chunk_ids:
            request = {
                "customerId": customer,
                "channelId": channel.id,
                "limit": int(config.get("maxOffersPerCustomer", 5)),
            }
            decision = await decide(engine, request)
            rec_id = new_id("rec")
            decisions = (
                await persist(repo, engine, decision, rec_id)
                if persist_rows
                else decision_rows(engine, decision.state, rec_id)
            )
            stats["customersProcessed"] += 1
            stats["customersWithRecommendations"] += bool(decisions)
            stats["totalRecommendations"] += len(decisions)
            rows.extend(_flat(customer, d) for d in decisions)
    return rows


async def _put(
    pipe: queue.Queue[list[dict[str, Any]] | None],
    item: list[dict[str, Any]] | None,
    writer: asyncio.Task[int],
) -> bool:
    """Hand a chunk to the writer thread; give up if the writer has already stopped."""
    while not writer.done():
        try:
            await asyncio.to_thread(pipe.put, item, True, 0.5)
            return True
        except queue.Full:
            continue
    return False


def _flat(customer: str, decision: dict[str, Any]) -> dict[str, Any]:
    row = {
        "customerId": customer,
        **{k: v for k, v in decision.items() if k not in {"creative", "personalization"}},
    }
    row["creativeId"] = (decision.get("creative") or {}).get("id")
    row.update({f"personalization.{k}": v for k, v in (decision.get("personalization") or {}).items()})
    return row


def _drain(pipe: queue.Queue[list[dict[str, Any]] | None]) -> Iterator[dict[str, Any]]:
    """Runs in the writer thread: rows arrive a chunk at a time through a bounded queue."""
    while (batch := pipe.get()) is not None:
        yield from batch
