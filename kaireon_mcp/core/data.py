"""Data foundation (spec §2.19, §2.29): schemas and their rows, connectors, transform catalog, pipelines.

Schema rows live in ``schema_rows`` as JSON keyed by the schema's primary key, so the
"backing table" ``ds_<name>`` of the reference product is virtual here; the row checks a
real table would enforce (declared columns, types, nullability, primary key, unique
columns) are applied on insert instead. Every function works over one tenant-bound
``Repository`` and therefore inside the caller's single transaction.
"""

from __future__ import annotations

import asyncio
import ipaddress
import re
import socket
import time
from collections.abc import Iterable, Mapping, Sequence
from datetime import date, datetime
from typing import Any, Final, Protocol
from urllib.parse import urlsplit

import httpx
from sqlalchemy import (
    Float,
    String,
    case,
    cast,
    delete,
    func,
    insert,
    literal,
    literal_column,
    select,
    update,
)
from sqlalchemy.sql.elements import ColumnElement

from kaireon_mcp.errors import ConflictError, KaireonError, NotFoundError, ValidationError
from kaireon_mcp.storage.repository import Page, Repository
from kaireon_mcp.storage.tables import (
    Connector,
    DataSchema,
    Pipeline,
    PipelineRun,
    SchemaField,
    SchemaRow,
    Segment,
)
from kaireon_mcp.storage.types import new_id, utcnow

# ---------------------------------------------------------------------------------------------
# Dialect helpers: JSON extraction and day buckets that read the same on SQLite and PostgreSQL.
# ---------------------------------------------------------------------------------------------


def dialect_of(repo: Repository) -> str:
    """``sqlite`` or ``postgresql``: the SQL we emit for JSON differs between the two."""
    return str(repo.session.get_bind().dialect.name)


def _json_path(key: str) -> str:
    return '$."' + key.replace('"', '\\"') + '"'


def json_text(dialect: str, column: Any, key: str) -> ColumnElement[Any]:
    """The value of ``column[key]`` as text (NULL when absent or JSON null)."""
    if dialect == "postgresql":
        return func.jsonb_extract_path_text(column, literal(key, String))
    return cast(func.json_extract(column, literal(_json_path(key), String)), String)


def json_number(dialect: str, column: Any, key: str) -> ColumnElement[Any]:
    """``column[key]`` as a float when it is a JSON number, else NULL (never a cast error)."""
    if dialect == "postgresql":
        kind = func.jsonb_typeof(func.jsonb_extract_path(column, literal(key, String)))
        return case((kind == "number", cast(json_text(dialect, column, key), Float)), else_=None)
    path = literal(_json_path(key), String)
    return case(
        (func.json_type(column, path).in_(("integer", "real")), func.json_extract(column, path)),
        else_=None,
    )


def json_array_length(dialect: str, column: Any) -> ColumnElement[Any]:
    """Length of a JSON array column (0 for non-arrays on SQLite, NULL-safe on PostgreSQL)."""
    if dialect == "postgresql":
        return case(
            (func.jsonb_typeof(column) == "array", func.jsonb_array_length(column)),
            else_=0,
        )
    return func.coalesce(func.json_array_length(column), 0)


def day_bucket(dialect: str, column: Any) -> ColumnElement[Any]:
    """``YYYY-MM-DD`` of a UTC timestamp column (SQLite stores naive UTC text)."""
    # inline constants: PostgreSQL only matches SELECT and GROUP BY expressions without bind params
    if dialect == "postgresql":
        return func.to_char(func.timezone(literal_column("'UTC'"), column), literal_column("'YYYY-MM-DD'"))
    return func.strftime(literal_column("'%Y-%m-%d'"), column)


# ---------------------------------------------------------------------------------------------
# Schemas
# ---------------------------------------------------------------------------------------------

TYPE_FAMILIES: Final[Mapping[str, str]] = {
    **dict.fromkeys(("varchar", "text", "char", "string", "uuid", "citext"), "text"),
    **dict.fromkeys(("integer", "int", "bigint", "smallint", "int4", "int8", "serial"), "integer"),
    **dict.fromkeys(
        ("decimal", "numeric", "float", "double", "double precision", "real", "number", "float8"), "number"
    ),
    **dict.fromkeys(("boolean", "bool"), "boolean"),
    "date": "date",
    **dict.fromkeys(("timestamp", "timestamptz", "datetime"), "timestamp"),
    **dict.fromkeys(("json", "jsonb"), "json"),
}
ENTITY_TYPES: Final = ("customer", "account", "custom")
FIELD_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]{0,62}$")
MAX_INSERT_ROWS: Final = 5000
SURROGATE_KEY: Final = "id"
KEY_SEPARATOR: Final = "|"


def sanitize_name(name: str) -> str:
    """Lower-case, non-alphanumerics to ``_`` (collapsed, trimmed) so it is a safe table suffix."""
    cleaned = re.sub(r"_+", "_", re.sub(r"[^a-z0-9]", "_", name.strip().lower())).strip("_")
    if not cleaned:
        raise ValidationError("name must contain at least one letter or digit", field="name")
    return cleaned


def type_family(data_type: str) -> str:
    family = TYPE_FAMILIES.get(data_type.strip().lower())
    if family is None:
        supported = ", ".join(sorted(TYPE_FAMILIES))
        raise ValidationError(f"unknown dataType {data_type!r}; use one of: {supported}", field="dataType")
    return family


