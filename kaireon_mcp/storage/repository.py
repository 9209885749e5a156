"""Tenant-scoped data access. Every statement is built from ``scoped()``, which adds the tenant.

Writes go through ``create``/``update``/``delete`` so each one leaves an audit row with
its field diff in the same transaction.
"""

from __future__ import annotations

import base64
import inspect
import json
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import Any, TypeVar

from sqlalchemy import Select, func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.sql.elements import ColumnElement

from kaireon_mcp.errors import ConflictError, NotFoundError, ValidationError
from kaireon_mcp.storage.audit import AuditService
from kaireon_mcp.storage.context import TenantContext
from kaireon_mcp.storage.crypto import SecretBox
from kaireon_mcp.storage.tables import Base
from kaireon_mcp.storage.types import new_id, utcnow

T = TypeVar("T", bound=Base)

MAX_PAGE = 200


@dataclass
class Page:
    items: list[Any]
    total: int
    limit: int
    next_cursor: str | None

    def to_dict(self, items: list[Any] | None = None) -> dict[str, Any]:
        return {
            "items": items if items is not None else [i.to_dict() for i in self.items],
            "pagination": {
                "total": self.total,
                "limit": self.limit,
                "hasMore": self.next_cursor is not None,
                "nextCursor": self.next_cursor,
            },
        }


def encode_cursor(offset: int) -> str:
    return base64.urlsafe_b64encode(json.dumps({"o": offset}).encode()).decode()


def decode_cursor(cursor: str | None) -> int:
    if not cursor:
        return 0
    try:
        offset = int(json.loads(base64.urlsafe_b64decode(cursor.encode()))["o"])
    except (ValueError, KeyError, TypeError) as exc:
        raise ValidationError("cursor is not one this server issued", field="cursor") from exc
    if offset < 0:
        raise ValidationError("cursor is not one this server issued", field="cursor")
    return offset


def _display_name(row: Base) -> str | None:
    for attr in ("name", "key", "title"):
        value = getattr(row, attr, None)
        if isinstance(value, str):
            return value
    return None


