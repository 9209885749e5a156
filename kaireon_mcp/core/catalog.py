"""Studio catalog services (decisioning-core §2, §4, §5, §7.2-7.3, §8).

Offers, categories, channels, placements, creatives, qualification rules, contact policies,
guardrails, outcome types, triggers and journeys. Every rule that is more than a type check
lives here, so the MCP tools, the HTTP bridge and the assistant enforce exactly the same ones.

Conventions:

* functions take camelCase field mappings (the spec's wire names) and return camelCase dicts;
* every function runs inside the caller's single ``Repository`` transaction, so a multi-row
  change (channel + placements + routes, offer + its creatives) commits or rolls back whole;
* ``None`` in a *create* mapping means "use the default"; in an *update* mapping it clears a
  nullable field (and is refused for required ones);
* a foreign id that does not resolve inside the tenant is ``NOT_FOUND`` naming the argument.

Mandatory-offer approver (spec §2.3 leaves the identity store open): ``mandatoryApprovedBy``
must be the id of a live (not revoked, not expired) **admin API key of the tenant**, or the
acting admin's own user id / API key id. There is no separate user table, so API keys are the
tenant's durable admin identities.
"""

from __future__ import annotations

import re
from collections import OrderedDict
from collections.abc import Awaitable, Callable, Hashable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Final, TypeVar

from sqlalchemy import Integer, Select, and_, bindparam, func, or_, select
from sqlalchemy.sql.elements import ColumnElement

from kaireon_mcp.core.contact_policy import RULE_TYPES as POLICY_RULE_TYPES
from kaireon_mcp.core.decisioning.flows import create_flow, publish_flow
from kaireon_mcp.core.flow_schema import BASE_FLOW_KEY, BASE_FLOW_NAME, base_flow_nodes
from kaireon_mcp.core.operators import PRESENCE_OPERATORS, normalize_operator
from kaireon_mcp.core.qualification import (
    DEFAULT_STAGE_BY_TYPE,
    LEGACY_STAGES,
    STAGES,
    resolve_stage,
)
from kaireon_mcp.core.qualification import RULE_TYPES as QUALIFICATION_RULE_TYPES
from kaireon_mcp.core.qualification import SCOPES as QUALIFICATION_SCOPES
from kaireon_mcp.errors import ConflictError, KaireonError, NotFoundError, ValidationError
from kaireon_mcp.storage.crypto import masked
from kaireon_mcp.storage.repository import MAX_PAGE, Page, Repository, decode_cursor, encode_cursor
from kaireon_mcp.storage.seed import SYSTEM_OUTCOMES
from kaireon_mcp.storage.tables import (
    ApiKey,
    Base,
    Category,
    Channel,
    ContactPolicy,
    ContentItem,
    Creative,
    DecisionFlow,
    DecisionFlowNode,
    DecisionFlowVersion,
    FlowRoute,
    Guardrail,
    Journey,
    Offer,
    OutcomeType,
    Placement,
    QualificationRule,
    SubCategory,
    TriggerRule,
)
from kaireon_mcp.storage.types import utcnow

T = TypeVar("T", bound=Base)
Row = dict[str, Any]
Fields = Mapping[str, Any]

# ---- vocabularies ------------------------------------------------------------------------
STATUSES: Final = ("draft", "active", "paused", "archived")
CHANNEL_TYPES: Final = ("email", "push", "sms", "in_app", "web", "webhook", "whatsapp", "direct_mail")
DELIVERY_MODES: Final = ("api", "file", "integration", "manual")
IMPRESSION_MODES: Final = ("explicit", "implicit")
COUPLING_MODES: Final = ("partial", "atomic")
FILE_FORMATS: Final = ("csv", "tsv", "json", "jsonl", "parquet", "fixed_width", "pipe_delimited")
SLOT_TYPES: Final = ("banner", "card", "modal", "notification", "inline")
PLACEMENT_STATUSES: Final = ("active", "inactive")
TEMPLATE_TYPES: Final = (
    "email_html", "email_text", "push_notification", "sms_text", "in_app_banner", "in_app_modal",
    "in_app_card", "web_banner", "web_overlay", "webhook_payload", "whatsapp_template",
)  # fmt: skip
POLICY_SCOPES: Final = (
    "global", "offer", "creative", "channel", "category", "subcategory", "segment", "placement",
)  # fmt: skip
_CAP_SCOPES: Final = ("global", "offer", "creative", "channel")
#: spec §5.3 "Allowed scopes" column
POLICY_SCOPES_BY_TYPE: Final[Mapping[str, tuple[str, ...]]] = {
    "frequency_cap": POLICY_SCOPES,
    "cooldown": _CAP_SCOPES,
    "budget_exhausted": ("offer", "creative"),
    "outcome_based": ("global", "offer", "creative"),
    "segment_exclusion": ("global",),
    "time_window": ("global", "channel"),
    "mutual_exclusion": ("offer",),
    "cross_channel_cap": _CAP_SCOPES,
    "customer_total_cap": ("global",),
    "allow_override": POLICY_SCOPES,
    "category_suppression": ("category", "subcategory"),
    "do_not_contact": ("global",),
    "metric_condition": POLICY_SCOPES,
}
GUARDRAIL_SEVERITIES: Final = ("hard", "soft")
GUARDRAIL_STATUSES: Final = ("active", "paused", "draft", "archived")
OUTCOME_CLASSIFICATIONS: Final = ("positive", "negative", "neutral")
OUTCOME_CATEGORIES: Final = ("impression", "response")
TRIGGER_ACTIONS: Final = ("enroll_journey", "fire_recommend", "webhook", "update_attribute")
DEDUPLICATION_MODES: Final = ("skip_if_active", "restart", "allow_multiple")
#: newer journey step vocabulary plus the older one (spec §7.2)
JOURNEY_NODE_TYPES: Final = (
    "entry_trigger", "wait", "nba_decision", "condition_split", "channel_action", "exit",
    "decide", "branch", "send", "update",
)  # fmt: skip
MAX_NAME: Final = 255
MAX_PERSONALIZATION: Final = 500
MAX_LISTED_CHILDREN: Final = 10
_KEY_RE: Final = re.compile(r"^[a-z0-9_]+$")
_OUTCOME_KEY_RE: Final = re.compile(r"^[a-z][a-z0-9_]{0,63}$")
_GUARDRAIL_KEY_RE: Final = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,127}$")


# ---- small validators -------------------------------------------------------------------
def slug(text: str) -> str:
    """Placement keys: lowercase words joined by underscores (``Hero Banner`` → ``hero_banner``)."""
    return re.sub(r"[^a-z0-9]+", "_", text.lower()).strip("_")


def _column(key: str) -> str:
    column = re.sub(r"(?<!^)([A-Z])", r"_\1", key).lower()
    return "metadata_" if column == "metadata" else column


def _known(fields: Fields, allowed: Iterable[str], where: str = "") -> None:
    allowed_set = set(allowed)
    for key in fields:
        if key not in allowed_set:
            name = f"{where}.{key}" if where else key
            raise ValidationError(f"unknown field {name!r}", field=name)


def _create_data(fields: Fields, defaults: Fields, allowed: Iterable[str]) -> dict[str, Any]:
    """Defaults overlaid with the given fields; ``None`` means "not given" on create."""
    _known(fields, allowed)
    return {**defaults, **{k: v for k, v in fields.items() if v is not None}}


def _text(value: Any, field: str, *, max_len: int = MAX_NAME) -> str:
    if not isinstance(value, str) or not value.strip():
        raise ValidationError(f"{field} is required (1-{max_len} characters)", field=field)
    value = value.strip()
    if len(value) > max_len:
        raise ValidationError(f"{field} must be at most {max_len} characters", field=field)
    return value


def _plain(value: Any, field: str, *, max_len: int | None = None) -> str:
    """Optional free text: ``None`` becomes ``""``."""
    if value is None:
        return ""
    if not isinstance(value, str):
        raise ValidationError(f"{field} must be a string", field=field)
    if max_len is not None and len(value) > max_len:
        raise ValidationError(f"{field} must be at most {max_len} characters", field=field)
    return value


def _optional_str(value: Any, field: str) -> str | None:
    if value is None or value == "":
        return None
    if not isinstance(value, str):
        raise ValidationError(f"{field} must be a string", field=field)
    return value


def _choice(value: Any, options: Sequence[str], field: str) -> str:
    if value not in options:
        raise ValidationError(f"{field} must be one of {', '.join(options)}; got {value!r}", field=field)
    return str(value)


def _int(value: Any, field: str, low: int | None = None, high: int | None = None) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise ValidationError(f"{field} must be an integer", field=field)
    if (low is not None and value < low) or (high is not None and value > high):
        bounds = f"between {low} and {high}" if high is not None else f"at least {low}"
        raise ValidationError(f"{field} must be {bounds}; got {value}", field=field)
    return value


def _number(value: Any, field: str, low: float | None = None, high: float | None = None) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise ValidationError(f"{field} must be a number", field=field)
    if (low is not None and value < low) or (high is not None and value > high):
        raise ValidationError(f"{field} must be between {low} and {high}; got {value}", field=field)
    return float(value)


def _optional_number(value: Any, field: str) -> float | None:
    return None if value is None else _number(value, field)


def _positive(value: Any, field: str) -> float:
    number = _number(value, field)
    if number <= 0:
        raise ValidationError(f"{field} must be greater than 0", field=field)
    return number


def _object(value: Any, field: str) -> dict[str, Any]:
    if value is None:
        return {}
    if not isinstance(value, Mapping):
        raise ValidationError(f"{field} must be an object", field=field)
    return dict(value)


def _list(value: Any, field: str) -> list[Any]:
    if value is None:
        return []
    if not isinstance(value, list):
        raise ValidationError(f"{field} must be an array", field=field)
    return list(value)


def _str_list(value: Any, field: str, *, non_empty: bool = False) -> list[str]:
    items = _list(value, field)
    if non_empty and not items:
        raise ValidationError(f"{field} must list at least one value", field=field)
    for item in items:
        if not isinstance(item, str) or not item:
            raise ValidationError(f"{field} must contain non-empty strings", field=field)
    return items


def _bool(value: Any, field: str) -> bool:
    if not isinstance(value, bool):
        raise ValidationError(f"{field} must be true or false", field=field)
    return value


def _timestamp(value: Any, field: str) -> datetime:
    if isinstance(value, str):
        try:
            value = datetime.fromisoformat(value.replace("Z", "+00:00"))
        except ValueError as exc:
            raise ValidationError(f"{field} must be an ISO-8601 date-time", field=field) from exc
    if not isinstance(value, datetime):
        raise ValidationError(f"{field} must be an ISO-8601 date-time", field=field)
    return value if value.tzinfo else value.replace(tzinfo=UTC)