def field_values(spec: Mapping[str, Any], ordinal: int, where: str = "fields") -> dict[str, Any]:
    """A FieldSpec (camelCase) to ``SchemaField`` column values, validated."""
    name = spec.get("name")
    if not isinstance(name, str) or not FIELD_NAME.match(name):
        raise ValidationError(
            f"{where}: field name {name!r} must be letters, digits and _ (not starting with a digit)",
            field=where,
        )
    data_type = str(spec.get("dataType") or "varchar").strip().lower()
    type_family(data_type)
    is_pk = bool(spec.get("isPrimaryKey", False))
    default = spec.get("defaultValue")
    return {
        "name": name,
        "display_name": spec.get("displayName") or name,
        "data_type": data_type,
        "length": spec.get("length"),
        "precision": spec.get("precision"),
        "scale": spec.get("scale"),
        "is_nullable": False if is_pk else bool(spec.get("isNullable", True)),
        "is_primary_key": is_pk,
        "is_unique": bool(spec.get("isUnique", False)),
        "is_predictor": bool(spec.get("isPredictor", False)),
        "default_value": None if default is None else str(default),
        "description": spec.get("description") or "",
        "ordinal": ordinal,
    }


async def get_schema(repo: Repository, schema_id: str | None = None, name: str | None = None) -> DataSchema:
    """By id, or by (sanitised) name when only a name is known."""
    if schema_id:
        return await repo.get(DataSchema, schema_id)
    if name:
        found = await repo.find(DataSchema, name=sanitize_name(name))
        if found is None:
            raise NotFoundError(f"schema {name!r} not found", field="schemaName")
        return found
    raise ValidationError("schemaId or schemaName is required", field="schemaId")


async def schema_fields(repo: Repository, schema_ids: Sequence[str]) -> dict[str, list[SchemaField]]:
    """Fields of several schemas in one query, ordered by ordinal."""
    if not schema_ids:
        return {}
    rows = await repo.all(
        SchemaField, SchemaField.schema_id.in_(schema_ids), order_by=[SchemaField.ordinal, SchemaField.name]
    )
    out: dict[str, list[SchemaField]] = {sid: [] for sid in schema_ids}
    for row in rows:
        out[row.schema_id].append(row)
    return out


def field_out(row: SchemaField) -> dict[str, Any]:
    data = row.to_dict()
    for key in ("tenantId", "schemaId", "createdAt", "updatedAt"):
        data.pop(key, None)
    return data


def schema_out(schema: DataSchema, fields: list[SchemaField]) -> dict[str, Any]:
    data = schema.to_dict()
    data.pop("tenantId", None)
    data.pop("deletedAt", None)
    data["primaryKey"] = primary_key_fields(schema)
    data["fields"] = [field_out(f) for f in fields]
    return data


def primary_key_fields(schema: DataSchema) -> list[str]:
    return [part for part in (schema.primary_key or SURROGATE_KEY).split(",") if part]


async def list_schemas(repo: Repository, limit: int = 20, cursor: str | None = None) -> dict[str, Any]:
    page = await repo.page(DataSchema, limit=limit, cursor=cursor, order_by=[DataSchema.name])
    fields = await schema_fields(repo, [s.id for s in page.items])
    return page.to_dict([schema_out(s, fields[s.id]) for s in page.items])


async def describe_schema(
    repo: Repository, schema_id: str | None = None, name: str | None = None
) -> dict[str, Any]:
    schema = await get_schema(repo, schema_id, name)
    fields = await schema_fields(repo, [schema.id])
    return schema_out(schema, fields[schema.id])


async def create_schema(
    repo: Repository,
    *,
    name: str,
    display_name: str,
    description: str = "",
    entity_type: str = "custom",
    schema_type: str = "customer",
    linked_schema_id: str | None = None,
    join_mapping: Mapping[str, Any] | None = None,
    fields: Sequence[Mapping[str, Any]] = (),
) -> dict[str, Any]:
    """Schema + fields in the caller's transaction: a bad field rolls back the schema too."""
    clean = sanitize_name(name)
    if entity_type not in ENTITY_TYPES:
        raise ValidationError(f"entityType must be one of {', '.join(ENTITY_TYPES)}", field="entityType")
    if await repo.find(DataSchema, name=clean) is not None:
        raise ConflictError(f"a schema named {clean!r} already exists", field="name")
    if linked_schema_id:
        await repo.get(DataSchema, linked_schema_id)
    specs = [field_values(spec, i, f"fields[{i}]") for i, spec in enumerate(fields)]
    names = [s["name"] for s in specs]
    duplicates = sorted({n for n in names if names.count(n) > 1})
    if duplicates:
        raise ValidationError(f"duplicate field names: {', '.join(duplicates)}", field="fields")
    pk = [s["name"] for s in specs if s["is_primary_key"]]
    schema = await repo.create(
        DataSchema,
        {
            "name": clean,
            "display_name": display_name,
            "description": description,
            "table_name": f"ds_{clean}",
            "entity_type": entity_type,
            "schema_type": schema_type,
            "linked_schema_id": linked_schema_id,
            "join_mapping": dict(join_mapping or {}),
            "primary_key": ",".join(pk) or SURROGATE_KEY,
        },
    )
    created = [await repo.create(SchemaField, {**spec, "schema_id": schema.id}) for spec in specs]
    return schema_out(schema, created)


async def add_schema_field(repo: Repository, schema_id: str, spec: Mapping[str, Any]) -> dict[str, Any]:
    """Like ALTER TABLE ADD COLUMN: refused when existing rows could not satisfy the new column."""
    schema = await repo.get(DataSchema, schema_id)
    existing = (await schema_fields(repo, [schema.id]))[schema.id]
    values = field_values(spec, max((f.ordinal for f in existing), default=-1) + 1, "field")
    if any(f.name == values["name"] for f in existing):
        raise ConflictError(
            f"schema {schema.name} already has a field {values['name']!r}", field="field.name"
        )
    rows = await repo.count(SchemaRow, SchemaRow.schema_id == schema.id)
    if rows and values["is_primary_key"]:
        raise ValidationError(
            "cannot add a primary-key field to a schema that already holds rows", field="field.isPrimaryKey"
        )
    if rows and not values["is_nullable"] and values["default_value"] is None:
        raise ValidationError(
            f"schema holds {rows} rows: a NOT NULL field needs a defaultValue", field="field.defaultValue"
        )
    created = await repo.create(SchemaField, {**values, "schema_id": schema.id})
    if values["is_primary_key"]:
        keys = [k for k in primary_key_fields(schema) if k != SURROGATE_KEY] + [values["name"]]
        await repo.update(DataSchema, schema, {"primary_key": ",".join(keys)})
    return {"schemaId": schema.id, "field": field_out(created), "fieldCount": len(existing) + 1}


