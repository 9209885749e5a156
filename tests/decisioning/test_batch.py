"""File delivery: a batch run over a customer list, read back by independent readers."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import pyarrow.parquet as pq
import pytest
from sqlalchemy import select

from kaireon_mcp.core.decisioning.batch import run_file_delivery
from kaireon_mcp.storage.context import TenantContext
from kaireon_mcp.storage.db import Database
from kaireon_mcp.storage.tables import Channel, Creative, Interaction

CTX = TenantContext(tenant_id="demo")
COLUMNS = ["customerId", "rank", "offerId", "offerName", "score", "recommendationId"]
CUSTOMERS = [f"C-{n:04d}" for n in range(2, 12)]


async def _file_channel(db: Database, fmt: str) -> str:
    async with db.tenant(CTX) as repo:
        channel = await repo.create(
            Channel,
            {
                "name": f"Batch {fmt}",
                "channel_type": "direct_mail",
                "status": "active",
                "delivery_mode": "file",
                "file_config": {"format": fmt, "columns": COLUMNS},
            },
        )
        offers = await repo.session.execute(select(Creative.offer_id).distinct())
        for offer_id in sorted(offers.scalars()):
            await repo.create(
                Creative,
                {
                    "name": f"{offer_id} {fmt}",
                    "offer_id": offer_id,
                    "channel_id": channel.id,
                    "status": "active",
                },
            )
        return channel.id


def _read(path: Path, fmt: str) -> list[dict[str, str]]:
    if fmt in {"csv", "tsv", "pipe_delimited"}:
        delimiter = {"csv": ",", "tsv": "\t", "pipe_delimited": "|"}[fmt]
        with path.open(newline="") as handle:
            return list(csv.DictReader(handle, delimiter=delimiter))
    if fmt == "json":
        return [{k: str(v) for k, v in row.items()} for row in json.loads(path.read_text())]
    if fmt == "jsonl":
        return [{k: str(v) for k, v in json.loads(line).items()} for line in path.read_text().splitlines()]
    table = pq.read_table(path).to_pylist()
    return [{k: str(v) for k, v in row.items()} for row in table]


@pytest.mark.parametrize("fmt", ["csv", "tsv", "json", "jsonl", "parquet", "pipe_delimited"])
async def test_batch_file_matches_persisted_recommendations(
    demo_db: Database, tmp_path: Path, fmt: str
) -> None:
    channel_id = await _file_channel(demo_db, fmt)
    out = tmp_path / f"recs.{fmt}"
    summary = await run_file_delivery(demo_db, CTX, channel_id, CUSTOMERS, out, chunk=4)
    rows = _read(out, fmt)
    assert summary["customersProcessed"] == len(CUSTOMERS)
    assert summary["rowsWritten"] == summary["totalRecommendations"] == len(rows) > 0
    async with demo_db.session() as s:
        stored = await s.execute(
            select(Interaction).where(
                Interaction.channel_id == channel_id, Interaction.interaction_type == "recommendation"
            )
        )
        expected = {(r.customer_id, str(r.rank), r.offer_id, r.recommendation_id) for r in stored.scalars()}
    assert {(r["customerId"], r["rank"], r["offerId"], r["recommendationId"]) for r in rows} == expected
    assert list(rows[0]) == COLUMNS


async def test_fixed_width_has_one_line_per_recommendation(demo_db: Database, tmp_path: Path) -> None:
    channel_id = await _file_channel(demo_db, "fixed_width")
    out = tmp_path / "recs.txt"
    summary = await run_file_delivery(demo_db, CTX, channel_id, CUSTOMERS[:3], out, persist_rows=False)
    lines = out.read_text().splitlines()
    assert len(lines) == summary["rowsWritten"]
    assert len({len(line) for line in lines}) == 1 and lines[0].startswith("C-000")