class Repository:
    """Unit of work for one tenant; the owning transaction commits or rolls back as a whole."""

    def __init__(
        self,
        session: AsyncSession,
        ctx: TenantContext,
        box: SecretBox | None = None,
        *,
        fast_rows: Callable[[Any, dict[str, Any]], Awaitable[Sequence[Any]]] | None = None,
    ) -> None:
        self.session = session
        self.ctx = ctx
        self.box = box
        self.audit = AuditService(session, ctx)
        self._fast_rows = fast_rows

    async def select_rows(self, stmt: Any, params: dict[str, Any]) -> Sequence[Any]:
        """Rows of a column SELECT (bind parameters in ``params``; the caller scopes the tenant).

        A read-only repository answers from the database's fast path; a transaction's own
        repository reads through its session, so its uncommitted rows are seen (flushed first).
        """
        if self._fast_rows is not None:
            return await self._fast_rows(stmt, params)
        await self.session.flush()
        return (await (await self.session.connection()).execute(stmt, params)).all()

    # ---- reads -------------------------------------------------------------------------
    def scoped(self, model: type[T], *, include_deleted: bool = False) -> Select[Any]:
        """``SELECT model WHERE tenant_id = ctx.tenant`` (and not soft-deleted unless asked)."""
        stmt = select(model).where(model.tenant_id == self.ctx.tenant_id)  # type: ignore[attr-defined]
        if not include_deleted and hasattr(model, "deleted_at"):
            stmt = stmt.where(model.deleted_at.is_(None))  # type: ignore[attr-defined]
        return stmt

    def tenant_filter(self, model: type[Base]) -> ColumnElement[bool]:
        return model.tenant_id == self.ctx.tenant_id  # type: ignore[attr-defined,no-any-return]

    async def get(self, model: type[T], row_id: str, *, include_deleted: bool = False) -> T:
        stmt = self.scoped(model, include_deleted=include_deleted).where(model.id == row_id)  # type: ignore[attr-defined]
        row: T | None = (await self.session.execute(stmt)).scalar_one_or_none()
        if row is None:
            raise NotFoundError(f"{model.__entity__} {row_id!r} not found", field=_id_field(model))
        return row

    async def find(self, model: type[T], *, include_deleted: bool = False, **equals: Any) -> T | None:
        stmt = self.scoped(model, include_deleted=include_deleted)
        for key, value in equals.items():
            stmt = stmt.where(getattr(model, key) == value)
        found: T | None = (await self.session.execute(stmt.limit(1))).scalar_one_or_none()
        return found

    async def all(self, model: type[T], *where: ColumnElement[bool], order_by: Any = None) -> list[T]:
        stmt = self.scoped(model).where(*where)
        if order_by is not None:
            stmt = stmt.order_by(*(order_by if isinstance(order_by, (list, tuple)) else [order_by]))
        rows: list[T] = list((await self.session.execute(stmt)).scalars().all())
        return rows

    async def count(
        self, model: type[Base], *where: ColumnElement[bool], include_deleted: bool = False
    ) -> int:
        stmt = select(func.count()).select_from(model).where(self.tenant_filter(model), *where)
        if not include_deleted and hasattr(model, "deleted_at"):
            stmt = stmt.where(model.deleted_at.is_(None))  # type: ignore[attr-defined]
        return int((await self.session.execute(stmt)).scalar_one())

    async def page(
        self,
        model: type[T],
        *where: ColumnElement[bool],
        limit: int = 25,
        cursor: str | None = None,
        order_by: Any = None,
        include_deleted: bool = False,
    ) -> Page:
        if limit < 1 or limit > MAX_PAGE:
            raise ValidationError(f"limit must be between 1 and {MAX_PAGE}", field="limit")
        offset = decode_cursor(cursor)
        stmt = self.scoped(model, include_deleted=include_deleted).where(*where)
        order = order_by if order_by is not None else [model.created_at.desc(), model.id]  # type: ignore[attr-defined]
        stmt = stmt.order_by(*(order if isinstance(order, (list, tuple)) else [order]))
        rows = list((await self.session.execute(stmt.offset(offset).limit(limit + 1))).scalars().all())
        total = await self.count(model, *where, include_deleted=include_deleted)
        has_more = len(rows) > limit
        return Page(rows[:limit], total, limit, encode_cursor(offset + limit) if has_more else None)

    # ---- writes ------------------------------------------------------------------------
    async def create(self, model: type[T], values: dict[str, Any], *, audit_action: str = "create") -> T:
        """Insert a row owned by the context's tenant; a client-supplied tenant is ignored."""
        values = {k: v for k, v in values.items() if k != "tenant_id"}
        values.setdefault("id", new_id(model.__prefix__))
        row = model(tenant_id=self.ctx.tenant_id, **values)
        await self._write(model, lambda: self.session.add(row))
        await self.audit.record(
            audit_action,
            model.__entity__,
            _rid(row),
            _display_name(row),
            None,
            row.to_dict(),
            getattr(row, "version", None),
        )
        return row

    async def update(
        self,
        model: type[T],
        row_or_id: T | str,
        changes: dict[str, Any],
        *,
        expected_version: int | None = None,
        audit_action: str = "update",
    ) -> T:
        row = await self.get(model, row_or_id) if isinstance(row_or_id, str) else row_or_id
        if (
            expected_version is not None
            and getattr(row, "row_version", getattr(row, "version", None)) != expected_version
        ):
            raise ConflictError(
                f"{model.__entity__} {_rid(row)!r} was changed by someone else (version mismatch)",
                field="rowVersion",
            )
        changes = {k: v for k, v in changes.items() if k not in {"id", "tenant_id"}}
        unknown = next((key for key in changes if not hasattr(row, key)), None)
        if unknown is not None:
            raise ValidationError(f"{model.__entity__} has no field {unknown!r}", field=unknown)
        before = row.to_dict()

        def stage() -> None:
            for key, value in changes.items():
                setattr(row, key, value)
            _bump(row)

        await self._write(model, stage)
        await self.audit.record(
            audit_action,
            model.__entity__,
            _rid(row),
            _display_name(row),
            before,
            row.to_dict(),
            getattr(row, "version", None),
        )
        return row

    async def delete(self, model: type[T], row_or_id: T | str, *, soft: bool | None = None) -> T:
        """Soft delete where the table supports it, else a hard delete refused when children exist."""
        row = await self.get(model, row_or_id) if isinstance(row_or_id, str) else row_or_id
        before = row.to_dict()
        soft = hasattr(row, "deleted_at") if soft is None else soft
        if soft:

            def stage() -> None:
                row.deleted_at = utcnow()  # type: ignore[attr-defined]
                if hasattr(row, "version"):
                    row.version = (row.version or 0) + 1  # type: ignore[attr-defined]

            await self._write(model, stage)
            await self.audit.record(
                "soft_delete",
                model.__entity__,
                _rid(row),
                _display_name(row),
                before,
                row.to_dict(),
                getattr(row, "version", None),
            )
            return row
        await self._write(model, lambda: self.session.delete(row), deleting=True)
        await self.audit.record("delete", model.__entity__, _rid(row), _display_name(row), before, None)
        return row

    async def _write(self, model: type[Base], stage: Callable[[], Any], *, deleting: bool = False) -> None:
        """Stage a change inside a SAVEPOINT so a refused write leaves the transaction usable.

        ``begin_nested`` flushes earlier pending work first, so the change is staged only once
        the savepoint exists; a constraint failure then rolls back just this change.
        """
        try:
            async with self.session.begin_nested():
                staged = stage()
                if inspect.isawaitable(staged):
                    await staged
                await self.session.flush()
        except IntegrityError as exc:
            if deleting:
                raise ConflictError(
                    f"{model.__entity__} is still referenced by other rows; remove them first"
                ) from exc
            raise ConflictError(
                f"{model.__entity__} conflicts with an existing row (duplicate name or key)"
            ) from exc


def _bump(row: Base) -> None:
    if hasattr(row, "version"):
        row.version = (row.version or 0) + 1  # type: ignore[attr-defined]
    if hasattr(row, "row_version"):
        row.row_version = (row.row_version or 0) + 1  # type: ignore[attr-defined]
    row.updated_at = utcnow()  # type: ignore[attr-defined]


def _id_field(model: type[Base]) -> str:
    from kaireon_mcp.storage.tables import camel

    return camel(model.__entity__) + "Id"


def _rid(row: Base) -> str:
    return str(row.id)  # type: ignore[attr-defined]