async def inbound_references(repo: Repository, schema_id: str) -> dict[str, Any]:
    """What would break if the schema went away: linked schemas, pipelines, segments."""
    schema = await repo.get(DataSchema, schema_id)
    linked = await repo.all(DataSchema, DataSchema.linked_schema_id == schema.id)
    pipelines = await repo.all(Pipeline, Pipeline.schema_id == schema.id)
    segments = await repo.all(Segment, Segment.base_schema_id == schema.id)
    refs = {
        "schemas": [{"id": s.id, "name": s.name} for s in linked],
        "pipelines": [{"id": p.id, "name": p.name} for p in pipelines],
        "segments": [{"id": s.id, "name": s.name} for s in segments],
    }
    total = sum(len(v) for v in refs.values())
    return {
        "schemaId": schema.id,
        "name": schema.name,
        "references": refs,
        "total": total,
        "canDelete": not total,
    }


async def delete_schema(repo: Repository, schema_id: str) -> dict[str, Any]:
    """Hard delete (a dropped table, not a tombstone) so the name can be reused; refused while referenced."""
    refs = await inbound_references(repo, schema_id)
    if refs["total"]:
        parts = [f"{len(v)} {k}" for k, v in refs["references"].items() if v]
        raise ConflictError(
            f"schema {refs['name']} is still referenced by {', '.join(parts)}; remove those first",
            field="schemaId",
            references=refs["references"],
        )
    schema = await repo.get(DataSchema, schema_id)
    # soft-deleted pipelines keep a foreign key; detach them so the hard delete can proceed
    await repo.session.execute(
        update(Pipeline)
        .where(repo.tenant_filter(Pipeline), Pipeline.schema_id == schema.id)
        .values(schema_id=None)
    )
    removed = await repo.session.execute(
        delete(SchemaRow).where(repo.tenant_filter(SchemaRow), SchemaRow.schema_id == schema.id)
    )
    await repo.session.execute(
        delete(SchemaField).where(repo.tenant_filter(SchemaField), SchemaField.schema_id == schema.id)
    )
    await repo.delete(DataSchema, schema, soft=False)
    return {"id": schema.id, "deleted": True, "soft": False, "rowsRemoved": int(removed.rowcount or 0)}  # type: ignore[attr-defined]


async def preview_rows(repo: Repository, schema_id: str, limit: int = 50, offset: int = 0) -> dict[str, Any]:
    if not 1 <= limit <= 500:
        raise ValidationError("limit must be between 1 and 500", field="limit")
    if offset < 0:
        raise ValidationError("offset must be >= 0", field="offset")
    schema = await repo.get(DataSchema, schema_id)
    fields = (await schema_fields(repo, [schema.id]))[schema.id]
    stmt = (
        repo.scoped(SchemaRow)
        .where(SchemaRow.schema_id == schema.id)
        .order_by(SchemaRow.row_key)
        .offset(offset)
        .limit(limit)
    )
    rows = (await repo.session.execute(stmt)).scalars().all()
    total = await repo.count(SchemaRow, SchemaRow.schema_id == schema.id)
    return {
        "schemaId": schema.id,
        "tableName": schema.table_name,
        "columns": [f.name for f in fields],
        "rows": [dict(r.data) for r in rows],
        "total": total,
        "limit": limit,
        "offset": offset,
    }


# ---- row coercion ----------------------------------------------------------------------------

_TRUE = {"true", "t", "yes", "y", "1"}
_FALSE = {"false", "f", "no", "n", "0"}


def _to_int(value: Any) -> int:
    if isinstance(value, bool):
        raise ValueError("boolean is not an integer")
    if isinstance(value, int):
        return value
    if isinstance(value, float) and value.is_integer():
        return int(value)
    if isinstance(value, str) and re.fullmatch(r"\s*[-+]?\d+\s*", value):
        return int(value)
    raise ValueError("not an integer")


def _to_number(value: Any, scale: int | None) -> float | int:
    if isinstance(value, bool):
        raise ValueError("boolean is not a number")
    if isinstance(value, int | float):
        number: float | int = value
    elif isinstance(value, str):
        number = float(value.strip())
    else:
        raise ValueError("not a number")
    return round(number, scale) if scale is not None else number


def _to_bool(value: Any) -> bool:
    if isinstance(value, bool):
        return value
    if isinstance(value, int) and value in (0, 1):
        return bool(value)
    text = str(value).strip().lower()
    if text in _TRUE:
        return True
    if text in _FALSE:
        return False
    raise ValueError("not a boolean")


def _to_text(value: Any, length: int | None) -> str:
    if isinstance(value, dict | list):
        raise ValueError("objects and arrays need a json field")
    text = str(value).lower() if isinstance(value, bool) else str(value)
    if length is not None and len(text) > length:
        raise ValueError(f"longer than {length} characters")
    return text


def _to_date(value: Any) -> str:
    if isinstance(value, datetime):
        return value.date().isoformat()
    if isinstance(value, date):
        return value.isoformat()
    text = str(value).strip()
    return date.fromisoformat(text[:10]).isoformat()


