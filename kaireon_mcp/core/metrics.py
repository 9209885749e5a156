"""Behavioral metrics (spec §2.21): rolling per-customer aggregates over interaction history.

A metric's values are computed by the database in one ``GROUP BY customer_id`` over the
interactions table and upserted into ``metric_values`` in the caller's transaction, so a
recompute is all-or-nothing. Count/sum values of customers who dropped out of the window
are set to 0 (not deleted), so ``metric_condition`` gates see "0 purchases", not "unknown".
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime, timedelta
from typing import Any, Final

from sqlalchemy import Select, and_, delete, false, func, insert, not_, or_, select, true, update
from sqlalchemy.sql.elements import ColumnElement

from kaireon_mcp.core.qualification import SCOPES, resolve_stage
from kaireon_mcp.errors import ConflictError, ValidationError
from kaireon_mcp.storage.repository import Repository
from kaireon_mcp.storage.tables import (
    BehavioralMetric,
    ContactPolicy,
    Interaction,
    MetricValue,
    QualificationRule,
)
from kaireon_mcp.storage.types import new_id, utcnow

MAX_METRICS: Final = 20
AGGREGATES: Final = ("count", "sum", "avg", "min", "max")
EVENT_SOURCES: Final = ("impressions", "positive", "negative", "neutral", "converts")
VALUE_SOURCE: Final = "totalValue"
DIMENSIONS: Final[Mapping[str, Any]] = {
    "offerId": Interaction.offer_id,
    "channelId": Interaction.channel_id,
    "creativeId": Interaction.creative_id,
    "outcomeType": Interaction.interaction_type,
}
FILTER_COLUMNS: Final[Mapping[str, Any]] = {
    **DIMENSIONS,
    "placementId": Interaction.placement_id,
    "categoryId": Interaction.category_id,
    "interactionType": Interaction.interaction_type,
    "classification": Interaction.classification,
    "direction": Interaction.direction,
    "conversionValue": Interaction.conversion_value,
    "isImpression": Interaction.is_impression,
}
NON_OUTCOMES: Final = ("recommendation", "impression")
RULE_OPERATORS: Final = ("gt", "gte", "lt", "lte", "eq", "neq")


# ---- definitions -----------------------------------------------------------------------------


def _check_source(source: str, aggregate: str) -> None:
    if source in EVENT_SOURCES:
        if aggregate not in ("count", "sum"):
            raise ValidationError(
                f"{aggregate} of {source} is meaningless (every event counts 1); use count or sum, or "
                "sourceField totalValue for value statistics",
                field="aggregateFunction",
            )
        return
    if source != VALUE_SOURCE and not source.replace("_", "").isalnum():
        raise ValidationError(
            "sourceField must be impressions, positive, negative, neutral, converts, totalValue or an "
            "outcome-type key",
            field="sourceField",
        )


def _check_dimensions(dimensions: Sequence[str]) -> None:
    if len(dimensions) > 2 or len(set(dimensions)) != len(dimensions):
        raise ValidationError(
            "groupByDimensions takes at most 2 distinct dimensions", field="groupByDimensions"
        )
    unknown = [d for d in dimensions if d not in DIMENSIONS]
    if unknown:
        raise ValidationError(
            f"unknown dimension(s) {', '.join(unknown)}; use {', '.join(DIMENSIONS)}",
            field="groupByDimensions",
        )


def metric_out(metric: BehavioralMetric, value_count: int | None = None) -> dict[str, Any]:
    out = metric.to_dict()
    out.pop("tenantId", None)
    out.pop("deletedAt", None)
    if value_count is not None:
        out["valueCount"] = value_count
    return out


async def list_metrics(repo: Repository, limit: int = 20, cursor: str | None = None) -> dict[str, Any]:
    page = await repo.page(BehavioralMetric, limit=limit, cursor=cursor, order_by=[BehavioralMetric.name])
    ids = [m.id for m in page.items]
    counts: dict[str, int] = {}
    if ids:
        stmt = (
            select(MetricValue.metric_id, func.count())
            .where(repo.tenant_filter(MetricValue), MetricValue.metric_id.in_(ids))
            .group_by(MetricValue.metric_id)
        )
        counts = {mid: int(n) for mid, n in (await repo.session.execute(stmt)).all()}
    return page.to_dict([metric_out(m, counts.get(m.id, 0)) for m in page.items])


async def create_metric(
    repo: Repository,
    *,
    name: str,
    aggregate_function: str,
    source_field: str,
    description: str = "",
    window_days: int | None = None,
    group_by_dimensions: Sequence[str] = (),
    filter_conditions: Mapping[str, Any] | None = None,
    sql_filter: str | None = None,
    compute_mode: str = "batch",
    batch_interval_min: int = 60,
) -> dict[str, Any]:
    if aggregate_function not in AGGREGATES:
        raise ValidationError(
            f"aggregateFunction must be one of {', '.join(AGGREGATES)}", field="aggregateFunction"
        )
    if compute_mode == "realtime" and aggregate_function not in ("count", "sum"):
        raise ValidationError("realtime metrics support only count and sum", field="computeMode")
    if window_days is not None and not 1 <= window_days <= 365:
        raise ValidationError("windowDays must be 1-365, or null for all-time", field="windowDays")
    if not 5 <= batch_interval_min <= 1440:
        raise ValidationError("batchIntervalMin must be 5-1440", field="batchIntervalMin")
    _check_source(source_field, aggregate_function)
    _check_dimensions(group_by_dimensions)
    if filter_conditions:
        filter_clause(filter_conditions)
    if await repo.count(BehavioralMetric) >= MAX_METRICS:
        raise ConflictError(f"a tenant can define at most {MAX_METRICS} behavioral metrics", field="name")
    if await repo.find(BehavioralMetric, name=name) is not None:
        raise ConflictError(f"a behavioral metric named {name!r} already exists", field="name")
    metric = await repo.create(
        BehavioralMetric,
        {
            "name": name,
            "description": description,
            "aggregate_function": aggregate_function,
            "source_field": source_field,
            "window_days": window_days,
            "group_by_dimensions": list(group_by_dimensions),
            "filter_conditions": dict(filter_conditions or {}),
            "sql_filter": sql_filter,
            "compute_mode": compute_mode,
            "batch_interval_min": batch_interval_min,
        },
    )
    out = metric_out(metric, 0)
    if sql_filter:
        out["warnings"] = ["sqlFilter is stored but never executed by this server; use filterConditions"]
    return out


# ---- SQL -------------------------------------------------------------------------------------


def _leaf(node: Mapping[str, Any]) -> ColumnElement[bool]:
    name = node.get("field")
    column = FILTER_COLUMNS.get(str(name))
    if column is None:
        raise ValidationError(
            f"filterConditions field {name!r} is not one of {', '.join(FILTER_COLUMNS)}",
            field="filterConditions",
        )
    op, value = str(node.get("operator", "eq")), node.get("value")
    simple = {
        "eq": lambda: column == value,
        "neq": lambda: column != value,
        "gt": lambda: column > value,
        "gte": lambda: column >= value,
        "lt": lambda: column < value,
        "lte": lambda: column <= value,
        "in": lambda: column.in_(list(value or [])),
        "not_in": lambda: not_(column.in_(list(value or []))),
        "contains": lambda: column.contains(str(value)),
    }
    if op not in simple:
        raise ValidationError(f"filterConditions operator {op!r} is not supported", field="filterConditions")
    clause: ColumnElement[bool] = simple[op]()
    return clause


def filter_clause(node: Mapping[str, Any]) -> ColumnElement[bool]:
    """An and/or tree (``{and|all: []}``, ``{or|any: []}``, ``{conditions, combinator}``) as SQL."""
    for key, combine, empty in (
        ("and", and_, true),
        ("all", and_, true),
        ("or", or_, false),
        ("any", or_, false),
    ):
        if key in node:
            children = [filter_clause(child) for child in node[key]]
            return combine(*children) if children else empty()
    if "not" in node:
        return not_(filter_clause(node["not"]))
    if "conditions" in node:
        combinator = str(node.get("combinator", "AND")).upper()
        return filter_clause({"and" if combinator == "AND" else "or": node["conditions"]})
    return _leaf(node)


def _source(metric: BehavioralMetric) -> tuple[list[ColumnElement[bool]], Any]:
    """(row filter, aggregate expression) of the metric's sourceField and function."""
    source, fn = metric.source_field, metric.aggregate_function
    outcome = and_(Interaction.is_impression.is_(False), Interaction.interaction_type.not_in(NON_OUTCOMES))
    events: dict[str, ColumnElement[bool]] = {
        "impressions": Interaction.is_impression.is_(True),
        "positive": and_(outcome, Interaction.classification == "positive"),
        "negative": and_(outcome, Interaction.classification == "negative"),
        "neutral": and_(outcome, Interaction.classification == "neutral"),
        "converts": Interaction.interaction_type == "conversion",
    }
    if source in events:
        return [events[source]], func.count()
    where: list[ColumnElement[bool]] = (
        [Interaction.conversion_value.is_not(None)]
        if source == VALUE_SOURCE
        else [Interaction.interaction_type == source]
    )
    value = Interaction.conversion_value
    table: dict[str, Any] = {"count": func.count(), "sum": func.coalesce(func.sum(value), 0.0)}
    table.update({"avg": func.avg(value), "min": func.min(value), "max": func.max(value)})
    return where, table[fn]