def _label(model: type[Base]) -> str:
    return model.__entity__.replace("_", " ")


# ---- lookups ----------------------------------------------------------------------------
async def _must_exist(repo: Repository, model: type[T], row_id: Any, field: str) -> T:
    """The tenant's live row, else NOT_FOUND naming the argument that pointed at it."""
    if not isinstance(row_id, str) or not row_id:
        raise ValidationError(f"{field} is required", field=field)
    row = await repo.find(model, id=row_id)
    if row is None:
        raise NotFoundError(f"{_label(model)} {row_id!r} not found", field=field)
    return row


async def _ensure_unique(
    repo: Repository,
    model: type[Base],
    column: str,
    value: Any,
    *,
    field: str,
    own_id: str | None = None,
    include_deleted: bool = True,
    **within: Any,
) -> None:
    """CONFLICT when another row already holds ``value``.

    Deleted rows count where the table's unique constraint covers them, so the caller gets
    a clear message instead of a database integrity error.
    """
    stmt = repo.scoped(model, include_deleted=include_deleted).where(getattr(model, column) == value)
    for key, equal in within.items():
        stmt = stmt.where(getattr(model, key) == equal)
    if own_id is not None:
        stmt = stmt.where(model.id != own_id)  # type: ignore[attr-defined]
    clash = (await repo.session.execute(stmt.limit(1))).scalar_one_or_none()
    if clash is None:
        return
    gone = " (a deleted one still holds it)" if getattr(clash, "deleted_at", None) else ""
    raise ConflictError(f"a {_label(model)} with {field} {value!r} already exists{gone}", field=field)


async def _names(repo: Repository, model: type[Base], ids: Iterable[str | None]) -> dict[str, str]:
    wanted = {i for i in ids if i}
    if not wanted:
        return {}
    stmt = select(model.id, model.name).where(  # type: ignore[attr-defined]
        repo.tenant_filter(model),
        model.id.in_(wanted),  # type: ignore[attr-defined]
    )
    return {str(rid): str(name) for rid, name in (await repo.session.execute(stmt)).all()}


async def _live_counts(
    repo: Repository, model: type[Base], column: str, ids: Iterable[str]
) -> dict[str, int]:
    wanted = list(ids)
    if not wanted:
        return {}
    key = getattr(model, column)
    stmt = (
        select(key, func.count())
        .where(repo.tenant_filter(model), key.in_(wanted), model.deleted_at.is_(None))  # type: ignore[attr-defined]
        .group_by(key)
    )
    return {str(k): int(n) for k, n in (await repo.session.execute(stmt)).all()}


# ---- paging -----------------------------------------------------------------------------
Render = Callable[[list[Any]], Awaitable[list[Row]]]
#: per-row scalar columns a list page adds to each item (wire name -> correlated expression)
Extra = Mapping[str, Any]


async def _plain_rows(rows: list[Any]) -> list[Row]:
    return [row.to_dict() for row in rows]


def _name_of(repo: Repository, model: type[Base], foreign_key: Any) -> Any:
    """The referenced row's name as a per-row scalar (NULL when it does not resolve)."""
    return (
        select(model.name)  # type: ignore[attr-defined]
        .where(repo.tenant_filter(model), model.id == foreign_key)  # type: ignore[attr-defined]
        .scalar_subquery()
    )


def _live_count_of(repo: Repository, model: type[Base], column: str, owner_id: Any) -> Any:
    """How many live (not soft-deleted) ``model`` rows point at the owner, as a per-row scalar."""
    return (
        select(func.count())
        .select_from(model)
        .where(
            repo.tenant_filter(model),
            getattr(model, column) == owner_id,
            model.deleted_at.is_(None),  # type: ignore[attr-defined]
        )
        .scalar_subquery()
    )


@dataclass(frozen=True)
class _PageQuery:
    """What a list page reads: rows of ``model`` matching ``where`` in ``order``, each with its
    ``extra`` scalars and, optionally, its live ``child`` rows (model, foreign key, child order)."""

    model: type[Base]
    where: Sequence[ColumnElement[bool]] = ()
    order: Sequence[Any] | None = None
    include_deleted: bool = False
    extra: Extra | None = None
    child: tuple[type[Base], str, Sequence[Any]] | None = None


@dataclass
class _FetchedPage:
    rows: list[Any]
    #: per row id: the ``extra`` values in declaration order
    extras: dict[str, tuple[Any, ...]]
    #: per row id: live child rows (the ``child`` join), in the child order
    children: dict[str, list[Any]]
    page: Page
    #: the ``extra`` field names
    names: tuple[str, ...] = ()


_PAGE_OFFSET = bindparam("page_offset", type_=Integer)
_PAGE_LIMIT = bindparam("page_limit", type_=Integer)
#: built page statements per (caller's key, tenant): building a SQLAlchemy statement with its
#: subqueries costs more than executing it on a small table, and a list tool's shape never changes
_STATEMENTS: OrderedDict[tuple[Hashable, str], tuple[Select[Any], _PageQuery]] = OrderedDict()
_STATEMENTS_MAX = 512


def _page_statement(repo: Repository, query: _PageQuery) -> Select[Any]:
    """A derived table picks the page's ids with the filtered total (a window count, so no
    separate COUNT); the rows are joined back with the ``extra`` scalars (evaluated for the
    page's rows only) and the ``child`` rows. Offset and limit are bound parameters."""
    model = query.model
    order = query.order if query.order is not None else _newest(model)
    ids = (
        repo.scoped(model, include_deleted=query.include_deleted)
        .where(*query.where)
        .with_only_columns(model.id, func.count().over().label("total"))  # type: ignore[attr-defined]
        .order_by(*order)
        .offset(_PAGE_OFFSET)
        .limit(_PAGE_LIMIT)
        .subquery("page")
    )
    extras = list((query.extra or {}).values())
    stmt = select(model, ids.c.total, *extras).join(ids, ids.c.id == model.id).order_by(*order)  # type: ignore[attr-defined]
    if query.child is not None:
        child_model, column, child_order = query.child
        stmt = stmt.add_columns(child_model).outerjoin(
            child_model,
            and_(
                getattr(child_model, column) == model.id,  # type: ignore[attr-defined]
                repo.tenant_filter(child_model),
                child_model.deleted_at.is_(None),  # type: ignore[attr-defined]
            ),
        )
        stmt = stmt.order_by(*child_order)
    return stmt


def _cached_statement(
    repo: Repository, query: Callable[[], _PageQuery], cache_key: Hashable | None
) -> tuple[Select[Any], _PageQuery]:
    if cache_key is None:
        built = query()
        return _page_statement(repo, built), built
    key = (cache_key, repo.ctx.tenant_id)
    hit = _STATEMENTS.get(key)
    if hit is not None:
        _STATEMENTS.move_to_end(key)
        return hit
    built = query()
    hit = _STATEMENTS[key] = (_page_statement(repo, built), built)
    if len(_STATEMENTS) > _STATEMENTS_MAX:
        _STATEMENTS.popitem(last=False)
    return hit


async def _fetch_page(
    repo: Repository,
    query: Callable[[], _PageQuery],
    *,
    limit: int,
    cursor: str | None,
    cache_key: Hashable | None = None,
) -> _FetchedPage:
    """One page in one statement (``_page_statement``): every statement is a round trip to the
    driver's thread (four hops on aiosqlite), which is what a small list spends its time on.
    Same rows, order, total and cursor as ``Repository.page``.

    ``cache_key`` names the statement's shape when ``query`` depends only on it and the tenant
    (no free-form filter values): the statement is then built once and reused.
    """
    if limit < 1 or limit > MAX_PAGE:
        raise ValidationError(f"limit must be between 1 and {MAX_PAGE}", field="limit")
    offset = decode_cursor(cursor)
    stmt, built = _cached_statement(repo, query, cache_key)
    records = (await repo.session.execute(stmt, {"page_offset": offset, "page_limit": limit})).all()
    width = len(built.extra or {})
    rows: list[Any] = []
    values: dict[str, tuple[Any, ...]] = {}
    children: dict[str, list[Any]] = {}
    for record in records:
        row = record[0]
        if row.id not in values:
            rows.append(row)
            values[row.id] = tuple(record[2 : 2 + width])
            children[row.id] = []
        if built.child is not None and record[-1] is not None:
            children[row.id].append(record[-1])
    if records:
        total = int(records[0][1])
    elif offset:  # past the end: the window had no row to ride on
        total = await repo.count(built.model, *built.where, include_deleted=built.include_deleted)
    else:
        total = 0
    has_more = offset + limit < total
    page = Page(rows, total, limit, encode_cursor(offset + limit) if has_more else None)
    return _FetchedPage(rows, values, children, page, tuple(built.extra or ()))


async def _cursor_page(
    repo: Repository,
    model: type[Base],
    where: Sequence[ColumnElement[bool]],
    *,
    limit: int,
    cursor: str | None,
    order: Sequence[Any] | None = None,
    include_deleted: bool = False,
    render: Render = _plain_rows,
) -> Row:
    """A cursor page of plain rows rendered by ``render``."""
    query = _PageQuery(model, where, order, include_deleted)
    fetched = await _fetch_page(repo, lambda: query, limit=limit, cursor=cursor)
    return fetched.page.to_dict(await render(fetched.rows))


async def _extra_page(
    repo: Repository,
    query: Callable[[], _PageQuery],
    *,
    limit: int,
    cursor: str | None,
    cache_key: Hashable | None = None,
) -> Row:
    """A cursor page of ``to_dict`` rows, each followed by its ``extra`` fields."""
    fetched = await _fetch_page(repo, query, limit=limit, cursor=cursor, cache_key=cache_key)
    items = []
    for row in fetched.rows:
        item = row.to_dict()
        item.update(zip(fetched.names, fetched.extras[row.id], strict=True))
        items.append(item)
    return fetched.page.to_dict(items)


async def _offset_page(
    repo: Repository,
    model: type[Base],
    where: Sequence[ColumnElement[bool]],
    *,
    limit: int,
    offset: int,
    order: Sequence[Any],
) -> Row:
    """Offset pagination (journeys, triggers): the cursor page with the offset spelled out."""
    _int(offset, "offset", 0)
    query = _PageQuery(model, where, order)
    fetched = await _fetch_page(
        repo, lambda: query, limit=limit, cursor=encode_cursor(offset) if offset else None
    )
    page = fetched.page
    return {
        "items": [row.to_dict() for row in page.items],
        "pagination": {
            "total": page.total,
            "limit": limit,
            "offset": offset,
            "hasMore": page.next_cursor is not None,
        },
    }