def _to_timestamp(value: Any) -> str:
    moment = value if isinstance(value, datetime) else datetime.fromisoformat(str(value).strip())
    return moment.isoformat()


class FieldLike(Protocol):
    """What type coercion needs from a field (a ``SchemaField`` or an ad-hoc cast target)."""

    @property
    def data_type(self) -> str: ...
    @property
    def length(self) -> int | None: ...
    @property
    def scale(self) -> int | None: ...


def coerce_value(field: FieldLike, value: Any) -> Any:
    """One value to its field's type family; raises ``ValueError`` with a short reason."""
    if value is None:
        return None
    family = type_family(field.data_type)
    if family == "integer":
        return _to_int(value)
    if family == "number":
        return _to_number(value, field.scale)
    if family == "boolean":
        return _to_bool(value)
    if family == "date":
        return _to_date(value)
    if family == "timestamp":
        return _to_timestamp(value)
    if family == "json":
        return value
    return _to_text(value, field.length)


def coerce_row(fields: Sequence[SchemaField], row: Mapping[str, Any], surrogate: bool) -> dict[str, Any]:
    """Declared keys only, typed, defaults applied, NOT NULL enforced; ``ValueError`` names the field."""
    by_name = {f.name: f for f in fields}
    allowed = set(by_name) | ({SURROGATE_KEY} if surrogate else set())
    unknown = sorted(set(row) - allowed)
    if unknown:
        raise ValueError(f"unknown column(s) {', '.join(unknown)}")
    out: dict[str, Any] = {}
    for field in fields:
        raw = row.get(field.name, field.default_value if field.name not in row else None)
        try:
            value = coerce_value(field, raw)
        except (ValueError, TypeError) as exc:
            raise ValueError(f"{field.name}: {raw!r} is not a valid {field.data_type} ({exc})") from None
        if value is None and not field.is_nullable:
            raise ValueError(f"{field.name}: a value is required")
        if field.name in row or value is not None:
            out[field.name] = value
    if surrogate and row.get(SURROGATE_KEY) is not None:
        out[SURROGATE_KEY] = str(row[SURROGATE_KEY])
    return out


def row_key(schema: DataSchema, row: Mapping[str, Any]) -> str:
    """The primary key value(s) as text; composite keys are joined with ``|``."""
    keys = primary_key_fields(schema)
    if keys == [SURROGATE_KEY]:
        return str(row.get(SURROGATE_KEY) or new_id("r"))
    return KEY_SEPARATOR.join(str(row[k]) for k in keys)


async def existing_keys(repo: Repository, schema_id: str, keys: Iterable[str]) -> set[str]:
    found: set[str] = set()
    key_list = list(keys)
    for start in range(0, len(key_list), 500):
        chunk = key_list[start : start + 500]
        stmt = select(SchemaRow.row_key).where(
            repo.tenant_filter(SchemaRow), SchemaRow.schema_id == schema_id, SchemaRow.row_key.in_(chunk)
        )
        found.update((await repo.session.execute(stmt)).scalars().all())
    return found


async def _existing_unique(repo: Repository, schema_id: str, field: str, values: set[str]) -> set[str]:
    if not values:
        return set()
    expr = json_text(dialect_of(repo), SchemaRow.data, field)
    stmt = select(expr).where(
        repo.tenant_filter(SchemaRow), SchemaRow.schema_id == schema_id, expr.in_(sorted(values))
    )
    return {str(v) for v in (await repo.session.execute(stmt)).scalars().all()}


def _unique_text(value: Any) -> str | None:
    if value is None or isinstance(value, bool | dict | list):
        return None
    return str(value)


async def insert_rows(repo: Repository, schema_id: str, rows: Sequence[Mapping[str, Any]]) -> dict[str, Any]:
    """Validate every row first (all-or-nothing), then insert new keys in one statement.

    Rows whose primary key (or a unique column) already exists, in the table or earlier in
    the same batch, are skipped and counted rather than failing the batch, as documented.
    """
    if not rows:
        raise ValidationError("rows must contain at least one row", field="rows")
    if len(rows) > MAX_INSERT_ROWS:
        raise ValidationError(f"at most {MAX_INSERT_ROWS} rows per call", field="rows")
    schema = await repo.get(DataSchema, schema_id)
    fields = (await schema_fields(repo, [schema.id]))[schema.id]
    surrogate = primary_key_fields(schema) == [SURROGATE_KEY]
    typed: list[tuple[str, dict[str, Any]]] = []
    for index, raw in enumerate(rows):
        try:
            clean = coerce_row(fields, raw, surrogate)
        except ValueError as exc:
            raise ValidationError(f"rows[{index}]: {exc}", field=f"rows[{index}]") from None
        typed.append((row_key(schema, clean), clean))
    taken = await existing_keys(repo, schema.id, {k for k, _ in typed})
    unique_fields = [
        f.name for f in fields if f.is_unique and type_family(f.data_type) not in ("boolean", "json")
    ]
    taken_unique = {
        name: await _existing_unique(
            repo, schema.id, name, {t for _, r in typed if (t := _unique_text(r.get(name))) is not None}
        )
        for name in unique_fields
    }
    fresh: list[dict[str, Any]] = []
    skipped: list[dict[str, Any]] = []
    now = utcnow()
    for index, (key, data) in enumerate(typed):
        clash = _collision(key, data, taken, taken_unique)
        if clash:
            skipped.append({"index": index, "key": key, "reason": clash})
            continue
        taken.add(key)
        for name in unique_fields:
            if (text := _unique_text(data.get(name))) is not None:
                taken_unique[name].add(text)
        fresh.append(_row_values(repo, schema.id, key, data, now))
    if fresh:
        await repo.session.execute(insert(SchemaRow), fresh)
    await repo.audit.record(
        "insert_rows",
        DataSchema.__entity__,
        schema.id,
        schema.name,
        changes={"inserted": len(fresh), "skipped": len(skipped)},
    )
    return {
        "schemaId": schema.id,
        "inserted": len(fresh),
        "skipped": len(skipped),
        "skippedRows": skipped[:50],
    }


