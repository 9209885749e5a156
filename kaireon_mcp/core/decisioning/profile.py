"""The customer side of a decision: enriched attributes, metric values and contact history."""

from __future__ import annotations

import functools
from collections.abc import Iterable, Iterator, Sequence
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import String, bindparam, select, type_coerce

from kaireon_mcp.core.contact_policy import ContactEvent, ContactLedger
from kaireon_mcp.core.decisioning.catalog import Catalog
from kaireon_mcp.storage.repository import Repository
from kaireon_mcp.storage.tables import BehavioralMetric, DataSchema, Interaction, MetricValue, SchemaRow

#: history the contact-policy evaluators may look back over (longest suppression windows)
HISTORY_DAYS = 120


# Built once: reusing one statement object lets SQLAlchemy reuse its compiled form, and
# building these three per decision cost about a millisecond of CPU.
_SCHEMA_ROWS = (
    select(DataSchema.name, SchemaRow.data)
    .join(SchemaRow, SchemaRow.schema_id == DataSchema.id)
    .where(
        DataSchema.tenant_id == bindparam("tenant"),
        DataSchema.deleted_at.is_(None),
        DataSchema.auto_enrich,
        DataSchema.entity_type == "customer",
        SchemaRow.row_key == bindparam("customer"),
    )
    .order_by(DataSchema.created_at)
)
_METRIC_VALUES = (
    select(BehavioralMetric.id, BehavioralMetric.name, MetricValue.value)
    .join(MetricValue, MetricValue.metric_id == BehavioralMetric.id)
    .where(
        BehavioralMetric.tenant_id == bindparam("tenant"), MetricValue.customer_id == bindparam("customer")
    )
)
# The timestamp is read as stored and parsed in ``_events`` exactly as UTCDateTime would
# (``fromisoformat``, then UTC): its per-row decorator chain was a third of this query's CPU.
_HISTORY = select(
    type_coerce(Interaction.timestamp, String),
    Interaction.offer_id,
    Interaction.creative_id,
    Interaction.channel_id,
    Interaction.placement_id,
    Interaction.category_id,
    Interaction.interaction_type,
    Interaction.classification,
    Interaction.is_impression,
).where(
    Interaction.tenant_id == bindparam("tenant"),
    Interaction.customer_id == bindparam("customer"),
    Interaction.timestamp >= bindparam("since"),
    Interaction.timestamp <= bindparam("now"),
    Interaction.interaction_type != "recommendation",
)


async def _rows(repo: Repository, stmt: Any, params: dict[str, Any]) -> Sequence[Any]:
    """Rows of a column select without the ORM layer, which adds nothing to such a select but
    about a fifth of its cost (``select_rows`` flushes first inside a write transaction).
    """
    return await repo.select_rows(stmt, params)


async def load_schema_attributes(repo: Repository, customer_id: str) -> dict[str, Any]:
    """Rows of every active auto-enrich customer schema keyed by this customer.

    Values are exposed both bare (``age``) and schema-prefixed (``starbucks_customers.age``).
    """
    params = {"tenant": repo.ctx.tenant_id, "customer": customer_id}
    attributes: dict[str, Any] = {}
    for schema_name, data in await _rows(repo, _SCHEMA_ROWS, params):
        for key, value in (data or {}).items():
            attributes.setdefault(key, value)
            attributes[f"{schema_name}.{key}"] = value
    return attributes


async def load_metrics(repo: Repository, customer_id: str) -> dict[str, Any]:
    """Behavioral metric values by metric id and by metric name."""
    params = {"tenant": repo.ctx.tenant_id, "customer": customer_id}
    metrics: dict[str, Any] = {}
    for metric_id, name, value in await _rows(repo, _METRIC_VALUES, params):
        metrics[metric_id] = value
        metrics[name] = value
    return metrics


async def load_ledger(repo: Repository, catalog: Catalog, customer_id: str, now: datetime) -> ContactLedger:
    """Impressions and responses of the customer over the policy look-back window."""
    params = {
        "tenant": repo.ctx.tenant_id,
        "customer": customer_id,
        "since": now - timedelta(days=HISTORY_DAYS),
        "now": now,
    }
    return ContactLedger(_events(catalog, await _rows(repo, _HISTORY, params)))


def _events(catalog: Catalog, rows: Iterable[Any]) -> Iterator[ContactEvent]:
    """History rows as events; category and subcategory fall back to the offer's."""
    offers, channels = catalog.offers, catalog.channels
    empty: dict[str, Any] = {}
    for ts, offer_id, creative_id, channel_id, placement_id, category_id, kind, classification, shown in rows:
        offer = offers.get(offer_id or "", empty)
        yield ContactEvent.of(  # ``of`` takes naive as UTC and converts aware values to UTC
            datetime.fromisoformat(ts) if isinstance(ts, str) else ts,
            offer_id,
            creative_id,
            channel_id,
            channels.get(channel_id or "", empty).get("channelType"),
            placement_id,
            category_id or offer.get("categoryId"),
            offer.get("subCategoryId"),
            kind,
            classification,
            bool(shown),
        )


def days_since_last_impression(ledger: ContactLedger, now: datetime):  # type: ignore[no-untyped-def]
    """A lookup the qualification recency check and relevance can share."""

    latest = functools.cache(lambda: ledger.latest_by_offer(now))  # one pass, at the first lookup

    def lookup(offer_id: str) -> float | None:
        event = latest().get(offer_id)
        return None if event is None else (now - event.timestamp).total_seconds() / 86400

    return lookup