def _priority_order(model: Any) -> list[Any]:
    """Rules, policies and triggers: priority desc, then newest (spec §4.1, §5.1, §7.3)."""
    return [model.priority.desc(), model.created_at.desc(), model.id]


def _newest(model: Any) -> list[Any]:
    return [model.created_at.desc(), model.id]


# ---- default flow and auto-routing (§3.14, §8.8) ------------------------------------------
async def default_flow(repo: Repository) -> DecisionFlow:
    """The tenant's default decision flow, creating the published Base NBA Flow when none exists."""
    flow = await repo.find(DecisionFlow, is_default=True)
    if flow is not None:
        return flow
    existing = await repo.find(DecisionFlow, key=BASE_FLOW_KEY)
    if existing is not None:
        return await repo.update(DecisionFlow, existing, {"is_default": True})
    return await _create_base_flow(repo)


async def _free_flow_key(repo: Repository) -> str:
    """``base-nba-flow``, or a numbered variant when a deleted flow still holds the key."""
    key, suffix = BASE_FLOW_KEY, 1
    while await repo.find(DecisionFlow, include_deleted=True, key=key) is not None:
        suffix += 1
        key = f"{BASE_FLOW_KEY}-{suffix}"
    return key


async def _create_base_flow(repo: Repository) -> DecisionFlow:
    """Base NBA Flow as the engine needs it: default, published as v1 (so active and protected)."""
    flow = await create_flow(
        repo,
        {
            "key": await _free_flow_key(repo),
            "name": BASE_FLOW_NAME,
            "description": "Default next-best-action pipeline created for auto-routing.",
            "is_default": True,
        },
        base_flow_nodes(),
    )
    await publish_flow(repo, flow.id, "Created automatically as the tenant default flow")
    return await repo.get(DecisionFlow, flow.id)


async def route_to_default(repo: Repository, channel_id: str, placement_id: str | None) -> FlowRoute:
    """Upsert the (channel, placement) route; an existing (possibly manual) route is kept."""
    existing = await repo.find(FlowRoute, channel_id=channel_id, placement_id=placement_id)
    if existing is not None:
        return existing
    flow = await default_flow(repo)
    return await repo.create(
        FlowRoute,
        {"decision_flow_id": flow.id, "channel_id": channel_id, "placement_id": placement_id, "priority": 0},
    )


async def _route_out(repo: Repository, route: FlowRoute) -> Row:
    flow = await repo.find(DecisionFlow, id=route.decision_flow_id)
    data = route.to_dict()
    data["decisionFlow"] = {"id": flow.id, "name": flow.name, "key": flow.key} if flow else None
    return data


# ---- categories ---------------------------------------------------------------------------
CATEGORY_FIELDS: Final = frozenset(
    {"name", "description", "customFields", "icon", "color", "status", "ordinal"}
)
SUB_CATEGORY_FIELDS: Final = frozenset({"categoryId", "name", "description", "status", "ordinal"})
CUSTOM_FIELD_TYPES: Final = ("text", "number", "select", "boolean", "date", "computed")


def _custom_fields(value: Any) -> list[dict[str, Any]]:
    """Category custom-field schema (§2.2): unique keys, known types, options for selects."""
    items = _list(value, "customFields")
    if len(items) > MAX_PERSONALIZATION:
        raise ValidationError("customFields allows at most 500 entries", field="customFields")
    seen: set[str] = set()
    out = []
    for index, item in enumerate(items):
        where = f"customFields[{index}]"
        spec = _object(item, where)
        key = _text(spec.get("key") or spec.get("name"), f"{where}.key")
        if key in seen:
            raise ValidationError(f"custom field key {key!r} is repeated", field=f"{where}.key")
        seen.add(key)
        _choice(spec.get("type", "text"), CUSTOM_FIELD_TYPES, f"{where}.type")
        if spec.get("type") == "select":
            _str_list(spec.get("options"), f"{where}.options", non_empty=True)
        if spec.get("type") == "computed":
            _text(spec.get("formula"), f"{where}.formula", max_len=10_000)
        out.append({**spec, "key": key})
    return out


async def create_category(repo: Repository, fields: Fields) -> Row:
    data = _create_data(fields, {"description": "", "customFields": []}, CATEGORY_FIELDS)
    name = _text(data.get("name"), "name")
    await _ensure_unique(repo, Category, "name", name, field="name")
    values: dict[str, Any] = {
        "name": name,
        "description": _plain(data["description"], "description"),
        "custom_fields": _custom_fields(data["customFields"]),
    }
    if "status" in data:
        values["status"] = _choice(data["status"], STATUSES, "status")
    if "ordinal" in data:
        values["ordinal"] = _int(data["ordinal"], "ordinal", 0)
    for key in ("icon", "color"):
        if key in data:
            values[key] = _plain(data[key], key, max_len=32)
    return (await repo.create(Category, values)).to_dict()


async def create_sub_category(repo: Repository, fields: Fields) -> Row:
    data = _create_data(fields, {"description": ""}, SUB_CATEGORY_FIELDS)
    category = await _must_exist(repo, Category, data.get("categoryId"), "categoryId")
    name = _text(data.get("name"), "name")
    await _ensure_unique(repo, SubCategory, "name", name, field="name", category_id=category.id)
    values: dict[str, Any] = {
        "category_id": category.id,
        "name": name,
        "description": _plain(data["description"], "description"),
    }
    if "status" in data:
        values["status"] = _choice(data["status"], STATUSES, "status")
    if "ordinal" in data:
        values["ordinal"] = _int(data["ordinal"], "ordinal", 0)
    row = await repo.create(SubCategory, values)
    return {**row.to_dict(), "categoryName": category.name}


# ---- offers -------------------------------------------------------------------------------
OFFER_FIELDS: Final = frozenset(
    {
        "name", "status", "categoryId", "subCategoryId", "priority", "description", "shortDesc", "tags",
        "eligibility", "budget", "schedule", "productType", "margin", "revenueValue", "businessValue",
        "mandatory", "mandatoryReason", "mandatoryExpiresAt", "mandatoryApprovedBy", "metadata",
        "weight", "inventory", "frequencyCaps", "customFields", "emergencyExcluded",
    }
)  # fmt: skip
MANDATORY_FIELDS: Final = ("mandatory", "mandatoryReason", "mandatoryExpiresAt", "mandatoryApprovedBy")
_OFFER_DEFAULTS: Final[Mapping[str, Any]] = {
    "status": "draft", "priority": 50, "businessValue": 50, "weight": 100, "description": "",
    "shortDesc": "", "mandatory": False, "emergencyExcluded": False,
}  # fmt: skip
_OFFER_OBJECTS: Final = (
    "eligibility",
    "budget",
    "schedule",
    "inventory",
    "frequencyCaps",
    "customFields",
    "metadata",
)


async def _offer_hierarchy(repo: Repository, category_id: Any, sub_id: Any) -> tuple[str | None, str | None]:
    """Resolve category/sub-category; a sub-category implies (and must agree with) its category."""
    category = await _must_exist(repo, Category, category_id, "categoryId") if category_id else None
    if not sub_id:
        return (category.id if category else None), None
    sub = await _must_exist(repo, SubCategory, sub_id, "subCategoryId")
    if category is not None and sub.category_id != category.id:
        raise ValidationError(f"sub-category {sub.name!r} belongs to another category", field="subCategoryId")
    return sub.category_id, sub.id


def _schedule(value: Any) -> dict[str, Any]:
    schedule = _object(value, "schedule")
    bounds = {
        k: _timestamp(schedule[k], f"schedule.{k}") for k in ("startDate", "endDate") if schedule.get(k)
    }
    if len(bounds) == 2 and bounds["endDate"] <= bounds["startDate"]:
        raise ValidationError("schedule.endDate must be after schedule.startDate", field="schedule.endDate")
    return schedule


async def _offer_values(repo: Repository, data: Fields, own_id: str | None) -> dict[str, Any]:
    name = _text(data.get("name"), "name")
    await _ensure_unique(repo, Offer, "name", name, field="name", own_id=own_id)
    category_id, sub_id = await _offer_hierarchy(repo, data.get("categoryId"), data.get("subCategoryId"))
    values: dict[str, Any] = {
        "name": name,
        "status": _choice(data.get("status"), STATUSES, "status"),
        "category_id": category_id,
        "sub_category_id": sub_id,
        "priority": _int(data.get("priority"), "priority", 0, 100),
        "business_value": _int(data.get("businessValue"), "businessValue", 0, 100),
        "weight": _int(data.get("weight"), "weight", 0, 100),
        "description": _plain(data.get("description"), "description"),
        "short_desc": _plain(data.get("shortDesc"), "shortDesc"),
        "tags": _str_list(data.get("tags"), "tags"),
        "product_type": _optional_str(data.get("productType"), "productType"),
        "margin": _optional_number(data.get("margin"), "margin"),
        "revenue_value": _optional_number(data.get("revenueValue"), "revenueValue"),
        "emergency_excluded": _bool(data.get("emergencyExcluded"), "emergencyExcluded"),
    }
    for key in _OFFER_OBJECTS:
        values[_column(key)] = _object(data.get(key), key)
    values["schedule"] = _schedule(data.get("schedule"))
    return values


async def _admin_approver(repo: Repository, approver: Any) -> str:
    """An admin of this tenant: a live admin API key id, or the acting admin's own identity."""
    approver = _text(approver, "mandatoryApprovedBy", max_len=128)
    if approver in {repo.ctx.user_id, repo.ctx.api_key_id} and repo.ctx.role == "admin":
        return approver
    key = await repo.find(ApiKey, id=approver)
    if key is None:
        raise NotFoundError(
            f"mandatoryApprovedBy {approver!r} is not an admin API key of this tenant",
            field="mandatoryApprovedBy",
        )
    now = utcnow()
    if key.role != "admin" or key.revoked_at is not None or (key.expires_at and key.expires_at <= now):
        raise ValidationError(
            f"mandatoryApprovedBy {approver!r} must be a live admin API key (role admin, not revoked)",
            field="mandatoryApprovedBy",
        )
    return approver


_CLEARED_MANDATORY: Final[Mapping[str, Any]] = {
    "mandatory": False,
    "mandatory_reason": None,
    "mandatory_expires_at": None,
    "mandatory_approved_by": None,
}