def compute_select(repo: Repository, metric: BehavioralMetric, now: datetime) -> Select[Any]:
    """``SELECT customer_id[, dims], value ... GROUP BY customer_id[, dims]`` for one metric."""
    where, aggregate = _source(metric)
    where.append(Interaction.tenant_id == repo.ctx.tenant_id)
    if metric.window_days:
        where.append(Interaction.timestamp >= now - timedelta(days=metric.window_days))
    where.append(Interaction.timestamp <= now)
    if metric.filter_conditions:
        where.append(filter_clause(metric.filter_conditions))
    dims = [DIMENSIONS[d].label(d) for d in metric.group_by_dimensions]
    group = [Interaction.customer_id, *(DIMENSIONS[d] for d in metric.group_by_dimensions)]
    return (
        select(Interaction.customer_id.label("customer_id"), *dims, aggregate.label("value"))
        .where(*where)
        .group_by(*group)
    )


def value_key(metric: BehavioralMetric, row: Mapping[str, Any]) -> str:
    """``customerId`` or, for grouped metrics, ``customerId|offerId=...[|channelId=...]``."""
    parts = [str(row["customer_id"])]
    parts += [f"{d}={row[d]}" for d in metric.group_by_dimensions]
    return "|".join(parts)[:128]


def _number(value: Any) -> float | None:
    return None if value is None else float(value)


