"""Pieces every intelligence family shares: periods, SQL time buckets, customers and their rows.

Time buckets are computed inside the database (text slices and ``date()`` on SQLite,
``date_trunc`` to a DATE on PostgreSQL) and always read back as ``YYYY-MM-DD`` (``str()``) of the bucket's
UTC start, so a GROUP BY means the same on both backends and matches the contact-policy
calendar windows (UTC day, ISO week from Monday, calendar month).
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterable
from datetime import datetime, timedelta
from typing import Any, Final, Literal

from sqlalchemy import Date, DateTime, cast, func, literal_column, select, true
from sqlalchemy.sql.elements import ColumnElement

from kaireon_mcp.core.decisioning.profile import load_metrics, load_schema_attributes
from kaireon_mcp.core.qualification import CustomerContext
from kaireon_mcp.errors import NotFoundError, ValidationError
from kaireon_mcp.storage.repository import Repository
from kaireon_mcp.storage.tables import (
    AlgorithmModel,
    BehavioralMetric,
    DataSchema,
    DecisionTrace,
    Interaction,
    MetricValue,
    SchemaRow,
)

Period = Literal["day", "week", "month"]
PERIODS: Final[tuple[str, ...]] = ("day", "week", "month")
#: rolling length used when a period means "the last N days" (performance trends)
PERIOD_DAYS: Final[dict[str, int]] = {"day": 1, "week": 7, "month": 30}
#: how many buckets of each period the history analyses look back over (the current one included):
#: a month of days, two months of weeks, a quarter of months
LOOKBACK_BUCKETS: Final[dict[str, int]] = {"day": 30, "week": 8, "month": 3}
CONVERSION_TYPES: Final[tuple[str, ...]] = ("conversion", "convert", "purchase", "accept")
CLICK_TYPES: Final[tuple[str, ...]] = ("click",)
EMPTY_TENANT_HINT: Final = (
    "This tenant has no {what} yet; seed the demo (kaireon-mcp seed) or load data, then ask again."
)


def empty_hint(what: str) -> str:
    return EMPTY_TENANT_HINT.format(what=what)


def pct(part: float, whole: float, digits: int = 2) -> float:
    """Percentage rounded for display; 0 when there is no denominator (never a division error)."""
    return round(100.0 * part / whole, digits) if whole else 0.0


def rate(part: float, whole: float) -> float:
    return round(part / whole, 6) if whole else 0.0


def trend(current: float, previous: float) -> float | None:
    """Percent change; None when the previous period had nothing to compare with."""
    if not previous:
        return None
    return round(100.0 * (current - previous) / previous, 2)


def check_period(period: str | None, default: str = "week") -> str:
    value = (period or default).lower()
    if value not in PERIODS:
        raise ValidationError(f"period must be day, week or month, got {period!r}", field="period")
    return value


def bucket_start(repo: Repository, period: str, column: Any) -> ColumnElement[Any]:
    """SQL expression: the ``YYYY-MM-DD`` UTC start of the day/ISO week/month holding ``column``."""
    if period not in PERIODS:
        raise ValidationError(f"unknown period {period!r}", field="period")
    # constants are inlined, not bound: PostgreSQL only matches a GROUP BY expression to the
    # selected one when both are textually identical, and two bind parameters never are
    if dialect(repo) == "postgresql":
        # a DATE (str() gives YYYY-MM-DD) is far cheaper per row than to_char() on a million rows
        utc = func.timezone(literal_column("'UTC'"), column)
        return cast(func.date_trunc(literal_column(f"'{period}'"), utc), Date)
    # SQLite stores these timestamps as 'YYYY-MM-DD HH:MM:SS.ffffff' text: slicing is far cheaper
    # per row than date() when a query groups a million rows
    if period == "day":
        return func.substr(column, 1, 10)
    if period == "week":
        return func.date(
            func.substr(column, 1, 10), literal_column("'-6 days'"), literal_column("'weekday 1'")
        )
    return func.substr(column, 1, 7).concat(literal_column("'-01'"))


def bucket_of_day(repo: Repository, period: str, day: Any) -> ColumnElement[Any]:
    """``bucket_start`` for a column already holding a ``YYYY-MM-DD`` bucket string."""
    if dialect(repo) == "postgresql":
        return cast(func.date_trunc(literal_column(f"'{period}'"), cast(day, DateTime())), Date)
    return bucket_start(repo, period, day)


def dialect(repo: Repository) -> str:
    bind = repo.session.bind
    return str(bind.dialect.name) if bind is not None else "sqlite"


def impressions_only() -> ColumnElement[bool]:
    return Interaction.is_impression == true()


def any_row() -> ColumnElement[bool]:
    """Always true, but it names ``is_impression`` so the planner can range-scan the covering
    analytics index (is_impression, tenant, timestamp, ...) of migration 0002 for any row."""
    return Interaction.is_impression.in_([True, False])


async def customer_exists(repo: Repository, customer_id: str) -> bool:
    """A customer is known by a customer-schema row, any interaction or any decision trace."""
    probes = (
        select(SchemaRow.id).where(repo.tenant_filter(SchemaRow), SchemaRow.row_key == customer_id),
        select(Interaction.id).where(
            Interaction.tenant_id == repo.ctx.tenant_id, Interaction.customer_id == customer_id
        ),
        select(DecisionTrace.id).where(
            repo.tenant_filter(DecisionTrace), DecisionTrace.customer_id == customer_id
        ),
    )
    for probe in probes:
        if (await repo.session.execute(probe.limit(1))).first() is not None:
            return True
    return False


async def require_customer(repo: Repository, customer_id: str) -> None:
    if not await customer_exists(repo, customer_id):
        raise NotFoundError(f"customer {customer_id!r} not found", field="customerId")


async def customer_context(repo: Repository, customer_id: str) -> CustomerContext:
    """The customer as the engine's enrich step sees it: schema rows merged with metric values."""
    attributes = await load_schema_attributes(repo, customer_id)
    metrics = await load_metrics(repo, customer_id)
    return CustomerContext(customer_id=customer_id, attributes={**attributes, **metrics}, metrics=metrics)