async def _mandatory_values(
    repo: Repository, data: Fields, changes: Fields, current: Offer | None
) -> tuple[dict[str, Any], bool]:
    """Columns for the mandatory flag and whether this write is a ``mandatory_override``.

    Setting or clearing the flag is an admin decision (§3.11): it needs a reason, an
    expiry in the future and a named admin approver, and is audited on its own.
    """
    was = bool(current.mandatory) if current is not None else False
    want = _bool(data.get("mandatory", False), "mandatory")
    touched = any(key in changes for key in MANDATORY_FIELDS)
    if not want:
        if was:
            repo.ctx.require_role("admin", "clearing an offer's mandatory flag")
        return dict(_CLEARED_MANDATORY), was
    if was and not touched:
        return {}, False
    repo.ctx.require_role("admin", "making an offer mandatory")
    reason = data.get("mandatoryReason")
    if not isinstance(reason, str) or not reason.strip():
        raise ValidationError("mandatoryReason is required when mandatory is true", field="mandatoryReason")
    if data.get("mandatoryExpiresAt") is None:
        raise ValidationError(
            "mandatoryExpiresAt is required when mandatory is true", field="mandatoryExpiresAt"
        )
    expires = _timestamp(data["mandatoryExpiresAt"], "mandatoryExpiresAt")
    if expires <= utcnow():
        raise ValidationError("mandatoryExpiresAt must be in the future", field="mandatoryExpiresAt")
    return {
        "mandatory": True,
        "mandatory_reason": reason.strip(),
        "mandatory_expires_at": expires,
        "mandatory_approved_by": await _admin_approver(repo, data.get("mandatoryApprovedBy")),
    }, True


async def _audit_mandatory(repo: Repository, offer: Offer, before: Row | None) -> None:
    keys = MANDATORY_FIELDS
    after = offer.to_dict()
    await repo.audit.record(
        "mandatory_override",
        "offer",
        offer.id,
        offer.name,
        {k: before.get(k) for k in keys} if before else None,
        {k: after.get(k) for k in keys},
        offer.version,
    )


async def _offer_rows(repo: Repository, rows: list[Any]) -> list[Row]:
    """Offers with category/sub-category names and live creative counts (one query each)."""
    categories = await _names(repo, Category, (r.category_id for r in rows))
    subs = await _names(repo, SubCategory, (r.sub_category_id for r in rows))
    counts = await _live_counts(repo, Creative, "offer_id", (r.id for r in rows))
    return [
        {
            **row.to_dict(),
            "categoryName": categories.get(row.category_id),
            "subCategoryName": subs.get(row.sub_category_id),
            "creativeCount": counts.get(row.id, 0),
        }
        for row in rows
    ]


async def _offer_detail(repo: Repository, offer: Offer) -> Row:
    (data,) = await _offer_rows(repo, [offer])
    creatives = await repo.all(Creative, Creative.offer_id == offer.id, order_by=_newest(Creative))
    data["creatives"] = [
        {k: c.to_dict()[k] for k in ("id", "name", "channelId", "placementId", "status", "templateType")}
        for c in creatives
    ]
    return data


async def list_offers(
    repo: Repository,
    *,
    limit: int = 25,
    cursor: str | None = None,
    include_deleted: bool = False,
    status: str | None = None,
) -> Row:
    checked = _choice(status, STATUSES, "status") if status else None
    return await _extra_page(
        repo,
        lambda: _PageQuery(
            Offer,
            [Offer.status == checked] if checked else [],
            _newest(Offer),
            include_deleted,
            {
                "categoryName": _name_of(repo, Category, Offer.category_id),
                "subCategoryName": _name_of(repo, SubCategory, Offer.sub_category_id),
                "creativeCount": _live_count_of(repo, Creative, "offer_id", Offer.id),
            },
        ),
        limit=limit,
        cursor=cursor,
        cache_key=("offers", checked, include_deleted),
    )


async def get_offer(repo: Repository, offer_id: str) -> Row:
    return await _offer_detail(repo, await _must_exist(repo, Offer, offer_id, "offerId"))


async def create_offer(repo: Repository, fields: Fields) -> Row:
    data = _create_data(fields, _OFFER_DEFAULTS, OFFER_FIELDS)
    values = await _offer_values(repo, data, None)
    mandatory, override = await _mandatory_values(repo, data, fields, None)
    offer = await repo.create(Offer, {**values, **mandatory})
    if override:
        await _audit_mandatory(repo, offer, None)
    return await _offer_detail(repo, offer)


async def update_offer(repo: Repository, offer_id: str, changes: Fields) -> Row:
    """Partial update: the merged offer is re-validated; version bumps, before/after audited."""
    _known(changes, OFFER_FIELDS)
    offer = await _must_exist(repo, Offer, offer_id, "offerId")
    before = offer.to_dict()
    data = {**before, **changes}
    values = await _offer_values(repo, data, offer.id)
    mandatory, override = await _mandatory_values(repo, data, changes, offer)
    offer = await repo.update(Offer, offer, {**values, **mandatory})
    if override:
        await _audit_mandatory(repo, offer, before)
    return await _offer_detail(repo, offer)


# ---- channels and placements ----------------------------------------------------------------
CHANNEL_FIELDS: Final = frozenset(
    {
        "name", "channelType", "status", "description", "deliveryMode", "impressionMode", "couplingMode",
        "providerConfig", "fileConfig", "placements",
    }
)  # fmt: skip
_CHANNEL_DEFAULTS: Final[Mapping[str, Any]] = {
    "channelType": "email", "status": "draft", "description": "", "deliveryMode": "api",
    "impressionMode": "explicit", "couplingMode": "partial", "fileConfig": {},
}  # fmt: skip
PLACEMENT_FIELDS: Final = frozenset(
    {"name", "key", "description", "slotType", "maxSlots", "schema", "targeting", "status"}
)
_PLACEMENT_DEFAULTS: Final[Mapping[str, Any]] = {
    "description": "", "slotType": "banner", "maxSlots": 1, "schema": {}, "targeting": {}, "status": "active",
}  # fmt: skip


def _file_config(value: Any) -> dict[str, Any]:
    config = _object(value, "fileConfig")
    if "format" in config:
        _choice(config["format"], FILE_FORMATS, "fileConfig.format")
    if "columns" in config:
        _str_list(config["columns"], "fileConfig.columns")
    return config


async def _channel_values(repo: Repository, data: Fields, own_id: str | None) -> dict[str, Any]:
    name = _text(data.get("name"), "name")
    await _ensure_unique(repo, Channel, "name", name, field="name", own_id=own_id)
    return {
        "name": name,
        "channel_type": _choice(data.get("channelType"), CHANNEL_TYPES, "channelType"),
        "status": _choice(data.get("status"), STATUSES, "status"),
        "description": _plain(data.get("description"), "description"),
        "delivery_mode": _choice(data.get("deliveryMode"), DELIVERY_MODES, "deliveryMode"),
        "impression_mode": _choice(data.get("impressionMode"), IMPRESSION_MODES, "impressionMode"),
        "coupling_mode": _choice(data.get("couplingMode"), COUPLING_MODES, "couplingMode"),
        "file_config": _file_config(data.get("fileConfig")),
    }


def _provider_columns(repo: Repository, value: Any) -> dict[str, Any]:
    """Credentials go only into the encrypted column; ``provider`` is kept as a plain label."""
    config = _object(value, "providerConfig")
    if not config:
        return {"provider_config_encrypted": None, "provider_name": None}
    provider = config.get("provider")
    if provider is not None and not isinstance(provider, str):
        raise ValidationError("providerConfig.provider must be a string", field="providerConfig.provider")
    if repo.box is None:
        raise KaireonError("no secret key is configured, so provider credentials cannot be stored")
    return {"provider_config_encrypted": repo.box.encrypt_json(config), "provider_name": provider}


def _provider_view(repo: Repository, channel: Channel) -> dict[str, Any]:
    """What reads show: key names with masked values, never the secrets themselves."""
    token = channel.provider_config_encrypted
    if not token:
        return {}
    try:
        return masked(repo.box.decrypt_json(token)) if repo.box else {"provider": channel.provider_name}
    except KaireonError:
        return {"provider": channel.provider_name}


def _placement_values(spec: Fields, where: str = "") -> dict[str, Any]:
    """Validated placement columns; ``key`` defaults to the slug of the name."""
    prefix = f"{where}." if where else ""
    name = _text(spec.get("name"), f"{prefix}name")
    key = spec.get("key") or slug(name)
    if not isinstance(key, str) or not _KEY_RE.match(key) or len(key) > MAX_NAME:
        raise ValidationError(
            f"{prefix}key must be lowercase letters, digits and underscores; got {key!r}",
            field=f"{prefix}key",
        )
    return {
        "name": name,
        "key": key,
        "description": _plain(spec.get("description"), f"{prefix}description"),
        "slot_type": _choice(spec.get("slotType"), SLOT_TYPES, f"{prefix}slotType"),
        "max_slots": _int(spec.get("maxSlots"), f"{prefix}maxSlots", 1, 100),
        "schema": _object(spec.get("schema"), f"{prefix}schema"),
        "targeting": _object(spec.get("targeting"), f"{prefix}targeting"),
        "status": _choice(spec.get("status"), PLACEMENT_STATUSES, f"{prefix}status"),
    }


def _placement_specs(value: Any) -> list[dict[str, Any]]:
    """Inline placements, validated up front so a bad one leaves nothing behind."""
    specs = []
    keys: set[str] = set()
    for index, item in enumerate(_list(value, "placements")):
        where = f"placements[{index}]"
        raw = _object(item, where)
        _known(raw, PLACEMENT_FIELDS, where)
        spec = _placement_values(
            {**_PLACEMENT_DEFAULTS, **{k: v for k, v in raw.items() if v is not None}}, where
        )
        if spec["key"] in keys:
            raise ConflictError(f"placement key {spec['key']!r} is repeated", field=f"{where}.key")
        keys.add(spec["key"])
        specs.append(spec)
    return specs


async def _add_placement(repo: Repository, channel: Channel, values: dict[str, Any]) -> Placement:
    await _ensure_unique(repo, Placement, "key", values["key"], field="key", channel_id=channel.id)
    placement = await repo.create(Placement, {**values, "channel_id": channel.id})
    await route_to_default(repo, channel.id, placement.id)
    return placement


async def _upsert_placement(repo: Repository, channel: Channel, values: dict[str, Any]) -> None:
    existing = await repo.find(Placement, channel_id=channel.id, key=values["key"])
    if existing is None:
        await _add_placement(repo, channel, values)
    else:
        await repo.update(Placement, existing, values)


async def _channel_rows(repo: Repository, rows: list[Any]) -> list[Row]:
    """Channels with masked provider config, embedded placements and live creative counts."""
    ids = [row.id for row in rows]
    placements = await repo.all(Placement, Placement.channel_id.in_(ids), order_by=[Placement.created_at])
    counts = await _live_counts(repo, Creative, "channel_id", ids)
    by_channel: dict[str, list[Row]] = {}
    for placement in placements:
        by_channel.setdefault(placement.channel_id, []).append(placement.to_dict())
    return [
        {
            **row.to_dict(),
            "providerConfig": _provider_view(repo, row),
            "placements": by_channel.get(row.id, []),
            "creativeCount": counts.get(row.id, 0),
        }
        for row in rows
    ]


