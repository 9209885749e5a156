"""An aiosqlite-compatible driver that runs sqlite3 calls inline on the event loop thread.

Why: aiosqlite gives every connection a worker thread, so each statement costs several
thread hand-offs (execute, fetch, close, reset), each a GIL transfer plus a loop wake-up.
For the short indexed reads on the hot path (API-key lookup, catalogue fingerprint,
contact history, profile rows) those hand-offs cost ten times the query itself.

Only read-only engines use this (``make_engine(read_only=True)``): in WAL mode a reader
never waits for the writer, so running the call inline cannot stall the loop on a lock.
Writers keep aiosqlite, whose thread can wait on another process's write lock.

The SQLAlchemy ``sqlite+aiosqlite`` dialect is pointed here with ``module=``; it uses only
the small surface below.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable, Iterable
from typing import Any

__all__ = ["connect", "dbapi"]

DatabaseError = sqlite3.DatabaseError
Error = sqlite3.Error
IntegrityError = sqlite3.IntegrityError
NotSupportedError = sqlite3.NotSupportedError
OperationalError = sqlite3.OperationalError
ProgrammingError = sqlite3.ProgrammingError
sqlite_version = sqlite3.sqlite_version
sqlite_version_info = sqlite3.sqlite_version_info


class _Done:
    """An awaitable that is already complete (awaiting it never suspends)."""

    __slots__ = ("_value",)

    def __init__(self, value: Any) -> None:
        self._value = value

    def __await__(self) -> Any:
        return self._value
        yield  # pragma: no cover - makes this a generator; never reached


class Cursor:
    def __init__(self, cursor: sqlite3.Cursor) -> None:
        self._cursor = cursor

    description = property(lambda self: self._cursor.description)
    rowcount = property(lambda self: self._cursor.rowcount)
    lastrowid = property(lambda self: self._cursor.lastrowid)

    @property
    def arraysize(self) -> int:
        return self._cursor.arraysize

    @arraysize.setter
    def arraysize(self, value: int) -> None:
        self._cursor.arraysize = value

    async def __aenter__(self) -> Cursor:
        return self

    async def __aexit__(self, *exc: object) -> None:
        self._cursor.close()

    async def execute(self, sql: str, parameters: Any = ()) -> Cursor:
        self._cursor.execute(sql, parameters)
        return self

    async def executemany(self, sql: str, parameters: Iterable[Any]) -> Cursor:
        self._cursor.executemany(sql, parameters)
        return self

    async def fetchall(self) -> list[Any]:
        return self._cursor.fetchall()

    async def fetchone(self) -> Any:
        return self._cursor.fetchone()

    async def fetchmany(self, size: int | None = None) -> list[Any]:
        return self._cursor.fetchmany(size if size is not None else self._cursor.arraysize)

    async def close(self) -> None:
        self._cursor.close()


class _CursorContext:
    """What ``Connection.cursor()`` returns: awaitable, and usable as ``async with``."""

    def __init__(self, cursor: Cursor) -> None:
        self._cursor = cursor

    def __await__(self) -> Any:
        return _Done(self._cursor).__await__()

    async def __aenter__(self) -> Cursor:
        return self._cursor

    async def __aexit__(self, *exc: object) -> None:
        await self._cursor.close()


class _Immediate:
    """Stands in for aiosqlite's request queue: runs a request at once and settles its future."""

    def put_nowait(self, item: tuple[Any, Callable[[], Any]]) -> None:
        future, function = item
        try:
            result = function()
        except BaseException as exc:  # noqa: BLE001 - delivered through the future
            future.set_exception(exc)
        else:
            future.set_result(result)


class _NoThread:
    daemon = True


class Connection:
    """The aiosqlite ``Connection`` surface SQLAlchemy uses, over a plain ``sqlite3`` connection."""

    def __init__(self, conn: sqlite3.Connection) -> None:
        self._conn = conn
        self._connection = conn
        self._tx = _Immediate()
        self._thread = _NoThread()

    def __await__(self) -> Any:
        return _Done(self).__await__()

    @property
    def isolation_level(self) -> str | None:
        return self._conn.isolation_level

    def cursor(self) -> _CursorContext:
        return _CursorContext(Cursor(self._conn.cursor()))

    async def execute(self, sql: str, parameters: Any = ()) -> Cursor:
        return Cursor(self._conn.execute(sql, parameters))

    async def commit(self) -> None:
        self._conn.commit()

    async def rollback(self) -> None:
        self._conn.rollback()

    async def close(self) -> None:
        self._conn.close()

    def stop(self) -> None:
        self._conn.close()

    async def create_function(self, *args: Any, **kw: Any) -> None:
        self._conn.create_function(*args, **kw)


def connect(database: str, **kw: Any) -> Connection:
    # the event loop thread opens and uses the connection; the pool may close it elsewhere
    kw.setdefault("check_same_thread", False)
    return Connection(sqlite3.connect(database, **kw))


def dbapi() -> Any:
    """The DBAPI object for ``create_async_engine(..., module=dbapi())``."""
    import sys

    from sqlalchemy.dialects.sqlite.aiosqlite import AsyncAdapt_aiosqlite_dbapi

    return AsyncAdapt_aiosqlite_dbapi(sys.modules[__name__], sqlite3)
