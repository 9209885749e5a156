"""Group commit: the inserts of concurrent callers share one short write transaction.

A decision writes a handful of append-only rows (recommendation and impression history, the
trace, a variant assignment). Committing each in its own transaction makes the write lock,
BEGIN and COMMIT the bottleneck under concurrency, above all on SQLite where one writer
exists. Here callers queue their ``Writes``; one drain task per event loop commits whatever
has queued as one transaction with one ``executemany`` per table, then wakes the callers.
A caller returns only after its rows are committed, so nothing is acknowledged unwritten.
If a combined transaction fails, every caller's writes are retried alone, so one bad batch
fails only its own caller.
"""

from __future__ import annotations

import asyncio
import functools
from collections import deque
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import Table, insert
from sqlalchemy.dialects import postgresql, sqlite

__all__ = ["GroupCommitter", "Upsert", "Writes", "apply_writes", "upsert_statement"]

MAX_GROUP = 64


@dataclass(frozen=True)
class Upsert:
    """Insert, or on a unique-key conflict update only ``update`` columns."""

    table: Table
    conflict: tuple[str, ...]
    update: tuple[str, ...]
    row: dict[str, Any]


@dataclass
class Writes:
    """Rows one caller wants committed together."""

    inserts: dict[Table, list[dict[str, Any]]] = field(default_factory=dict)
    upserts: list[Upsert] = field(default_factory=list)

    def add(self, table: Table, *rows: dict[str, Any]) -> None:
        self.inserts.setdefault(table, []).extend(rows)

    def extend(self, other: Writes) -> None:
        for table, rows in other.inserts.items():
            self.add(table, *rows)
        self.upserts.extend(other.upserts)

    def __bool__(self) -> bool:
        return bool(self.upserts) or any(self.inserts.values())


async def apply_writes(conn: Any, dialect: str, writes: Writes) -> None:
    """Execute ``writes`` on an open connection or session (inside its transaction)."""
    for table, rows in writes.inserts.items():
        for shape in _by_columns(rows):
            await conn.execute(insert(table), shape)
    grouped: dict[tuple[Table, tuple[str, ...], tuple[str, ...]], list[dict[str, Any]]] = {}
    for upsert in writes.upserts:
        grouped.setdefault((upsert.table, upsert.conflict, upsert.update), []).append(upsert.row)
    for (table, conflict, update), rows in grouped.items():
        for shape in _by_columns(rows):
            await conn.execute(upsert_statement(dialect, table, conflict, update), shape)


@functools.lru_cache(maxsize=64)
def upsert_statement(dialect: str, table: Table, conflict: tuple[str, ...], update: tuple[str, ...]) -> Any:
    """Built once per shape: constructing ``excluded`` columns costs more than the insert."""
    make = postgresql.insert if dialect == "postgresql" else sqlite.insert
    stmt = make(table)
    return stmt.on_conflict_do_update(
        index_elements=list(conflict), set_={name: stmt.excluded[name] for name in update}
    )


def _by_columns(rows: list[dict[str, Any]]) -> list[list[dict[str, Any]]]:
    """executemany needs one column set per statement; most callers send a single shape."""
    shapes: dict[tuple[str, ...], list[dict[str, Any]]] = {}
    for row in rows:
        shapes.setdefault(tuple(row), []).append(row)
    return list(shapes.values())


@dataclass
class _Queue:
    pending: deque[tuple[Writes, asyncio.Future[None]]] = field(default_factory=deque)
    task: asyncio.Task[None] | None = None


class GroupCommitter:
    """Per-database queue of ``Writes``; ``commit`` is the group-commit entry point."""

    def __init__(self, database: Any) -> None:
        self._db = database
        self._queues: dict[int, _Queue] = {}

    async def commit(self, writes: Writes) -> None:
        """Return once ``writes`` are committed (in a transaction possibly shared with others)."""
        if not writes:
            return
        loop = asyncio.get_running_loop()
        queue = self._queues.setdefault(id(loop), _Queue())
        done: asyncio.Future[None] = loop.create_future()
        # a cancelled caller never reads its outcome: mark it read so nothing is logged
        done.add_done_callback(lambda f: f.cancelled() or f.exception())
        queue.pending.append((writes, done))
        if queue.task is None or queue.task.done():
            queue.task = loop.create_task(self._drain(queue))
        await asyncio.shield(done)

    async def _drain(self, queue: _Queue) -> None:
        while queue.pending:
            group = [queue.pending.popleft() for _ in range(min(MAX_GROUP, len(queue.pending)))]
            combined = Writes()
            for writes, _ in group:
                combined.extend(writes)
            try:
                await self._transaction(combined)
            except Exception:  # noqa: BLE001 - isolate: each caller gets its own outcome
                for writes, done in group:
                    await self._alone(writes, done)
                continue
            for _, done in group:
                if not done.done():
                    done.set_result(None)

    async def _alone(self, writes: Writes, done: asyncio.Future[None]) -> None:
        try:
            await self._transaction(writes)
        except Exception as exc:  # noqa: BLE001 - handed to the caller, who maps it
            if not done.done():
                done.set_exception(exc)
            return
        if not done.done():
            done.set_result(None)

    async def _transaction(self, writes: Writes) -> None:
        await self._db.commit_writes(writes)