async def _channel_detail(repo: Repository, channel: Channel, *, with_routes: bool = False) -> Row:
    (data,) = await _channel_rows(repo, [channel])
    if with_routes:
        routes = await repo.all(
            FlowRoute, FlowRoute.channel_id == channel.id, order_by=[FlowRoute.created_at]
        )
        data["routes"] = [await _route_out(repo, route) for route in routes]
    return data


async def list_channels(repo: Repository, *, limit: int = 25, cursor: str | None = None) -> Row:
    """The page, its placements and creative counts in one statement (see ``_fetch_page``)."""
    fetched = await _fetch_page(
        repo,
        lambda: _PageQuery(
            Channel,
            order=_newest(Channel),
            extra={"creativeCount": _live_count_of(repo, Creative, "channel_id", Channel.id)},
            child=(Placement, "channel_id", [Placement.created_at]),
        ),
        limit=limit,
        cursor=cursor,
        cache_key="channels",
    )
    items = [
        {
            **row.to_dict(),
            "providerConfig": _provider_view(repo, row),
            "placements": [placement.to_dict() for placement in fetched.children[row.id]],
            "creativeCount": fetched.extras[row.id][0],
        }
        for row in fetched.rows
    ]
    return fetched.page.to_dict(items)


async def create_channel(repo: Repository, fields: Fields) -> Row:
    """Channel, inline placements and their routes to the default flow, all in one transaction."""
    data = _create_data(fields, _CHANNEL_DEFAULTS, CHANNEL_FIELDS)
    values = await _channel_values(repo, data, None)
    values.update(_provider_columns(repo, data.get("providerConfig")))
    specs = _placement_specs(data.get("placements"))
    channel = await repo.create(Channel, values)
    await route_to_default(repo, channel.id, None)
    for spec in specs:
        await _add_placement(repo, channel, spec)
    return await _channel_detail(repo, channel, with_routes=True)


async def update_channel(repo: Repository, channel_id: str, changes: Fields) -> Row:
    """Partial update; ``providerConfig`` replaces the stored credentials, ``placements`` upsert by key."""
    _known(changes, CHANNEL_FIELDS)
    channel = await _must_exist(repo, Channel, channel_id, "channelId")
    data = {**channel.to_dict(), **changes}
    values = await _channel_values(repo, data, channel.id)
    if "providerConfig" in changes:
        old = _provider_view(repo, channel)
        values.update(_provider_columns(repo, changes["providerConfig"]))
    specs = _placement_specs(changes.get("placements"))
    channel = await repo.update(Channel, channel, values)
    if "providerConfig" in changes:
        new = _provider_view(repo, channel)
        await repo.audit.record(
            "provider_config_update",
            "channel",
            channel.id,
            channel.name,
            changes={"providerConfig": {"from": old, "to": new}},
            entity_version=channel.version,
        )
    for spec in specs:
        await _upsert_placement(repo, channel, spec)
    return await _channel_detail(repo, channel)


async def create_placement(repo: Repository, channel_id: str, fields: Fields) -> Row:
    """A named slot inside one channel, auto-routed to the default flow."""
    _known(fields, PLACEMENT_FIELDS)
    channel = await _must_exist(repo, Channel, channel_id, "channelId")
    spec = {**_PLACEMENT_DEFAULTS, **{k: v for k, v in fields.items() if v is not None}}
    placement = await _add_placement(repo, channel, _placement_values(spec))
    route = await repo.find(FlowRoute, channel_id=channel.id, placement_id=placement.id)
    data = placement.to_dict()
    data["route"] = await _route_out(repo, route) if route else None
    return data


# ---- creatives ------------------------------------------------------------------------------
CREATIVE_FIELDS: Final = frozenset(
    {
        "name", "offerId", "channelId", "placementId", "status", "templateType", "content",
        "personalization", "constraints", "abTestVariant", "weight", "contentItemId",
    }
)  # fmt: skip
_CREATIVE_DEFAULTS: Final[Mapping[str, Any]] = {
    "status": "draft", "templateType": "email_html", "content": {}, "personalization": [],
    "constraints": {}, "weight": 100,
}  # fmt: skip


def _personalization(value: Any) -> list[Any]:
    items = _list(value, "personalization")
    if len(items) > MAX_PERSONALIZATION:
        raise ValidationError("personalization allows at most 500 entries", field="personalization")
    for index, item in enumerate(items):
        entry = _object(item, f"personalization[{index}]")
        if not (entry.get("variable") or entry.get("key")):
            raise ValidationError(
                "each personalization entry needs variable (or key)", field=f"personalization[{index}]"
            )
    return items


async def _creative_values(repo: Repository, data: Fields, own_id: str | None) -> dict[str, Any]:
    name = _text(data.get("name"), "name")
    await _ensure_unique(repo, Creative, "name", name, field="name", own_id=own_id)
    offer = await _must_exist(repo, Offer, data.get("offerId"), "offerId")
    channel = await _must_exist(repo, Channel, data.get("channelId"), "channelId")
    placement_id = data.get("placementId")
    if placement_id:
        placement = await _must_exist(repo, Placement, placement_id, "placementId")
        if placement.channel_id != channel.id:
            raise ValidationError(
                f"placement {placement.key!r} belongs to another channel", field="placementId"
            )
    content_item_id = data.get("contentItemId")
    if content_item_id:
        await _must_exist(repo, ContentItem, content_item_id, "contentItemId")
    return {
        "name": name,
        "offer_id": offer.id,
        "channel_id": channel.id,
        "placement_id": placement_id or None,
        "content_item_id": content_item_id or None,
        "status": _choice(data.get("status"), STATUSES, "status"),
        "template_type": _choice(data.get("templateType"), TEMPLATE_TYPES, "templateType"),
        "content": _object(data.get("content"), "content"),
        "personalization": _personalization(data.get("personalization")),
        "constraints": _object(data.get("constraints"), "constraints"),
        "ab_test_variant": _optional_str(data.get("abTestVariant"), "abTestVariant"),
        "weight": _int(data.get("weight"), "weight", 0, 100),
    }


async def _creative_rows(repo: Repository, rows: list[Any]) -> list[Row]:
    offers = await _names(repo, Offer, (r.offer_id for r in rows))
    channels = await _names(repo, Channel, (r.channel_id for r in rows))
    placements = await _names(repo, Placement, (r.placement_id for r in rows))
    return [
        {
            **row.to_dict(),
            "offerName": offers.get(row.offer_id),
            "channelName": channels.get(row.channel_id),
            "placementName": placements.get(row.placement_id),
        }
        for row in rows
    ]


async def list_creatives(
    repo: Repository,
    *,
    offer_id: str | None = None,
    channel_id: str | None = None,
    limit: int = 25,
    cursor: str | None = None,
    include_deleted: bool = False,
) -> Row:
    where = []
    if offer_id:
        where.append(Creative.offer_id == offer_id)
    if channel_id:
        where.append(Creative.channel_id == channel_id)
    return await _extra_page(
        repo,
        lambda: _PageQuery(
            Creative,
            where,
            _newest(Creative),
            include_deleted,
            {
                "offerName": _name_of(repo, Offer, Creative.offer_id),
                "channelName": _name_of(repo, Channel, Creative.channel_id),
                "placementName": _name_of(repo, Placement, Creative.placement_id),
            },
        ),
        limit=limit,
        cursor=cursor,
        cache_key=None if where else ("creatives", include_deleted),
    )


async def create_creative(repo: Repository, fields: Fields) -> Row:
    data = _create_data(fields, _CREATIVE_DEFAULTS, CREATIVE_FIELDS)
    creative = await repo.create(Creative, await _creative_values(repo, data, None))
    return (await _creative_rows(repo, [creative]))[0]


async def update_creative(repo: Repository, creative_id: str, changes: Fields) -> Row:
    _known(changes, CREATIVE_FIELDS)
    creative = await _must_exist(repo, Creative, creative_id, "creativeId")
    values = await _creative_values(repo, {**creative.to_dict(), **changes}, creative.id)
    creative = await repo.update(Creative, creative, values)
    return (await _creative_rows(repo, [creative]))[0]


# ---- rule scopes (shared by qualification rules and contact policies) ------------------------
_SCOPE_MODELS: Final[Mapping[str, type[Base]]] = {
    "channel": Channel,
    "category": Category,
    "subcategory": SubCategory,
    "offer": Offer,
    "creative": Creative,
    "placement": Placement,
}


async def _scope_entry(
    repo: Repository, scope: Any, scope_id: Any, allowed: Sequence[str], where: str, *, require_id: bool
) -> tuple[str, str | None]:
    scope = _choice(scope, allowed, f"{where}scope")
    if scope == "global":
        return scope, None
    scope_id = _optional_str(scope_id, f"{where}scopeId")
    if scope_id is None:
        if require_id:
            raise ValidationError(f"scopeId is required when scope is {scope!r}", field=f"{where}scopeId")
        return scope, None
    model = _SCOPE_MODELS.get(scope)
    if model is not None:
        await _must_exist(repo, model, scope_id, f"{where}scopeId")
    return scope, scope_id


async def _scope_values(
    repo: Repository, data: Fields, allowed: Sequence[str], *, require_id: bool
) -> dict[str, Any]:
    """scope/scopeId plus the optional ``scopes[]`` multi-assignment (which supersedes them)."""
    scope, scope_id = await _scope_entry(
        repo, data.get("scope"), data.get("scopeId"), allowed, "", require_id=require_id
    )
    scopes = []
    for index, item in enumerate(_list(data.get("scopes"), "scopes")):
        entry = _object(item, f"scopes[{index}]")
        pair = await _scope_entry(
            repo,
            entry.get("scope"),
            entry.get("scopeId"),
            allowed,
            f"scopes[{index}].",
            require_id=require_id,
        )
        scopes.append({"scope": pair[0], "scopeId": pair[1]})
    return {"scope": scope, "scope_id": scope_id, "scopes": scopes}


# ---- condition configs ----------------------------------------------------------------------
def _operator(config: Mapping[str, Any], where: str, default: str) -> str:
    try:
        return normalize_operator(config.get("operator", default))
    except ValidationError as exc:
        raise ValidationError(exc.message, field=f"{where}.operator") from None


def _condition(config: Mapping[str, Any], where: str, *, default_op: str = "eq") -> None:
    """``{..., operator, value}``: a known operator and a value unless it tests presence."""
    operator = _operator(config, where, default_op)
    if operator not in PRESENCE_OPERATORS and "value" not in config:
        raise ValidationError(f"{where}.value is required for operator {operator!r}", field=f"{where}.value")
    if operator in {"in", "not_in"} and not isinstance(config.get("value"), list):
        raise ValidationError(f"{where}.value must be an array for {operator!r}", field=f"{where}.value")