def _collision(
    key: str, data: Mapping[str, Any], taken: set[str], unique: Mapping[str, set[str]]
) -> str | None:
    if key in taken:
        return f"primary key {key!r} already exists"
    for name, values in unique.items():
        text = _unique_text(data.get(name))
        if text is not None and text in values:
            return f"unique column {name} value {text!r} already exists"
    return None


def _row_values(
    repo: Repository, schema_id: str, key: str, data: dict[str, Any], now: datetime
) -> dict[str, Any]:
    return {
        "id": new_id(SchemaRow.__prefix__),
        "tenant_id": repo.ctx.tenant_id,
        "schema_id": schema_id,
        "row_key": key,
        "data": data,
        "created_at": now,
        "updated_at": now,
    }


async def upsert_rows(
    repo: Repository, schema: DataSchema, rows: Sequence[tuple[str, dict[str, Any]]]
) -> int:
    """Insert new keys and replace the data of existing ones (pipeline targets); returns rows written."""
    if not rows:
        return 0
    latest = dict(rows)  # later rows with the same key win, as in a sequential upsert
    existing = await existing_keys(repo, schema.id, latest)
    now = utcnow()
    new = [_row_values(repo, schema.id, k, d, now) for k, d in latest.items() if k not in existing]
    if new:
        await repo.session.execute(insert(SchemaRow), new)
    for key in existing:
        await repo.session.execute(
            update(SchemaRow)
            .where(repo.tenant_filter(SchemaRow), SchemaRow.schema_id == schema.id, SchemaRow.row_key == key)
            .values(data=latest[key], updated_at=now)
        )
    return len(latest)


async def schema_stats(repo: Repository, schema_id: str) -> dict[str, Any]:
    """Per-field count / nulls / distinct / min / max / avg, computed by the database in one scan."""
    schema = await repo.get(DataSchema, schema_id)
    fields = (await schema_fields(repo, [schema.id]))[schema.id]
    dialect = dialect_of(repo)
    columns: list[ColumnElement[Any]] = [func.count().label("n")]
    for i, field in enumerate(fields):
        text = json_text(dialect, SchemaRow.data, field.name)
        columns += [func.count(text).label(f"c{i}"), func.count(text.distinct()).label(f"d{i}")]
        if type_family(field.data_type) in ("integer", "number"):
            num = json_number(dialect, SchemaRow.data, field.name)
            columns += [
                func.min(num).label(f"lo{i}"),
                func.max(num).label(f"hi{i}"),
                func.avg(num).label(f"av{i}"),
            ]
        elif type_family(field.data_type) in ("text", "date", "timestamp"):
            columns += [func.min(text).label(f"lo{i}"), func.max(text).label(f"hi{i}")]
    stmt = select(*columns).where(repo.tenant_filter(SchemaRow), SchemaRow.schema_id == schema.id)
    result = dict((await repo.session.execute(stmt)).mappings().one())
    total = int(result["n"])
    return {
        "schemaId": schema.id,
        "rowCount": total,
        "fields": [_field_stats(i, f, result, total) for i, f in enumerate(fields)],
        "computedAt": utcnow().isoformat().replace("+00:00", "Z"),
    }


def _field_stats(i: int, field: SchemaField, result: Mapping[str, Any], total: int) -> dict[str, Any]:
    non_null = int(result[f"c{i}"])
    family = type_family(field.data_type)
    numeric = family in ("integer", "number")
    avg = result.get(f"av{i}")
    return {
        "name": field.name,
        "dataType": field.data_type,
        "nonNull": non_null,
        "nulls": total - non_null,
        "distinct": int(result[f"d{i}"]),
        "min": _num(result.get(f"lo{i}")) if numeric else result.get(f"lo{i}"),
        "max": _num(result.get(f"hi{i}")) if numeric else result.get(f"hi{i}"),
        "avg": None if avg is None else round(float(avg), 6),
    }


def _num(value: Any) -> float | int | None:
    if value is None:
        return None
    number = float(value)
    return int(number) if number.is_integer() else number


# ---------------------------------------------------------------------------------------------
# Connectors
# ---------------------------------------------------------------------------------------------

TCP_PORTS: Final[Mapping[str, int]] = {
    "postgresql": 5432,
    "postgres": 5432,
    "redshift": 5439,
    "mysql": 3306,
    "mariadb": 3306,
    "mssql": 1433,
    "redis": 6379,
    "mongodb": 27017,
    "kafka": 9092,
    "confluent": 9092,
    "sftp": 22,
    "clickhouse": 9000,
}
HTTP_TYPES: Final = frozenset({"rest_api", "webhook", "http", "graphql", "yaml_http"})
SECRET_KEYS: Final = frozenset(
    {
        "password",
        "secret",
        "token",
        "apikey",
        "api_key",
        "accesskey",
        "secretaccesskey",
        "privatekey",
        "clientsecret",
        "accesstoken",
        "refreshtoken",
    }
)
CONNECTOR_TYPE = re.compile(r"^[a-z][a-z0-9_]{1,63}$")
PROBE_TIMEOUT: Final = 3.0


def split_secrets(config: Mapping[str, Any]) -> tuple[dict[str, Any], dict[str, Any]]:
    """Move credential-looking keys out of plain config so they are encrypted, never echoed."""
    plain: dict[str, Any] = {}
    secrets: dict[str, Any] = {}
    for key, value in config.items():
        (secrets if key.replace("-", "").lower() in SECRET_KEYS else plain)[key] = value
    return plain, secrets


