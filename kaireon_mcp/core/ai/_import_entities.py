"""Entity types an import may create or merge: columns, required fields, references, child rows."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import Boolean, Float, Integer, func, select
from sqlalchemy.sql.sqltypes import JSON

from kaireon_mcp.errors import ValidationError
from kaireon_mcp.storage.repository import Repository
from kaireon_mcp.storage.tables import (
    Base,
    BehavioralMetric,
    Category,
    Channel,
    ContactPolicy,
    Creative,
    Interaction,
    Offer,
    QualificationRule,
    Segment,
    camel,
)

__all__ = ["IMPORT_TYPES", "ImportType", "child_references", "column_values", "find_by_name"]


@dataclass(frozen=True)
class ImportType:
    model: type[Base]
    required: tuple[str, ...] = ("name",)
    #: payload key -> (entity type it references, alternative name key)
    refs: dict[str, tuple[str, str]] = field(default_factory=dict)
    aliases: dict[str, str] = field(default_factory=dict)
    draft: bool = True


IMPORT_TYPES: dict[str, ImportType] = {
    "category": ImportType(Category, draft=False),
    "offer": ImportType(Offer, refs={"categoryId": ("category", "categoryName")}),
    "channel": ImportType(Channel),
    "creative": ImportType(
        Creative,
        required=("name", "offerId", "channelId"),
        refs={"offerId": ("offer", "offerName"), "channelId": ("channel", "channelName")},
    ),
    "contact_policy": ImportType(ContactPolicy, required=("name", "ruleType")),
    "qualification_rule": ImportType(QualificationRule, required=("name", "ruleType")),
    "segment": ImportType(Segment, aliases={"filterRules": "filters"}),
    "behavioral_metric": ImportType(
        BehavioralMetric,
        required=("name", "aggregateFunction", "sourceField"),
        aliases={"aggregation": "aggregateFunction", "field": "sourceField"},
        draft=False,
    ),
}
#: rows that point at an entity without a database foreign key (interaction history)
SOFT_REFERENCES: dict[str, list[tuple[type[Base], str]]] = {
    "offer": [(Interaction, "offer_id")],
    "creative": [(Interaction, "creative_id")],
    "channel": [(Interaction, "channel_id")],
    "category": [(Interaction, "category_id")],
}
CHILD_LABELS = {"interactions": "interactionHistory"}


def _label(table_name: str) -> str:
    """Child rows are named by entity ("creative"), interaction rows as the docs do."""
    if table_name in CHILD_LABELS:
        return CHILD_LABELS[table_name]
    for mapper in Base.registry.mappers:
        if getattr(mapper.class_, "__tablename__", None) == table_name:
            return camel(mapper.class_.__entity__)
    return table_name


PROTECTED = {"id", "tenant_id", "created_at", "updated_at", "deleted_at", "version"}


def _snake(name: str) -> str:
    return "".join("_" + c.lower() if c.isupper() else c for c in name)


def _coerce(value: Any, column: Any, key: str) -> Any:
    kind = column.type
    try:
        if isinstance(kind, Boolean) and isinstance(value, str):
            return value.strip().lower() in {"1", "true", "yes", "y"}
        if isinstance(kind, Integer) and not isinstance(value, bool):
            return int(float(value))
        if isinstance(kind, Float):
            return float(value)
        if isinstance(kind, JSON) and isinstance(value, str):
            return json.loads(value)
    except (TypeError, ValueError) as exc:
        raise ValidationError(f"{key} has an invalid value {value!r}", field=key) from exc
    return value


def column_values(entity_type: str, payload: dict[str, Any]) -> dict[str, Any]:
    """Payload (camelCase) -> model columns, coerced; unknown keys are dropped."""
    spec = IMPORT_TYPES[entity_type]
    columns = {c.key: c for c in spec.model.__table__.columns}
    out: dict[str, Any] = {}
    for key, value in payload.items():
        key = spec.aliases.get(key, key)
        column = _snake(key)
        column = "metadata_" if column == "metadata" else column
        if column in columns and column not in PROTECTED and value is not None:
            out[column] = _coerce(value, columns[column], key)
    return out


async def find_by_name(repo: Repository, entity_type: str, name: str) -> Base | None:
    """Case-insensitive name match among the tenant's live entities of one type."""
    model = IMPORT_TYPES[entity_type].model
    stmt = repo.scoped(model).where(func.lower(model.name) == name.strip().lower())  # type: ignore[attr-defined]
    return (await repo.session.execute(stmt.limit(1))).scalar_one_or_none()


async def child_references(repo: Repository, entity_type: str, entity_id: str) -> tuple[int, str] | None:
    """The first kind of row still pointing at this entity: (count, child label), or None."""
    model = IMPORT_TYPES[entity_type].model
    target = str(model.__tablename__)
    candidates: list[tuple[Any, Any, str]] = []
    for table in Base.metadata.sorted_tables:
        for column in table.columns:
            if any(fk.column.table.name == target for fk in column.foreign_keys):
                candidates.append((table, column, _label(table.name)))
    for child, attr in SOFT_REFERENCES.get(entity_type, []):
        column = getattr(child, attr)
        candidates.append((child.__table__, column, _label(str(child.__tablename__))))
    for table, column, label in candidates:
        stmt = select(func.count()).select_from(table).where(column == entity_id)
        if "tenant_id" in table.c:
            stmt = stmt.where(table.c.tenant_id == repo.ctx.tenant_id)
        count = int((await repo.session.execute(stmt)).scalar_one())
        if count:
            return count, label
    return None