def _metric_config(config: Mapping[str, Any], where: str = "config") -> None:
    if not (config.get("metricId") or config.get("metricName")):
        raise ValidationError(f"{where}.metricId (or metricName) is required", field=f"{where}.metricId")
    _condition(config, where, default_op="gte")


def _attribute_config(config: Mapping[str, Any], where: str = "config") -> None:
    _text(config.get("attribute") or config.get("field"), f"{where}.attribute")
    if "customerAttribute" in config:
        _text(config["customerAttribute"], f"{where}.customerAttribute")
        _operator(config, where, "eq")
        return
    _condition(config, where)


def _multiplier(config: Mapping[str, Any], key: str) -> None:
    if key in config:
        _number(config[key], f"config.{key}", 0.0, 1.0)


# ---- qualification rules (§4) ---------------------------------------------------------------
def _segment_required(config: Mapping[str, Any]) -> None:
    key = "requiredSegments" if "requiredSegments" in config or "segments" not in config else "segments"
    if key not in config:
        raise ValidationError("config.requiredSegments is required", field="config.requiredSegments")
    _str_list(config[key], f"config.{key}")
    if "matchMode" in config:
        _choice(config["matchMode"], ("all", "any"), "config.matchMode")


def _propensity_threshold(config: Mapping[str, Any]) -> None:
    if "threshold" not in config:
        raise ValidationError("config.threshold is required (0-1)", field="config.threshold")
    _number(config["threshold"], "config.threshold", 0.0, 1.0)
    _multiplier(config, "multiplierBelow")
    if "modelReference" in config:
        _text(config["modelReference"], "config.modelReference")


def _recency_check(config: Mapping[str, Any]) -> None:
    if "minDaysSinceLastImpression" not in config:
        raise ValidationError(
            "config.minDaysSinceLastImpression is required", field="config.minDaysSinceLastImpression"
        )
    _positive(config["minDaysSinceLastImpression"], "config.minDaysSinceLastImpression")
    _multiplier(config, "multiplier")


_QUALIFICATION_CONFIGS: Final[Mapping[str, Callable[[Mapping[str, Any]], None]]] = {
    "segment_required": _segment_required,
    "attribute_condition": _attribute_config,
    "metric_condition": _metric_config,
    "offer_attribute": _attribute_config,
    "propensity_threshold": _propensity_threshold,
    "recency_check": _recency_check,
}
QUALIFICATION_FIELDS: Final = frozenset(
    {"name", "ruleType", "config", "description", "status", "scope", "scopeId", "scopes", "priority", "stage"}
)
_QUALIFICATION_DEFAULTS: Final[Mapping[str, Any]] = {
    "status": "active", "scope": "global", "priority": 50, "description": "",
}  # fmt: skip


async def _qualification_values(repo: Repository, data: Fields, own_id: str | None) -> dict[str, Any]:
    name = _text(data.get("name"), "name")
    await _ensure_unique(repo, QualificationRule, "name", name, field="name", own_id=own_id)
    rule_type = _choice(data.get("ruleType"), QUALIFICATION_RULE_TYPES, "ruleType")
    if data.get("config") is None:
        raise ValidationError("config is required", field="config")
    config = _object(data.get("config"), "config")
    _QUALIFICATION_CONFIGS[rule_type](config)
    return {
        "name": name,
        "rule_type": rule_type,
        "config": config,
        "description": _plain(data.get("description"), "description"),
        "status": _choice(data.get("status"), STATUSES, "status"),
        "priority": _int(data.get("priority"), "priority", 0, 100),
        "stage": resolve_stage(rule_type, data.get("stage") or None),
        **await _scope_values(repo, data, QUALIFICATION_SCOPES, require_id=True),
    }


def _qualification_out(rule: QualificationRule) -> Row:
    data = rule.to_dict()
    try:
        data["decisioningStage"] = resolve_stage(rule.rule_type, rule.stage)
    except ValidationError:
        data["decisioningStage"] = None
    return data


def _stage_filter(stage: str) -> ColumnElement[bool]:
    """Rows classified into ``stage``: explicit (incl. legacy names) or by their type's default."""
    stage = _choice(stage, STAGES, "stage")
    names = [stage, *(legacy for legacy, canonical in LEGACY_STAGES.items() if canonical == stage)]
    defaults = [t for t, s in DEFAULT_STAGE_BY_TYPE.items() if s == stage]
    by_type = and_(QualificationRule.stage.is_(None), QualificationRule.rule_type.in_(defaults))
    return or_(QualificationRule.stage.in_(names), by_type)


async def list_qualification_rules(
    repo: Repository,
    *,
    limit: int = 25,
    cursor: str | None = None,
    include_deleted: bool = False,
    stage: str | None = None,
) -> Row:
    async def render(rows: list[Any]) -> list[Row]:
        return [_qualification_out(row) for row in rows]

    return await _cursor_page(
        repo,
        QualificationRule,
        [_stage_filter(stage)] if stage else [],
        limit=limit,
        cursor=cursor,
        include_deleted=include_deleted,
        order=_priority_order(QualificationRule),
        render=render,
    )


async def create_qualification_rule(repo: Repository, fields: Fields) -> Row:
    data = _create_data(fields, _QUALIFICATION_DEFAULTS, QUALIFICATION_FIELDS)
    rule = await repo.create(QualificationRule, await _qualification_values(repo, data, None))
    return _qualification_out(rule)


async def update_qualification_rule(repo: Repository, rule_id: str, changes: Fields) -> Row:
    """A changed ruleType without a stage falls back to the new type's default stage."""
    _known(changes, QUALIFICATION_FIELDS)
    rule = await _must_exist(repo, QualificationRule, rule_id, "ruleId")
    data = {**rule.to_dict(), **changes}
    if "ruleType" in changes and "stage" not in changes:
        data["stage"] = None
    rule = await repo.update(QualificationRule, rule, await _qualification_values(repo, data, rule.id))
    return _qualification_out(rule)


# ---- contact policies (§5) ------------------------------------------------------------------
def _caps(config: Mapping[str, Any], *, required: bool = True) -> None:
    windows = [k for k in ("maxPerDay", "maxPerWeek", "maxPerMonth") if config.get(k) is not None]
    for key in windows:
        _int(config[key], f"config.{key}", 1)
    if config.get("maxContacts") is not None:
        _int(config["maxContacts"], "config.maxContacts", 1)
        windows.append("maxContacts")
        if config.get("windowDays") is not None:
            _positive(config["windowDays"], "config.windowDays")
    if config.get("lookbackHours") is not None:
        _positive(config["lookbackHours"], "config.lookbackHours")
    if required and not windows:
        raise ValidationError(
            "config needs at least one of maxPerDay, maxPerWeek, maxPerMonth", field="config.maxPerDay"
        )


def _frequency_cap(config: Mapping[str, Any]) -> None:
    _caps(config)
    if config.get("withinCampaignId") is not None:
        _text(config["withinCampaignId"], "config.withinCampaignId")
    _str_list(config.get("excludeCampaignIds"), "config.excludeCampaignIds")


def _cooldown(config: Mapping[str, Any]) -> None:
    if config.get("cooldownHours") is None:
        raise ValidationError("config.cooldownHours is required", field="config.cooldownHours")
    _positive(config["cooldownHours"], "config.cooldownHours")


def _budget_exhausted(config: Mapping[str, Any]) -> None:
    legacy = config.get("checkImpressions") or config.get("checkDailyBudget")
    if config.get("budgetField") is None and not legacy:
        raise ValidationError(
            "config.budgetField is required (impressions or spend)", field="config.budgetField"
        )
    if config.get("budgetField") is not None:
        _choice(config["budgetField"], ("impressions", "spend"), "config.budgetField")
    if config.get("threshold") is not None:
        _number(config["threshold"], "config.threshold", 0.0)


def _outcome_based(config: Mapping[str, Any]) -> None:
    outcomes = config.get("afterOutcome", config.get("outcomeType"))
    if isinstance(outcomes, str):
        outcomes = [outcomes]
    _str_list(outcomes, "config.afterOutcome", non_empty=True)
    for key in ("suppressForDays", "lookbackDays"):
        if config.get(key) is not None:
            _positive(config[key], f"config.{key}")


def _segment_exclusion(config: Mapping[str, Any]) -> None:
    _str_list(config.get("excludeSegments"), "config.excludeSegments", non_empty=True)


def _time_window(config: Mapping[str, Any]) -> None:
    if config.get("startHour") is not None:
        _int(config["startHour"], "config.startHour", 0, 23)
    if config.get("endHour") is not None:
        _int(config["endHour"], "config.endHour", 0, 24)
    key = "daysOfWeek" if "daysOfWeek" in config else "allowedDays"
    for day in _list(config.get(key), f"config.{key}"):
        _int(day, f"config.{key}", 1, 7)
    if config.get("timezone") is not None:
        _timezone(config["timezone"])


def _timezone(name: Any) -> None:
    from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

    try:
        ZoneInfo(_text(name, "config.timezone", max_len=64))
    except (ZoneInfoNotFoundError, ValueError) as exc:
        raise ValidationError(f"unknown timezone {name!r}", field="config.timezone") from exc


def _mutual_exclusion(config: Mapping[str, Any]) -> None:
    _str_list(config.get("excludeOfferIds"), "config.excludeOfferIds", non_empty=True)
    if config.get("windowDays") is not None:
        _positive(config["windowDays"], "config.windowDays")


def _cross_channel_cap(config: Mapping[str, Any]) -> None:
    _caps(config)
    _str_list(config.get("appliesAcross"), "config.appliesAcross", non_empty=True)


def _customer_total_cap(config: Mapping[str, Any]) -> None:
    _caps(config)


def _allow_override(config: Mapping[str, Any]) -> None:
    """Match criteria are free-form (spec §13.2); only the shape is checked."""
    del config


def _category_suppression(config: Mapping[str, Any]) -> None:
    if config.get("suppressionDays") is None:
        raise ValidationError("config.suppressionDays is required", field="config.suppressionDays")
    _positive(config["suppressionDays"], "config.suppressionDays")
    _str_list(config.get("triggerOutcomes"), "config.triggerOutcomes")


def _do_not_contact(config: Mapping[str, Any]) -> None:
    for key in ("dncSource", "reason"):
        _optional_str(config.get(key), f"config.{key}")