# ---- compute / preview -----------------------------------------------------------------------


async def _metrics_to_compute(repo: Repository, metric_id: str | None) -> list[BehavioralMetric]:
    if metric_id:
        return [await repo.get(BehavioralMetric, metric_id)]
    return await repo.all(
        BehavioralMetric, BehavioralMetric.status == "active", order_by=BehavioralMetric.name
    )


async def compute_metrics(
    repo: Repository, metric_id: str | None = None, now: datetime | None = None
) -> dict[str, Any]:
    """Recompute one metric (or every active one) and upsert the values, all in this transaction."""
    now = now or utcnow()
    results = [await _compute_one(repo, m, now) for m in await _metrics_to_compute(repo, metric_id)]
    return {"computedAt": now.isoformat().replace("+00:00", "Z"), "metrics": results}


async def _compute_one(repo: Repository, metric: BehavioralMetric, now: datetime) -> dict[str, Any]:
    rows = (await repo.session.execute(compute_select(repo, metric, now))).mappings().all()
    fresh = {value_key(metric, r): _number(r["value"]) for r in rows}
    existing_stmt = select(MetricValue.customer_id, MetricValue.id).where(
        repo.tenant_filter(MetricValue), MetricValue.metric_id == metric.id
    )
    existing = {cid: vid for cid, vid in (await repo.session.execute(existing_stmt)).all()}
    zero_stale = metric.aggregate_function in ("count", "sum")
    stale = [k for k in existing if k not in fresh]
    updates = [
        {"id": existing[k], "value": v, "computed_at": now, "updated_at": now}
        for k, v in fresh.items()
        if k in existing
    ]
    if zero_stale:
        updates += [{"id": existing[k], "value": 0.0, "computed_at": now, "updated_at": now} for k in stale]
    elif stale:
        await repo.session.execute(
            delete(MetricValue).where(MetricValue.id.in_([existing[k] for k in stale]))
        )
    inserts = [_new_value(repo, metric, k, v, now) for k, v in fresh.items() if k not in existing]
    if updates:
        await repo.session.execute(update(MetricValue), updates)
    if inserts:
        await repo.session.execute(insert(MetricValue), inserts)
    await repo.update(BehavioralMetric, metric, {"last_computed_at": now}, audit_action="compute")
    return {
        "metricId": metric.id,
        "name": metric.name,
        "customers": len(fresh),
        "inserted": len(inserts),
        "updated": len(fresh) - len(inserts),
        "zeroed": len(stale) if zero_stale else 0,
        "removed": 0 if zero_stale else len(stale),
    }