async def find_model(repo: Repository, ref: str) -> AlgorithmModel:
    """A model by id or key (agents see both), else NOT_FOUND naming the id."""
    model = await repo.find(AlgorithmModel, id=ref) or await repo.find(AlgorithmModel, key=ref)
    if model is None:
        raise NotFoundError(f"model {ref!r} not found", field="modelId")
    return model


def _customer_schemas(repo: Repository) -> Any:
    return select(DataSchema.id).where(
        repo.tenant_filter(DataSchema),
        DataSchema.deleted_at.is_(None),
        DataSchema.auto_enrich,
        DataSchema.entity_type == "customer",
    )


async def count_customers(repo: Repository) -> int:
    """Customers with a row in any enrich-able customer schema (the population analyses use)."""
    stmt = select(func.count(func.distinct(SchemaRow.row_key))).where(
        repo.tenant_filter(SchemaRow), SchemaRow.schema_id.in_(_customer_schemas(repo))
    )
    return int((await repo.session.execute(stmt)).scalar_one())


def merge_schema_rows(rows: Iterable[tuple[str, dict[str, Any]]]) -> dict[str, Any]:
    """Same merge as the engine's ``load_schema_attributes``: first schema wins bare keys,
    every value is also reachable as ``<schema>.<field>``."""
    attributes: dict[str, Any] = {}
    for schema_name, data in rows:
        for key, value in (data or {}).items():
            attributes.setdefault(key, value)
            attributes[f"{schema_name}.{key}"] = value
    return attributes


async def _customer_schema_order(repo: Repository) -> dict[str, tuple[int, str]]:
    """Customer schema id -> (merge order, name); the oldest schema wins bare keys, as in enrich."""
    stmt = (
        select(DataSchema.id, DataSchema.name)
        .where(DataSchema.id.in_(_customer_schemas(repo)))
        .order_by(DataSchema.created_at, DataSchema.id)
    )
    rows = (await repo.session.execute(stmt)).all()
    return {str(sid): (n, str(name)) for n, (sid, name) in enumerate(rows)}