_POLICY_CONFIGS: Final[Mapping[str, Callable[[Mapping[str, Any]], None]]] = {
    "frequency_cap": _frequency_cap,
    "cooldown": _cooldown,
    "budget_exhausted": _budget_exhausted,
    "outcome_based": _outcome_based,
    "segment_exclusion": _segment_exclusion,
    "time_window": _time_window,
    "mutual_exclusion": _mutual_exclusion,
    "cross_channel_cap": _cross_channel_cap,
    "customer_total_cap": _customer_total_cap,
    "allow_override": _allow_override,
    "category_suppression": _category_suppression,
    "do_not_contact": _do_not_contact,
    "metric_condition": _metric_config,
}
POLICY_FIELDS: Final = frozenset(
    {"name", "ruleType", "config", "description", "status", "scope", "scopeId", "scopes", "priority"}
)
_POLICY_DEFAULTS: Final[Mapping[str, Any]] = {
    "status": "active",
    "priority": 50,
    "description": "",
    "config": {},
}


async def _policy_references(repo: Repository, rule_type: str, config: Mapping[str, Any]) -> None:
    """Ids inside the config must exist too, or the policy would silently never fire."""
    checks: list[tuple[type[Base], str, list[str]]] = []
    if rule_type == "mutual_exclusion":
        checks.append((Offer, "config.excludeOfferIds", list(config.get("excludeOfferIds") or [])))
    if rule_type == "cross_channel_cap":
        checks.append((Channel, "config.appliesAcross", list(config.get("appliesAcross") or [])))
    targets: tuple[tuple[str, type[Base]], ...] = (("categoryId", Category), ("subCategoryId", SubCategory))
    for key, target in targets:
        if rule_type == "category_suppression" and config.get(key):
            checks.append((target, f"config.{key}", [config[key]]))
    for model, field, ids in checks:
        for row_id in ids:
            await _must_exist(repo, model, row_id, field)


async def _policy_values(repo: Repository, data: dict[str, Any], own_id: str | None) -> dict[str, Any]:
    name = _text(data.get("name"), "name")
    await _ensure_unique(repo, ContactPolicy, "name", name, field="name", own_id=own_id)
    rule_type = _choice(data.get("ruleType"), POLICY_RULE_TYPES, "ruleType")
    allowed = POLICY_SCOPES_BY_TYPE[rule_type]
    if data.get("scope") is None:
        data["scope"] = "offer" if "offer" in allowed else allowed[0]
    config = _object(data.get("config"), "config")
    _POLICY_CONFIGS[rule_type](config)
    if "bypassable" in config:
        _bool(config["bypassable"], "config.bypassable")
    await _policy_references(repo, rule_type, config)
    return {
        "name": name,
        "rule_type": rule_type,
        "config": config,
        "description": _plain(data.get("description"), "description"),
        "status": _choice(data.get("status"), STATUSES, "status"),
        "priority": _int(data.get("priority"), "priority", 0, 100),
        **await _scope_values(repo, data, allowed, require_id=False),
    }


async def list_contact_policies(repo: Repository, *, limit: int = 25, cursor: str | None = None) -> Row:
    return await _cursor_page(
        repo, ContactPolicy, [], limit=limit, cursor=cursor, order=_priority_order(ContactPolicy)
    )


async def create_contact_policy(repo: Repository, fields: Fields) -> Row:
    """Scope defaults to ``offer`` (spec), or ``global``-first when the rule type forbids offer."""
    data = _create_data(fields, _POLICY_DEFAULTS, POLICY_FIELDS)
    return (await repo.create(ContactPolicy, await _policy_values(repo, data, None))).to_dict()


async def update_contact_policy(repo: Repository, policy_id: str, changes: Fields) -> Row:
    _known(changes, POLICY_FIELDS)
    policy = await _must_exist(repo, ContactPolicy, policy_id, "policyId")
    values = await _policy_values(repo, {**policy.to_dict(), **changes}, policy.id)
    return (await repo.update(ContactPolicy, policy, values)).to_dict()


# ---- guardrails and outcome types (§2.7, §2.10) ---------------------------------------------
GUARDRAIL_FIELDS: Final = frozenset(
    {"key", "name", "description", "severity", "expressionAst", "status", "priority", "config"}
)


async def create_guardrail(repo: Repository, fields: Fields) -> Row:
    data = _create_data(fields, {"severity": "hard", "status": "active", "description": ""}, GUARDRAIL_FIELDS)
    key = _text(data.get("key"), "key", max_len=128)
    if not _GUARDRAIL_KEY_RE.match(key):
        raise ValidationError("key may use letters, digits, '_', '-' and '.'", field="key")
    await _ensure_unique(repo, Guardrail, "key", key, field="key")
    values = {
        "key": key,
        "name": _text(data.get("name"), "name"),
        "description": _plain(data.get("description"), "description"),
        "severity": _choice(data.get("severity"), GUARDRAIL_SEVERITIES, "severity"),
        "status": _choice(data.get("status"), GUARDRAIL_STATUSES, "status"),
        "expression_ast": _object(data.get("expressionAst"), "expressionAst"),
        "config": _object(data.get("config"), "config"),
        "priority": _int(data.get("priority", 0), "priority", 0),
    }
    return (await repo.create(Guardrail, values)).to_dict()


async def ensure_system_outcomes(repo: Repository) -> int:
    """Seed the ten system outcome types on first access; returns how many were created."""
    stmt = select(OutcomeType.key).where(repo.tenant_filter(OutcomeType))
    present = set((await repo.session.execute(stmt)).scalars().all())
    created = 0
    for key, name, classification, category in SYSTEM_OUTCOMES:
        if key in present:
            continue
        values = {"key": key, "name": name, "classification": classification, "category": category}
        await repo.create(OutcomeType, {**values, "is_system": True}, audit_action="seed")
        created += 1
    return created


async def list_outcome_types(repo: Repository, *, include_deleted: bool = False) -> Row:
    """System defaults first, then custom types, each by key."""
    await ensure_system_outcomes(repo)
    stmt = repo.scoped(OutcomeType, include_deleted=include_deleted).order_by(
        OutcomeType.is_system.desc(), OutcomeType.key
    )
    rows = (await repo.session.execute(stmt)).scalars().all()
    return {"items": [row.to_dict() for row in rows], "total": len(rows)}


async def create_outcome_type(repo: Repository, fields: Fields) -> Row:
    data = _create_data(
        fields, {"description": ""}, {"key", "name", "classification", "category", "description"}
    )
    key = _text(data.get("key"), "key", max_len=64)
    if not _OUTCOME_KEY_RE.match(key):
        raise ValidationError("key must be lowercase snake_case starting with a letter", field="key")
    await ensure_system_outcomes(repo)
    await _ensure_unique(repo, OutcomeType, "key", key, field="key")
    values = {
        "key": key,
        "name": _text(data.get("name"), "name"),
        "classification": _choice(data.get("classification"), OUTCOME_CLASSIFICATIONS, "classification"),
        "category": _choice(data.get("category"), OUTCOME_CATEGORIES, "category"),
        "description": _plain(data.get("description"), "description"),
        "is_system": False,
    }
    return (await repo.create(OutcomeType, values)).to_dict()


# ---- triggers (§7.3) ------------------------------------------------------------------------
TRIGGER_FIELDS: Final = frozenset(
    {
        "name",
        "eventType",
        "actionType",
        "actionConfig",
        "condition",
        "description",
        "priority",
        "cooldownMs",
        "status",
    }
)
_TRIGGER_DEFAULTS: Final[Mapping[str, Any]] = {
    "actionConfig": {}, "condition": {}, "description": "", "priority": 50, "cooldownMs": 0,
    "status": "active",
}  # fmt: skip


def _condition_tree(node: Any, where: str) -> None:
    """Nested ``all``/``any`` groups whose leaves are ``{field, operator, value}``."""
    tree = _object(node, where)
    groups = [key for key in ("all", "any") if key in tree]
    if groups:
        for index, child in enumerate(_list(tree[groups[0]], f"{where}.{groups[0]}")):
            _condition_tree(child, f"{where}.{groups[0]}[{index}]")
        return
    if tree:
        _text(tree.get("field"), f"{where}.field")
        _condition(tree, where)


async def _action_config(repo: Repository, action: str, value: Any) -> dict[str, Any]:
    config = _object(value, "actionConfig")
    if action == "enroll_journey":
        await _must_exist(repo, Journey, config.get("journeyId"), "actionConfig.journeyId")
        config.setdefault("deduplication", "skip_if_active")
        _choice(config["deduplication"], DEDUPLICATION_MODES, "actionConfig.deduplication")
    elif action == "fire_recommend":
        if config.get("decisionFlowId"):
            await _must_exist(repo, DecisionFlow, config["decisionFlowId"], "actionConfig.decisionFlowId")
        if config.get("channelId"):
            await _must_exist(repo, Channel, config["channelId"], "actionConfig.channelId")
        if config.get("maxOffers") is not None:
            _int(config["maxOffers"], "actionConfig.maxOffers", 1, 100)
    elif action == "webhook":
        url = _text(config.get("url"), "actionConfig.url", max_len=2048)
        if not url.startswith(("https://", "http://")):
            raise ValidationError("actionConfig.url must be an http(s) URL", field="actionConfig.url")
    else:
        _text(config.get("attribute") or config.get("field"), "actionConfig.attribute")
    return config


async def list_triggers(
    repo: Repository,
    *,
    status: str | None = None,
    event_type: str | None = None,
    limit: int = 50,
    offset: int = 0,
) -> Row:
    where = []
    if status:
        where.append(TriggerRule.status == status)
    if event_type:
        where.append(TriggerRule.event_type == event_type)
    return await _offset_page(
        repo, TriggerRule, where, limit=limit, offset=offset, order=_priority_order(TriggerRule)
    )


async def create_trigger(repo: Repository, fields: Fields) -> Row:
    data = _create_data(fields, _TRIGGER_DEFAULTS, TRIGGER_FIELDS)
    name = _text(data.get("name"), "name")
    await _ensure_unique(repo, TriggerRule, "name", name, field="name", include_deleted=False)
    action = _choice(data.get("actionType"), TRIGGER_ACTIONS, "actionType")
    condition = _object(data.get("condition"), "condition")
    _condition_tree(condition, "condition")
    values = {
        "name": name,
        "event_type": _text(data.get("eventType"), "eventType", max_len=64),
        "action_type": action,
        "action_config": await _action_config(repo, action, data.get("actionConfig")),
        "condition": condition,
        "description": _plain(data.get("description"), "description"),
        "priority": _int(data.get("priority"), "priority", 0, 100),
        "cooldown_ms": _int(data.get("cooldownMs"), "cooldownMs", 0),
        "status": _choice(data.get("status"), STATUSES, "status"),
    }
    return (await repo.create(TriggerRule, values)).to_dict()