def _new_value(
    repo: Repository, metric: BehavioralMetric, key: str, value: float | None, now: datetime
) -> dict[str, Any]:
    return {
        "id": new_id(MetricValue.__prefix__),
        "tenant_id": repo.ctx.tenant_id,
        "metric_id": metric.id,
        "customer_id": key,
        "value": value,
        "computed_at": now,
        "created_at": now,
        "updated_at": now,
    }


async def preview_metric(
    repo: Repository,
    metric_id: str,
    customer_id: str | None = None,
    limit: int = 10,
    now: datetime | None = None,
) -> dict[str, Any]:
    """Values as they would be computed now (not stored), top values first, plus a distribution."""
    now = now or utcnow()
    metric = await repo.get(BehavioralMetric, metric_id)
    query = compute_select(repo, metric, now)
    if customer_id:
        query = query.where(Interaction.customer_id == customer_id)
    sub = query.subquery()
    summary_stmt = select(func.count(), func.min(sub.c.value), func.max(sub.c.value), func.avg(sub.c.value))
    count, low, high, mean = (await repo.session.execute(summary_stmt)).one()
    sample_stmt = select(sub).order_by(sub.c.value.desc(), sub.c.customer_id).limit(limit)
    sample = [
        {"key": value_key(metric, dict(r)), "customerId": r["customer_id"], "value": _number(r["value"])}
        for r in (await repo.session.execute(sample_stmt)).mappings().all()
    ]
    stored = await repo.count(MetricValue, MetricValue.metric_id == metric.id)
    return {
        "metricId": metric.id,
        "name": metric.name,
        "windowDays": metric.window_days,
        "customers": int(count),
        "min": _number(low),
        "max": _number(high),
        "avg": None if mean is None else round(float(mean), 6),
        "sample": sample,
        "storedValues": stored,
        "lastComputedAt": metric.to_dict()["lastComputedAt"],
    }


# ---- rules -----------------------------------------------------------------------------------


async def create_metric_rule(
    repo: Repository,
    *,
    metric_id: str,
    operator: str,
    value: float,
    target: str = "qualification_rule",
    name: str | None = None,
    scope: str = "global",
    scope_id: str | None = None,
) -> dict[str, Any]:
    """A ``metric_condition`` qualification rule (offer passes while the condition holds) or
    contact policy (contact blocked while it holds), active immediately."""
    metric = await repo.get(BehavioralMetric, metric_id)
    if operator not in RULE_OPERATORS:
        raise ValidationError(f"operator must be one of {', '.join(RULE_OPERATORS)}", field="operator")
    if scope not in SCOPES:
        raise ValidationError(f"scope must be one of {', '.join(SCOPES)}", field="scope")
    if scope != "global" and not scope_id:
        raise ValidationError(f"scope {scope} needs a scopeId (otherwise it acts globally)", field="scopeId")
    model = QualificationRule if target == "qualification_rule" else ContactPolicy
    if target not in ("qualification_rule", "contact_policy"):
        raise ValidationError("target must be qualification_rule or contact_policy", field="target")
    rule_name = name or f"{metric.name} {operator} {value:g}"
    if await repo.find(model, name=rule_name) is not None:
        raise ConflictError(f"a {model.__entity__} named {rule_name!r} already exists", field="name")
    values: dict[str, Any] = {
        "name": rule_name,
        "description": f"Gate on behavioral metric {metric.name}",
        "rule_type": "metric_condition",
        "scope": scope,
        "scope_id": scope_id,
        "config": {"metricId": metric.id, "metricName": metric.name, "operator": operator, "value": value},
        "status": "active",
    }
    if model is QualificationRule:
        values["stage"] = resolve_stage("metric_condition", None)
    rule = await repo.create(model, values)
    out = rule.to_dict()
    out.pop("tenantId", None)
    out["target"] = target
    return out