def connector_out(row: Connector) -> dict[str, Any]:
    data = row.to_dict()
    data.pop("tenantId", None)
    data.pop("deletedAt", None)
    data["hasCredentials"] = bool(row.auth_config_encrypted)
    return data


async def list_connectors(repo: Repository, limit: int = 20, cursor: str | None = None) -> dict[str, Any]:
    page = await repo.page(Connector, limit=limit, cursor=cursor)
    return page.to_dict([connector_out(c) for c in page.items])


def _encrypt(repo: Repository, auth: Mapping[str, Any]) -> str | None:
    if not auth:
        return None
    if repo.box is None:
        raise KaireonError("no encryption key is configured; cannot store connector credentials")
    return repo.box.encrypt_json(dict(auth))


async def create_connector(
    repo: Repository,
    *,
    name: str,
    type: str,
    description: str = "",
    config: Mapping[str, Any] | None = None,
    auth_method: str = "access_key",
    auth_config: Mapping[str, Any] | None = None,
    spec: Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    if not CONNECTOR_TYPE.match(type):
        raise ValidationError(
            "type must be a lower-case identifier such as postgresql or rest_api", field="type"
        )
    if await repo.find(Connector, name=name) is not None:
        raise ConflictError(f"a connector named {name!r} already exists", field="name")
    plain, secrets = split_secrets(config or {})
    row = await repo.create(
        Connector,
        {
            "name": name,
            "type": type,
            "description": description,
            "config": plain,
            "auth_method": auth_method,
            "auth_config_encrypted": _encrypt(repo, {**secrets, **(auth_config or {})}),
            "spec": dict(spec or {}),
        },
    )
    return connector_out(row)


async def update_connector(repo: Repository, connector_id: str, changes: Mapping[str, Any]) -> dict[str, Any]:
    """Replace the given fields; a new ``authConfig`` replaces the stored credentials entirely."""
    row = await repo.get(Connector, connector_id)
    values: dict[str, Any] = {}
    if "name" in changes and changes["name"] != row.name:
        if await repo.find(Connector, name=changes["name"]) is not None:
            raise ConflictError(f"a connector named {changes['name']!r} already exists", field="name")
        values["name"] = changes["name"]
    if "type" in changes:
        if not CONNECTOR_TYPE.match(str(changes["type"])):
            raise ValidationError("type must be a lower-case identifier", field="type")
        values["type"] = changes["type"]
    for key, column in (("description", "description"), ("authMethod", "auth_method"), ("status", "status")):
        if key in changes:
            values[column] = changes[key]
    secrets: dict[str, Any] = {}
    if "config" in changes:
        values["config"], secrets = split_secrets(changes["config"] or {})
    if "authConfig" in changes or secrets:
        values["auth_config_encrypted"] = _encrypt(repo, {**secrets, **(changes.get("authConfig") or {})})
    if not values:
        raise ValidationError("nothing to update", field="connectorId")
    return connector_out(await repo.update(Connector, row, values))


def _allowed_address(ip: ipaddress.IPv4Address | ipaddress.IPv6Address, allow_public: bool) -> bool:
    if ip.is_loopback:
        return True
    if ip.is_link_local or ip.is_multicast or ip.is_unspecified or ip.is_reserved:
        return False  # cloud metadata endpoints live on link-local addresses
    return ip.is_private or allow_public


async def resolve_probe_target(host: str, port: int, allow_public: bool) -> str:
    """Resolve ``host`` and refuse anything but loopback/private addresses unless allowed."""
    loop = asyncio.get_running_loop()
    try:
        infos = await asyncio.wait_for(
            loop.getaddrinfo(host, port, type=socket.SOCK_STREAM), timeout=PROBE_TIMEOUT
        )
    except (OSError, TimeoutError) as exc:
        raise ProbeBlocked(f"cannot resolve {host}: {exc.__class__.__name__}", status="failed") from exc
    addresses = [ipaddress.ip_address(info[4][0]) for info in infos]
    if not addresses or not all(_allowed_address(a, allow_public) for a in addresses):
        raise ProbeBlocked(
            f"{host} resolves to a public or reserved address; probes only reach loopback/private "
            "networks unless KAIREON_PROBE_PUBLIC=true"
        )
    return str(addresses[0])


def probe_result(
    status: str, target: str | None, message: str, latency: float | None = None
) -> dict[str, Any]:
    """The one shape every probe answers with (ok | failed | blocked | skipped)."""
    return {"status": status, "target": target, "latencyMs": latency, "message": message}


class ProbeBlocked(Exception):
    def __init__(self, message: str, status: str = "blocked") -> None:
        super().__init__(message)
        self.status = status


async def probe_tcp(host: str, port: int, allow_public: bool = False) -> dict[str, Any]:
    target = f"{host}:{port}"
    try:
        ip = await resolve_probe_target(host, port, allow_public)
    except ProbeBlocked as exc:
        return probe_result(exc.status, target, str(exc))
    start = time.perf_counter()
    try:
        _, writer = await asyncio.wait_for(asyncio.open_connection(ip, port), timeout=PROBE_TIMEOUT)
    except (OSError, TimeoutError) as exc:
        return probe_result("failed", target, f"TCP connect failed: {exc.__class__.__name__} {exc}".strip())
    latency = round((time.perf_counter() - start) * 1000, 2)
    writer.close()
    try:
        await writer.wait_closed()
    except OSError:
        pass
    return probe_result("ok", target, "TCP port reachable", latency)


async def http_request(
    method: str,
    url: str,
    allow_public: bool = False,
    params: Mapping[str, Any] | None = None,
    headers: Mapping[str, str] | None = None,
) -> tuple[dict[str, Any], httpx.Response | None]:
    """One bounded HTTP call after the address check; never raises for network trouble."""
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        return probe_result("failed", url, "url must be http(s)://host/..."), None
    port = parts.port or (443 if parts.scheme == "https" else 80)
    try:
        await resolve_probe_target(parts.hostname, port, allow_public)
    except ProbeBlocked as exc:
        return probe_result(exc.status, url, str(exc)), None
    start = time.perf_counter()
    try:
        async with httpx.AsyncClient(timeout=PROBE_TIMEOUT, follow_redirects=False) as client:
            response = await client.request(
                method, url, params=dict(params or {}), headers=dict(headers or {})
            )
    except httpx.HTTPError as exc:
        return probe_result("failed", url, exc.__class__.__name__), None
    latency = round((time.perf_counter() - start) * 1000, 2)
    status = "ok" if response.status_code < 500 else "failed"
    outcome = probe_result(status, url, f"HTTP {response.status_code}", latency)
    return outcome, response


def connector_url(row: Connector) -> str | None:
    config = row.config or {}
    for key in ("url", "baseUrl", "endpoint", "webhookUrl"):
        if isinstance(config.get(key), str):
            return str(config[key])
    base = (row.spec or {}).get("baseUrl")
    return str(base) if isinstance(base, str) else None


async def probe_connector(row: Connector, allow_public: bool = False) -> dict[str, Any]:
    """TCP connect for database/queue types, HTTP HEAD for REST/webhook, else an honest skip."""
    config = row.config or {}
    if row.type in TCP_PORTS or ("host" in config and row.type not in HTTP_TYPES):
        host = config.get("host")
        if not isinstance(host, str) or not host:
            return probe_result("failed", None, "config.host is required")
        try:
            port = int(config.get("port") or TCP_PORTS.get(row.type, 0))
        except (TypeError, ValueError):
            port = 0
        if not 0 < port < 65536:
            return probe_result("failed", host, "config.port is required")
        return await probe_tcp(host, port, allow_public)
    if row.type in HTTP_TYPES:
        url = connector_url(row)
        if url is None:
            return probe_result("failed", None, "config.url is required")
        outcome, _ = await http_request("HEAD", url, allow_public)
        return outcome
    return probe_result(
        "skipped", None, f"no network probe exists for {row.type} connectors here; configuration stored"
    )


async def test_connector(repo: Repository, connector_id: str, allow_public: bool = False) -> dict[str, Any]:
    """Probe, then record ``lastTestStatus``/latency on the connector (the tool's side effect)."""
    row = await repo.get(Connector, connector_id)
    outcome = await probe_connector(row, allow_public)
    await repo.update(
        Connector,
        row,
        {
            "last_test_status": outcome["status"],
            "last_test_at": utcnow(),
            "last_test_latency_ms": outcome["latencyMs"],
        },
        audit_action="test",
    )
    return {"connectorId": row.id, "type": row.type, "ok": outcome["status"] == "ok", **outcome}


# ---- declarative YAML connectors -------------------------------------------------------------

YAML_MAX: Final = 64_000
HTTP_METHODS: Final = frozenset({"GET", "POST", "PUT", "PATCH", "DELETE", "HEAD"})
AUTH_TYPES: Final = frozenset({"none", "api_key", "bearer", "basic", "oauth2"})


def parse_yaml(text: str) -> Any:
    if len(text) > YAML_MAX:
        raise ValidationError(f"yaml is larger than {YAML_MAX} characters", field="yaml")
    import yaml

    try:
        return yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" at line {mark.line + 1}" if mark is not None else ""
        raise ValidationError(
            f"yaml does not parse{where}: {getattr(exc, 'problem', exc)}", field="yaml"
        ) from None


def validate_yaml_spec(doc: Any) -> list[str]:
    """All problems at once, so a model can fix the spec in one round trip."""
    if not isinstance(doc, dict):
        return ["the document must be a mapping with name, baseUrl and endpoints"]
    problems: list[str] = []
    if not isinstance(doc.get("name"), str) or not doc["name"].strip():
        problems.append("name: required string")
    base = doc.get("baseUrl")
    if (
        not isinstance(base, str)
        or urlsplit(base).scheme not in ("http", "https")
        or not urlsplit(base).hostname
    ):
        problems.append("baseUrl: required http(s) URL")
    endpoints = doc.get("endpoints")
    if not isinstance(endpoints, list) or not endpoints:
        problems.append("endpoints: required non-empty list")
        endpoints = []
    seen: set[str] = set()
    for i, ep in enumerate(endpoints):
        problems += _endpoint_problems(i, ep, seen)
    auth = doc.get("auth")
    if auth is not None and (not isinstance(auth, dict) or auth.get("type", "none") not in AUTH_TYPES):
        problems.append(f"auth.type: one of {', '.join(sorted(AUTH_TYPES))}")
    return problems


def _endpoint_problems(i: int, ep: Any, seen: set[str]) -> list[str]:
    if not isinstance(ep, dict):
        return [f"endpoints[{i}]: must be a mapping with id and path"]
    problems = []
    ep_id = ep.get("id") or ep.get("name")
    if not isinstance(ep_id, str) or not ep_id:
        problems.append(f"endpoints[{i}].id: required string")
    elif ep_id in seen:
        problems.append(f"endpoints[{i}].id: duplicate {ep_id!r}")
    else:
        seen.add(ep_id)
    if not isinstance(ep.get("path"), str) or not str(ep["path"]).startswith("/"):
        problems.append(f"endpoints[{i}].path: required, starting with /")
    if str(ep.get("method", "GET")).upper() not in HTTP_METHODS:
        problems.append(f"endpoints[{i}].method: one of {', '.join(sorted(HTTP_METHODS))}")
    return problems


async def create_yaml_connector(repo: Repository, text: str) -> dict[str, Any]:
    doc = parse_yaml(text)
    problems = validate_yaml_spec(doc)
    if problems:
        raise ValidationError(
            "invalid connector spec: " + "; ".join(problems), field="yaml", problems=problems
        )
    auth = dict(doc.get("auth") or {})
    auth_plain, auth_secrets = split_secrets(auth)
    spec = {**doc, "auth": auth_plain}
    endpoints = [
        {
            "id": ep.get("id") or ep.get("name"),
            "method": str(ep.get("method", "GET")).upper(),
            "path": ep["path"],
        }
        for ep in doc["endpoints"]
    ]
    spec["endpoints"] = [{**ep, **e} for ep, e in zip(doc["endpoints"], endpoints, strict=True)]
    connector = await create_connector(
        repo,
        name=str(doc["name"]).strip(),
        type="yaml_http",
        description=str(doc.get("description") or ""),
        config={"baseUrl": doc["baseUrl"]},
        auth_method=str(auth.get("type", "none")),
        auth_config=auth_secrets,
        spec=spec,
    )
    return {"valid": True, "connector": connector, "endpoints": endpoints}


# ---------------------------------------------------------------------------------------------
# Transform catalog and pipelines
# ---------------------------------------------------------------------------------------------

TRANSFORM_TYPES: Final[tuple[tuple[str, str, str], ...]] = (
    (
        "cast",
        "Convert field types",
        "{field, to: integer|number|string|boolean|date|timestamp} or {fields:{f:type}}",
    ),
    ("expression", "Compute a field with a formula", "{field, expression}"),
    ("rename", "Rename fields", "{from, to} or {mapping:{old:new}}"),
    ("drop", "Remove fields", "{fields:[...]}"),
    ("add_field", "Add a constant field", "{field, value}"),
    ("hash", "One-way hash fields (sha256 default)", "{fields:[...], algorithm?, salt?}"),
    ("mask_pii", "Mask or redact PII fields", "{fields:[...], strategy: mask|redact}"),
    ("map_values", "Map values through a lookup table", "{field, mapping:{from:to}, default?}"),
    ("split", "Split a text field into several", "{field, delimiter, into:[...]}"),
    ("merge", "Join several fields into one text field", "{fields:[...], into, separator?}"),
    ("filter", "Keep rows matching a condition", "{field, operator, value}"),
    ("deduplicate", "Keep the first row per key", "{keys:[...]}"),
    ("aggregate", "Group rows and aggregate", "{groupBy:[...], aggregations:[{field, fn, as}]}"),
    ("lookup_join", "Copy fields from another schema's rows", "{schemaId, key, lookupKey?, fields?}"),
    ("summarize", "One summary row over all rows", "{aggregations:[{field, fn, as}]}"),
    ("vector_embed", "Text embeddings (needs an embedding service)", "{field, into}"),
    ("geo_resolve", "Resolve addresses/IPs to geo fields (needs a geo service)", "{field}"),
    ("sentiment_score", "Sentiment of a text field (needs a model service)", "{field, into}"),
    ("language_detect", "Detect the language of a text field (needs a model service)", "{field, into}"),
)
IN_PROCESS_OPS: Final = frozenset(
    {
        "cast",
        "expression",
        "rename",
        "drop",
        "add_field",
        "hash",
        "mask_pii",
        "map_values",
        "split",
        "merge",
        "filter",
        "deduplicate",
        "aggregate",
        "lookup_join",
        "summarize",
    }
)
TRANSFORM_OPS: Final = frozenset(op for op, _, _ in TRANSFORM_TYPES)


def list_transform_types() -> dict[str, Any]:
    items = [
        {"op": op, "description": text, "config": config, "runsInProcess": op in IN_PROCESS_OPS}
        for op, text, config in TRANSFORM_TYPES
    ]
    return {"items": items, "total": len(items)}


async def list_pipelines(repo: Repository, limit: int = 20, cursor: str | None = None) -> dict[str, Any]:
    page: Page = await repo.page(Pipeline, limit=limit, cursor=cursor)
    pipes: list[Pipeline] = list(page.items)
    connectors = {
        c.id: c.name for c in await repo.all(Connector, Connector.id.in_([p.connector_id for p in pipes]))
    }
    schemas = {
        s.id: s.name for s in await repo.all(DataSchema, DataSchema.id.in_([p.schema_id for p in pipes]))
    }
    runs = await _last_runs(repo, [p.id for p in pipes])
    items = []
    for pipe in pipes:
        items.append(
            {
                "id": pipe.id,
                "name": pipe.name,
                "description": pipe.description,
                "status": pipe.status,
                "irNative": pipe.ir_native,
                "irVersion": pipe.ir_version,
                "connectorId": pipe.connector_id,
                "connectorName": connectors.get(pipe.connector_id or ""),
                "schemaId": pipe.schema_id,
                "schemaName": schemas.get(pipe.schema_id or ""),
                "lastRunStatus": pipe.last_run_status,
                "lastRunAt": runs.get(pipe.id),
                "nodeCount": len((pipe.ir or {}).get("nodes") or []),
            }
        )
    return page.to_dict(items)


async def _last_runs(repo: Repository, pipeline_ids: list[str]) -> dict[str, str]:
    if not pipeline_ids:
        return {}
    stmt = (
        select(PipelineRun.pipeline_id, func.max(PipelineRun.created_at))
        .where(repo.tenant_filter(PipelineRun), PipelineRun.pipeline_id.in_(pipeline_ids))
        .group_by(PipelineRun.pipeline_id)
    )
    out = {}
    for pid, when in (await repo.session.execute(stmt)).all():
        out[pid] = when.isoformat().replace("+00:00", "Z") if isinstance(when, datetime) else str(when)
    return out