# ---- journeys (§7.2) ------------------------------------------------------------------------
JOURNEY_FIELDS: Final = frozenset(
    {"name", "description", "status", "definition", "entryCondition", "maxDurationDays"}
)
_JOURNEY_DEFAULTS: Final[Mapping[str, Any]] = {
    "description": "", "status": "draft", "definition": {"nodes": [], "edges": []}, "entryCondition": {},
    "maxDurationDays": 30,
}  # fmt: skip


def _journey_definition(value: Any) -> dict[str, Any]:
    """Nodes with unique ids and known step types; edges only between existing nodes."""
    definition = _object(value, "definition")
    nodes = _list(definition.setdefault("nodes", []), "definition.nodes")
    edges = _list(definition.setdefault("edges", []), "definition.edges")
    ids: set[str] = set()
    for index, item in enumerate(nodes):
        where = f"definition.nodes[{index}]"
        node = _object(item, where)
        node_id = _text(node.get("id"), f"{where}.id", max_len=64)
        if node_id in ids:
            raise ValidationError(f"node id {node_id!r} is repeated", field=f"{where}.id")
        ids.add(node_id)
        _choice(node.get("type"), JOURNEY_NODE_TYPES, f"{where}.type")
    for index, item in enumerate(edges):
        edge = _object(item, f"definition.edges[{index}]")
        for end in (("source", "from"), ("target", "to")):
            ref = edge.get(end[0], edge.get(end[1]))
            if ref not in ids:
                raise ValidationError(
                    f"edge {end[0]} {ref!r} is not a node of this journey",
                    field=f"definition.edges[{index}].{end[0]}",
                )
    return definition


async def _journey_values(repo: Repository, data: Fields, own_id: str | None) -> dict[str, Any]:
    name = _text(data.get("name"), "name")
    await _ensure_unique(repo, Journey, "name", name, field="name", own_id=own_id, include_deleted=False)
    definition = _journey_definition(data.get("definition"))
    status = _choice(data.get("status"), STATUSES, "status")
    if status == "active" and not definition["nodes"]:
        raise ValidationError("a journey needs at least one node before it can be active", field="status")
    return {
        "name": name,
        "description": _plain(data.get("description"), "description", max_len=2000),
        "status": status,
        "definition": definition,
        "entry_condition": _object(data.get("entryCondition"), "entryCondition"),
        "max_duration_days": _int(data.get("maxDurationDays"), "maxDurationDays", 1, 365),
    }


async def list_journeys(
    repo: Repository, *, status: str | None = None, limit: int = 50, offset: int = 0
) -> Row:
    where = [Journey.status == _choice(status, STATUSES, "status")] if status else []
    return await _offset_page(repo, Journey, where, limit=limit, offset=offset, order=_newest(Journey))


async def create_journey(repo: Repository, fields: Fields) -> Row:
    data = _create_data(fields, _JOURNEY_DEFAULTS, JOURNEY_FIELDS)
    return (await repo.create(Journey, await _journey_values(repo, data, None))).to_dict()


async def update_journey(repo: Repository, journey_id: str, changes: Fields) -> Row:
    _known(changes, JOURNEY_FIELDS)
    journey = await _must_exist(repo, Journey, journey_id, "journeyId")
    values = await _journey_values(repo, {**journey.to_dict(), **changes}, journey.id)
    return (await repo.update(Journey, journey, values)).to_dict()


# ---- deletion -------------------------------------------------------------------------------
DELETABLE: Final[Mapping[str, type[Base]]] = {
    "offer": Offer,
    "category": Category,
    "subCategory": SubCategory,
    "channel": Channel,
    "placement": Placement,
    "creative": Creative,
    "qualificationRule": QualificationRule,
    "contactPolicy": ContactPolicy,
    "decisionFlow": DecisionFlow,
    "journey": Journey,
    "trigger": TriggerRule,
    "guardrail": Guardrail,
    "outcomeType": OutcomeType,
}


class DeleteResult:
    """Warnings for the caller and the child rows removed along with the entity."""

    def __init__(self) -> None:
        self.warnings: list[str] = []
        self.cascaded: list[dict[str, str]] = []

    async def remove(self, repo: Repository, model: type[Base], rows: Iterable[Any]) -> None:
        for row in rows:
            await repo.delete(model, row)
            self.cascaded.append({"entityType": model.__entity__, "id": str(row.id)})


def _refuse_children(what: str, children: Mapping[str, list[Any]]) -> None:
    """CONFLICT naming the live children that still depend on the entity."""
    found = {label: rows for label, rows in children.items() if rows}
    if not found:
        return
    parts = []
    for label, rows in found.items():
        names = ", ".join(repr(r.name) for r in rows[:MAX_LISTED_CHILDREN])
        more = f" and {len(rows) - MAX_LISTED_CHILDREN} more" if len(rows) > MAX_LISTED_CHILDREN else ""
        parts.append(f"{len(rows)} {label} ({names}{more})")
    raise ConflictError(
        f"{what} still has live {'; '.join(parts)}; delete or move them first",
        field="id",
        children={label: [str(r.id) for r in rows] for label, rows in found.items()},
    )


async def _delete_offer(repo: Repository, offer: Offer, result: DeleteResult) -> None:
    await result.remove(repo, Creative, await repo.all(Creative, Creative.offer_id == offer.id))


async def _delete_category(repo: Repository, category: Category, result: DeleteResult) -> None:
    offers = await repo.all(Offer, Offer.category_id == category.id)
    subs = await repo.all(SubCategory, SubCategory.category_id == category.id)
    _refuse_children(f"category {category.name!r}", {"offers": offers, "sub-categories": subs})


async def _delete_sub_category(repo: Repository, sub: SubCategory, result: DeleteResult) -> None:
    offers = await repo.all(Offer, Offer.sub_category_id == sub.id)
    _refuse_children(f"sub-category {sub.name!r}", {"offers": offers})


async def _drop_routes(repo: Repository, result: DeleteResult, *where: ColumnElement[bool]) -> None:
    routes = await repo.all(FlowRoute, *where)
    for route in routes:
        await repo.delete(FlowRoute, route, soft=False)
        result.cascaded.append({"entityType": "flow_route", "id": route.id})


async def _delete_channel(repo: Repository, channel: Channel, result: DeleteResult) -> None:
    creatives = await repo.all(Creative, Creative.channel_id == channel.id)
    _refuse_children(f"channel {channel.name!r}", {"creatives": creatives})
    await _drop_routes(repo, result, FlowRoute.channel_id == channel.id)
    await result.remove(repo, Placement, await repo.all(Placement, Placement.channel_id == channel.id))


async def _delete_placement(repo: Repository, placement: Placement, result: DeleteResult) -> None:
    await _drop_routes(repo, result, FlowRoute.placement_id == placement.id)
    linked = await repo.count(Creative, Creative.placement_id == placement.id)
    if linked:
        result.warnings.append(f"{linked} creative(s) still reference placement {placement.key!r}")


def _mentions(config: Any, rule_id: str) -> bool:
    """Whether a node config lists the rule under any ``ruleIds``-style key, at any depth."""
    if isinstance(config, Mapping):
        for key, value in config.items():
            if key in {"ruleIds", "qualificationRuleIds"} and isinstance(value, list) and rule_id in value:
                return True
            if key == "ruleId" and value == rule_id:
                return True
            if _mentions(value, rule_id):
                return True
    if isinstance(config, list):
        return any(_mentions(item, rule_id) for item in config)
    return False


async def flows_referencing_rule(repo: Repository, rule_id: str) -> list[DecisionFlow]:
    """Live flows whose draft nodes or published snapshots name the rule."""
    flow_ids = {
        node.flow_id
        for node in await repo.all(DecisionFlowNode, DecisionFlowNode.type == "qualify")
        if _mentions(node.config, rule_id)
    }
    for version in await repo.all(DecisionFlowVersion):
        if _mentions(version.config_snapshot, rule_id):
            flow_ids.add(version.flow_id)
    if not flow_ids:
        return []
    return await repo.all(DecisionFlow, DecisionFlow.id.in_(flow_ids), order_by=[DecisionFlow.name])


async def _delete_rule(repo: Repository, rule: QualificationRule, result: DeleteResult) -> None:
    for flow in await flows_referencing_rule(repo, rule.id):
        result.warnings.append(
            f"decision flow {flow.name!r} ({flow.id}) still references this rule; it will skip this rule"
        )


async def _delete_flow(repo: Repository, flow: DecisionFlow, result: DeleteResult) -> None:
    if flow.protected:
        raise ConflictError(
            f"decision flow {flow.name!r} is protected (it has been published) and cannot be deleted",
            field="id",
        )
    await _drop_routes(repo, result, FlowRoute.decision_flow_id == flow.id)
    if flow.is_default:
        result.warnings.append(
            "the tenant has no default flow now; the next auto-route creates the Base NBA Flow"
        )


async def _delete_outcome_type(repo: Repository, outcome: OutcomeType, result: DeleteResult) -> None:
    if outcome.is_system:
        raise ConflictError(
            f"outcome type {outcome.key!r} is a system default and cannot be deleted", field="id"
        )


async def _delete_journey(repo: Repository, journey: Journey, result: DeleteResult) -> None:
    triggers = await repo.all(TriggerRule, TriggerRule.action_type == "enroll_journey")
    for trigger in triggers:
        if (trigger.action_config or {}).get("journeyId") == journey.id:
            result.warnings.append(f"trigger {trigger.name!r} ({trigger.id}) still enrolls into this journey")


_DELETE_RULES: Final[Mapping[str, Callable[[Repository, Any, DeleteResult], Awaitable[None]]]] = {
    "offer": _delete_offer,
    "category": _delete_category,
    "subCategory": _delete_sub_category,
    "channel": _delete_channel,
    "placement": _delete_placement,
    "qualificationRule": _delete_rule,
    "decisionFlow": _delete_flow,
    "outcomeType": _delete_outcome_type,
    "journey": _delete_journey,
}


async def delete_entity(repo: Repository, entity_type: str, entity_id: str) -> Row:
    """Soft-delete one entity after its refusal checks; cascades run in the same transaction."""
    model = DELETABLE.get(entity_type)
    if model is None:
        raise ValidationError(f"entityType must be one of {', '.join(DELETABLE)}", field="entityType")
    row = await _must_exist(repo, model, entity_id, "id")
    result = DeleteResult()
    rule = _DELETE_RULES.get(entity_type)
    if rule is not None:
        await rule(repo, row, result)
    await repo.delete(model, row)
    return {
        "id": entity_id,
        "entityType": entity_type,
        "deleted": True,
        "soft": hasattr(row, "deleted_at"),
        "warnings": result.warnings,
        "cascaded": result.cascaded,
    }