async def _row_batch(
    repo: Repository, schemas: dict[str, tuple[int, str]], after: str | None, size: int
) -> dict[str, dict[str, Any]]:
    """Up to ``size`` customers after ``after``: one ordered range read on (tenant, row_key).

    With several customer schemas a customer spans several rows, so a full read drops its last
    key (it may be cut off) and the next batch starts there.
    """
    fetch = size * len(schemas)
    stmt = select(SchemaRow.row_key, SchemaRow.schema_id, SchemaRow.data).where(
        repo.tenant_filter(SchemaRow), SchemaRow.schema_id.in_(list(schemas))
    )
    if after is not None:
        stmt = stmt.where(SchemaRow.row_key > after)
    rows = (await repo.session.execute(stmt.order_by(SchemaRow.row_key).limit(fetch))).all()
    grouped: dict[str, list[tuple[int, str, dict[str, Any]]]] = {}
    for key, schema_id, data in rows:
        order, name = schemas[str(schema_id)]
        grouped.setdefault(str(key), []).append((order, name, data))
    if len(rows) == fetch and len(schemas) > 1 and len(grouped) > 1:
        grouped.pop(next(reversed(grouped)))
    return {
        k: merge_schema_rows((n, d) for _, n, d in sorted(v, key=lambda r: r[0])) for k, v in grouped.items()
    }


async def customer_rows(repo: Repository, keys: list[str]) -> dict[str, dict[str, Any]]:
    stmt = (
        select(SchemaRow.row_key, DataSchema.name, SchemaRow.data)
        .join(DataSchema, DataSchema.id == SchemaRow.schema_id)
        .where(repo.tenant_filter(SchemaRow), SchemaRow.schema_id.in_(_customer_schemas(repo)))
        .where(SchemaRow.row_key.in_(keys))
        .order_by(SchemaRow.row_key, DataSchema.created_at)
    )
    grouped: dict[str, list[tuple[str, dict[str, Any]]]] = {}
    for key, schema_name, data in (await repo.session.execute(stmt)).all():
        grouped.setdefault(str(key), []).append((schema_name, data))
    return {key: merge_schema_rows(rows) for key, rows in grouped.items()}


async def _batch_metrics(repo: Repository, keys: list[str]) -> dict[str, dict[str, Any]]:
    stmt = (
        select(MetricValue.customer_id, BehavioralMetric.id, BehavioralMetric.name, MetricValue.value)
        .join(BehavioralMetric, BehavioralMetric.id == MetricValue.metric_id)
        .where(repo.tenant_filter(BehavioralMetric), MetricValue.customer_id.in_(keys))
    )
    out: dict[str, dict[str, Any]] = {}
    for customer, metric_id, name, value in (await repo.session.execute(stmt)).all():
        out.setdefault(str(customer), {}).update({metric_id: value, name: value})
    return out


async def iter_customers(
    repo: Repository, *, limit: int, batch: int = 5000, with_metrics: bool = False
) -> AsyncIterator[list[CustomerContext]]:
    """Customer contexts in id order, ``batch`` at a time, at most ``limit`` in all.

    Keyset pagination on ``row_key`` keeps each batch one indexed range read, so memory stays
    flat however large the tenant is.
    """
    schemas = await _customer_schema_order(repo)
    after: str | None = None
    seen = 0
    while schemas and seen < limit:
        rows = await _row_batch(repo, schemas, after, min(batch, limit - seen))
        if not rows:
            return
        keys = list(rows)
        metrics = await _batch_metrics(repo, keys) if with_metrics else {}
        yield [
            CustomerContext(
                customer_id=key,
                attributes={**rows[key], **metrics.get(key, {})},
                metrics=metrics.get(key, {}),
            )
            for key in keys
        ]
        seen += len(keys)
        after = keys[-1]


def window_since(now: datetime, period: str, buckets: int) -> datetime:
    """Start of the oldest of ``buckets`` calendar buckets ending with the one holding ``now``."""
    from kaireon_mcp.core.contact_policy import window_bounds

    start, _ = window_bounds(period, now)
    for _ in range(buckets - 1):
        start, _ = window_bounds(period, start - timedelta(microseconds=1))
    return start


def as_utc(value: Any) -> datetime:
    """Aggregates (MIN/MAX) bypass the column type on SQLite and come back as strings."""
    from kaireon_mcp.storage.types import UTCDateTime

    result = UTCDateTime().process_result_value(value, None)  # type: ignore[arg-type]
    assert result is not None
    return result
