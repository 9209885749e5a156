"""Operations (spec §2.1, §2.24-2.26): KPIs, alert rules, audit trail, approvals, tenant settings.

KPIs are aggregated by the database over interactions or decision traces for a time
window; alerts reuse exactly the same metric function over their own window, so a
dashboard number and an alert can never disagree about what "ctr" means.
"""

from __future__ import annotations

import copy
import math
import re
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any, Final
from zoneinfo import available_timezones

from sqlalchemy import Select, case, func, select
from sqlalchemy.sql.elements import ColumnElement

from kaireon_mcp.core.data import day_bucket, dialect_of, json_array_length
from kaireon_mcp.core.operators import compare
from kaireon_mcp.errors import ConflictError, ForbiddenError, NotFoundError, ValidationError
from kaireon_mcp.storage.audit import verify_chain
from kaireon_mcp.storage.repository import Repository
from kaireon_mcp.storage.tables import (
    AlertRule,
    AlgorithmModel,
    ApprovalRequest,
    AuditLog,
    Base,
    Channel,
    ContactPolicy,
    Creative,
    DecisionFlow,
    DecisionFlowNode,
    DecisionFlowVersion,
    DecisionTrace,
    Interaction,
    Offer,
    QualificationRule,
    RankingProfile,
    Tenant,
)
from kaireon_mcp.storage.types import utcnow

# ---------------------------------------------------------------------------------------------
# KPI metrics
# ---------------------------------------------------------------------------------------------

PERIOD_DAYS: Final = {"day": 1, "week": 7, "month": 30}
INTERACTION_METRICS: Final = (
    "impressions",
    "clicks",
    "conversions",
    "revenue",
    "ctr",
    "cvr",
    "acceptance_rate",
)
TRACE_METRICS: Final = ("decision_count", "selection_frequency", "degraded_scoring_rate", "latency_p99")
METRICS: Final = INTERACTION_METRICS + TRACE_METRICS
UNITS: Final = {
    "impressions": "count",
    "clicks": "count",
    "conversions": "count",
    "decision_count": "count",
    "revenue": "currency",
    "latency_p99": "ms",
}
RATIOS: Final = frozenset({"ctr", "cvr", "acceptance_rate", "selection_frequency", "degraded_scoring_rate"})
DEFINITIONS: Final = {
    "impressions": "interactions flagged as impressions",
    "clicks": "interactions of type click",
    "conversions": "interactions of type conversion",
    "revenue": "sum of conversionValue",
    "ctr": "clicks / impressions",
    "cvr": "conversions / clicks",
    "acceptance_rate": "positive outcomes / impressions",
    "decision_count": "decision traces",
    "selection_frequency": "traces with >=1 selected offer / traces",
    "degraded_scoring_rate": "traces with degraded scoring / traces",
    "latency_p99": "nearest-rank p99 of trace totalDurationMs",
}


def _flag(condition: ColumnElement[bool]) -> ColumnElement[Any]:
    return func.coalesce(func.sum(case((condition, 1), else_=0)), 0)


def _interaction_parts(metric: str) -> tuple[ColumnElement[Any], ColumnElement[Any] | None]:
    """(numerator, denominator) aggregates; the denominator is None for plain totals."""
    impressions = _flag(Interaction.is_impression.is_(True))
    clicks = _flag(Interaction.interaction_type == "click")
    conversions = _flag(Interaction.interaction_type == "conversion")
    positive = _flag(
        (Interaction.classification == "positive")
        & Interaction.is_impression.is_(False)
        & Interaction.interaction_type.not_in(("recommendation", "impression"))
    )
    parts: dict[str, tuple[ColumnElement[Any], ColumnElement[Any] | None]] = {
        "impressions": (impressions, None),
        "clicks": (clicks, None),
        "conversions": (conversions, None),
        "revenue": (func.coalesce(func.sum(Interaction.conversion_value), 0.0), None),
        "ctr": (clicks, impressions),
        "cvr": (conversions, clicks),
        "acceptance_rate": (positive, impressions),
    }
    return parts[metric]


def _trace_parts(dialect: str, metric: str) -> tuple[ColumnElement[Any], ColumnElement[Any] | None]:
    total = func.count()
    if metric == "selection_frequency":
        return _flag(json_array_length(dialect, DecisionTrace.selected_offers) > 0), total
    if metric == "degraded_scoring_rate":
        return _flag(DecisionTrace.degraded_scoring.is_(True)), total
    return total, None


@dataclass(frozen=True)
class Window:
    start: datetime
    end: datetime


@dataclass(frozen=True)
class Slice:
    """Filters and grouping of one KPI query; ``by`` holds any of ``day``, ``offer``, ``channel``."""

    offer_id: str | None = None
    channel_id: str | None = None
    by: tuple[str, ...] = ()


def _keys(dialect: str, metric: str, by: Sequence[str]) -> list[ColumnElement[Any]]:
    traces = metric in TRACE_METRICS
    time_col = DecisionTrace.created_at if traces else Interaction.timestamp
    columns = {
        "day": day_bucket(dialect, time_col),
        "channel": DecisionTrace.channel_id if traces else Interaction.channel_id,
    }
    if not traces:
        columns["offer"] = Interaction.offer_id
    missing = [b for b in by if b not in columns]
    if missing:
        raise ValidationError(
            f"{metric} comes from decision traces, which have no offer dimension", field="groupBy"
        )
    return [columns[b].label(f"k_{b}") for b in by]


def _where(repo: Repository, metric: str, window: Window, where: Slice) -> list[ColumnElement[bool]]:
    if metric in TRACE_METRICS:
        if where.offer_id:
            raise ValidationError(f"{metric} cannot be filtered by offerId", field="offerId")
        clauses = [
            repo.tenant_filter(DecisionTrace),
            DecisionTrace.created_at >= window.start,
            DecisionTrace.created_at <= window.end,
        ]
        if where.channel_id:
            clauses.append(DecisionTrace.channel_id == where.channel_id)
        return clauses
    clauses = [
        repo.tenant_filter(Interaction),
        Interaction.timestamp >= window.start,
        Interaction.timestamp <= window.end,
    ]
    if where.offer_id:
        clauses.append(Interaction.offer_id == where.offer_id)
    if where.channel_id:
        clauses.append(Interaction.channel_id == where.channel_id)
    return clauses


def _ratio_select(repo: Repository, metric: str, window: Window, where: Slice) -> Select[Any]:
    dialect = dialect_of(repo)
    keys = _keys(dialect, metric, where.by)
    if metric in TRACE_METRICS:
        num, den = _trace_parts(dialect, metric)
        table: type[Base] = DecisionTrace
    else:
        num, den = _interaction_parts(metric)
        table = Interaction
    columns = [*keys, num.label("num"), (den if den is not None else func.count()).label("den")]
    stmt = select(*columns).select_from(table).where(*_where(repo, metric, window, where))
    return stmt.group_by(*keys) if keys else stmt


def _p99_select(repo: Repository, window: Window, where: Slice) -> Select[Any]:
    """Nearest-rank p99 per key: the smallest value whose row number reaches 0.99 x count."""
    keys = _keys(dialect_of(repo), "latency_p99", where.by)
    x = DecisionTrace.total_duration_ms
    partition = list(keys) or None
    inner = select(
        *keys,
        x.label("x"),
        func.row_number().over(partition_by=partition, order_by=x).label("rn"),
        func.count().over(partition_by=partition).label("cnt"),
    ).where(*_where(repo, "latency_p99", window, where))
    sub = inner.subquery()
    outer_keys = [sub.c[f"k_{b}"] for b in where.by]
    stmt = select(*outer_keys, func.min(sub.c.x).label("num"), func.count().label("den")).where(
        sub.c.rn >= 0.99 * sub.c.cnt
    )
    return stmt.group_by(*outer_keys) if outer_keys else stmt


def _value(metric: str, num: Any, den: Any) -> float | None:
    if metric == "latency_p99":
        return None if num is None else round(float(num), 3)
    if metric in RATIOS:
        return None if not den else round(float(num or 0) / float(den), 6)
    number = float(num or 0)
    return round(number, 2) if metric == "revenue" else number


async def measure(
    repo: Repository, metric: str, window: Window, where: Slice | None = None
) -> list[tuple[tuple[Any, ...], float | None]]:
    """``[(group key values, metric value)]`` for the window; one row with key ``()`` when ungrouped."""
    if metric not in METRICS:
        raise ValidationError(f"unknown metric {metric!r}; use one of {', '.join(METRICS)}", field="metric")
    where = where or Slice()
    stmt = (
        _p99_select(repo, window, where)
        if metric == "latency_p99"
        else _ratio_select(repo, metric, window, where)
    )
    rows = (await repo.session.execute(stmt)).all()
    width = len(where.by)
    out = [(tuple(row[:width]), _value(metric, row[width], row[width + 1])) for row in rows]
    if not width and not out:
        out = [((), _value(metric, None, 0))]
    return out


async def metric_value(
    repo: Repository, metric: str, window: Window, offer_id: str | None = None, channel_id: str | None = None
) -> float | None:
    rows = await measure(repo, metric, window, Slice(offer_id, channel_id))
    return rows[0][1] if rows else None


def _iso(moment: datetime) -> str:
    return moment.isoformat().replace("+00:00", "Z")


def _days(window: Window) -> list[str]:
    first: date = window.start.date()
    return [(first + timedelta(days=i)).isoformat() for i in range((window.end.date() - first).days + 1)]


async def _names(repo: Repository, group_by: str, ids: Sequence[Any]) -> dict[str, str]:
    model: type[Offer] | type[Channel] = Offer if group_by == "offer" else Channel
    rows = await repo.session.execute(
        select(model.id, model.name).where(repo.tenant_filter(model), model.id.in_([i for i in ids if i]))
    )
    return {str(rid): str(name) for rid, name in rows.all()}


async def query_metric(
    repo: Repository,
    metric: str,
    period: str = "week",
    group_by: str = "none",
    offer_id: str | None = None,
    channel_id: str | None = None,
    now: datetime | None = None,
) -> dict[str, Any]:
    """The KPI over the last day/week/month: total value, a per-day series and optional groups."""
    if period not in PERIOD_DAYS:
        raise ValidationError("period must be day, week or month", field="period")
    end = now or utcnow()
    window = Window(end - timedelta(days=PERIOD_DAYS[period]), end)
    total = await metric_value(repo, metric, window, offer_id, channel_id)
    daily = dict(await measure(repo, metric, window, Slice(offer_id, channel_id, ("day",))))
    zero = None if metric in RATIOS or metric == "latency_p99" else 0.0
    series = [{"date": day, "value": daily.get((day,), zero)} for day in _days(window)]
    out: dict[str, Any] = {
        "metric": metric,
        "definition": DEFINITIONS[metric],
        "unit": UNITS.get(metric, "ratio"),
        "period": period,
        "from": _iso(window.start),
        "to": _iso(window.end),
        "groupBy": group_by,
        "value": total,
        "series": series,
    }
    if group_by != "none":
        groups = await measure(repo, metric, window, Slice(offer_id, channel_id, (group_by,)))
        names = await _names(repo, group_by, [key[0] for key, _ in groups])
        ranked = sorted(groups, key=lambda g: (g[1] is None, -(g[1] or 0)))
        out["groups"] = [{"id": k[0], "name": names.get(str(k[0])), "value": v} for k, v in ranked[:50]]
    return out


# ---------------------------------------------------------------------------------------------
# Alerts
# ---------------------------------------------------------------------------------------------

ALERT_OPERATORS: Final = ("gt", "lt", "gte", "lte", "eq")
CHANNEL_TYPES: Final = ("webhook", "email", "slack", "teams")


def alert_out(rule: AlertRule) -> dict[str, Any]:
    out = rule.to_dict()
    out.pop("tenantId", None)
    out.pop("deletedAt", None)
    return out


async def evaluate_alert(repo: Repository, rule: AlertRule, now: datetime) -> dict[str, Any]:
    """Current value over the rule's window and whether the threshold condition holds."""
    window = Window(now - timedelta(minutes=rule.window_minutes), now)
    if rule.metric not in METRICS:
        return {**alert_out(rule), "currentValue": None, "state": "ok", "note": "metric not measurable here"}
    value = await metric_value(repo, rule.metric, window)
    firing = rule.enabled and value is not None and compare(value, rule.operator, rule.threshold)
    cooldown_until = (
        rule.last_fired_at + timedelta(minutes=rule.cooldown_minutes) if rule.last_fired_at else None
    )
    return {
        **alert_out(rule),
        "currentValue": value,
        "state": "firing" if firing else "ok",
        "windowFrom": _iso(window.start),
        "inCooldown": bool(cooldown_until and cooldown_until > now),
    }


async def list_alerts(
    repo: Repository, status: str | None = None, enabled: bool | None = None, now: datetime | None = None
) -> dict[str, Any]:
    now = now or utcnow()
    where = [] if enabled is None else [AlertRule.enabled.is_(enabled)]
    rules = await repo.all(AlertRule, *where, order_by=[AlertRule.name, AlertRule.id])
    items = [await evaluate_alert(repo, rule, now) for rule in rules]
    if status:
        items = [i for i in items if i["state"] == status]
    return {"items": items, "total": len(items), "evaluatedAt": _iso(now)}


def _channel_problem(i: int, channel: Any) -> str | None:
    if not isinstance(channel, dict):
        return f"channels[{i}]: must be an object"
    if channel.get("destinationId") or channel.get("id"):
        return None
    kind, target = channel.get("type"), channel.get("target")
    if kind not in CHANNEL_TYPES or not isinstance(target, str) or not target:
        return f"channels[{i}]: give destinationId, or type ({'|'.join(CHANNEL_TYPES)}) and target"
    if kind == "email" and "@" not in target:
        return f"channels[{i}].target: not an email address"
    if kind != "email" and not re.match(r"^https?://", target):
        return f"channels[{i}].target: must be an http(s) URL"
    return None


async def create_alert_rule(
    repo: Repository,
    *,
    name: str,
    metric: str,
    operator: str,
    threshold: float,
    channels: Sequence[Any],
    window_minutes: int = 5,
    cooldown_minutes: int = 60,
    enabled: bool = True,
) -> dict[str, Any]:
    if metric not in METRICS:
        raise ValidationError(f"metric must be one of {', '.join(METRICS)}", field="metric")
    if operator not in ALERT_OPERATORS:
        raise ValidationError(f"operator must be one of {', '.join(ALERT_OPERATORS)}", field="operator")
    if not math.isfinite(threshold):
        raise ValidationError("threshold must be a finite number", field="threshold")
    if not channels:
        raise ValidationError("at least one notification channel is required", field="channels")
    problems = [p for i, c in enumerate(channels) if (p := _channel_problem(i, c))]
    if problems:
        raise ValidationError("; ".join(problems), field="channels")
    if not 1 <= window_minutes <= 10080 or not 0 <= cooldown_minutes <= 10080:
        raise ValidationError(
            "windowMinutes must be 1-10080 and cooldownMinutes 0-10080", field="windowMinutes"
        )
    if await repo.find(AlertRule, name=name) is not None:
        raise ConflictError(f"an alert rule named {name!r} already exists", field="name")
    rule = await repo.create(
        AlertRule,
        {
            "name": name,
            "metric": metric,
            "operator": operator,
            "threshold": threshold,
            "channels": list(channels),
            "window_minutes": window_minutes,
            "cooldown_minutes": cooldown_minutes,
            "enabled": enabled,
        },
    )
    return await evaluate_alert(repo, rule, utcnow())


# ---------------------------------------------------------------------------------------------
# Audit log
# ---------------------------------------------------------------------------------------------


def _parse_time(value: str | None, name: str) -> datetime | None:
    if not value:
        return None
    try:
        moment = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        raise ValidationError(f"{name} must be an ISO date or timestamp", field=name) from None
    return moment if moment.tzinfo else moment.replace(tzinfo=utcnow().tzinfo)


async def query_audit_log(
    repo: Repository,
    *,
    entity_type: str | None = None,
    entity_id: str | None = None,
    action: str | None = None,
    start_date: str | None = None,
    end_date: str | None = None,
    page: int = 1,
    limit: int = 50,
) -> dict[str, Any]:
    """Filtered entries newest first (field diffs, not full snapshots) plus a full chain check."""
    repo.ctx.require_role("admin", "reading the audit log")
    if page < 1 or not 1 <= limit <= 100:
        raise ValidationError("page must be >= 1 and limit 1-100", field="limit")
    where: list[ColumnElement[bool]] = []
    for column, value in (
        (AuditLog.entity_type, entity_type),
        (AuditLog.entity_id, entity_id),
        (AuditLog.action, action),
    ):
        if value:
            where.append(column == value)
    start, end = _parse_time(start_date, "startDate"), _parse_time(end_date, "endDate")
    if start:
        where.append(AuditLog.timestamp >= start)
    if end:
        where.append(AuditLog.timestamp <= (end + timedelta(days=1) if len(end_date or "") == 10 else end))
    total = await repo.count(AuditLog, *where)
    stmt = (
        repo.scoped(AuditLog)
        .where(*where)
        .order_by(AuditLog.seq.desc())
        .offset((page - 1) * limit)
        .limit(limit)
    )
    entries = (await repo.session.execute(stmt)).scalars().all()
    items = []
    for entry in entries:
        data = entry.to_dict()
        for key in ("before", "after", "tenantId"):
            data.pop(key, None)
        items.append(data)
    chain = list((await repo.session.execute(repo.scoped(AuditLog).order_by(AuditLog.seq))).scalars().all())
    verify = {**verify_chain(chain), "total": len(chain)}
    return {"items": items, "total": total, "page": page, "limit": limit, "verify": verify}


# ---------------------------------------------------------------------------------------------
# Approvals
# ---------------------------------------------------------------------------------------------

APPROVAL_MODELS: Final[Mapping[str, type[Base]]] = {
    "offer": Offer,
    "creative": Creative,
    "channel": Channel,
    "qualificationRule": QualificationRule,
    "qualification_rule": QualificationRule,
    "contactPolicy": ContactPolicy,
    "contact_policy": ContactPolicy,
    "decisionFlow": DecisionFlow,
    "decision_flow": DecisionFlow,
    "algorithmModel": AlgorithmModel,
    "algorithm_model": AlgorithmModel,
    "model": AlgorithmModel,
    "arbitrationProfile": RankingProfile,
    "rankingProfile": RankingProfile,
    "ranking_profile": RankingProfile,
}
PROTECTED_FIELDS: Final = frozenset({"id", "tenant_id", "created_at", "updated_at", "version", "deleted_at"})
DEFAULT_STAGE: Final = {"stageName": "approval", "requiredRole": "admin"}


def _stages(request: ApprovalRequest) -> list[dict[str, Any]]:
    stages = copy.deepcopy(request.stages) or [dict(DEFAULT_STAGE)]
    for index, stage in enumerate(stages):
        stage.setdefault("ordinal", index)
        stage.setdefault("status", "pending")
        stage.setdefault("requiredRole", "admin")
    return sorted(stages, key=lambda s: s["ordinal"])


def approval_out(request: ApprovalRequest) -> dict[str, Any]:
    out = request.to_dict()
    out.pop("tenantId", None)
    stages = _stages(request)
    out["stages"] = stages
    current = next((s for s in stages if s["status"] == "pending"), None)
    out["currentStage"] = current if request.status == "pending" else None
    return out


async def list_approvals(repo: Repository, status: str = "pending") -> dict[str, Any]:
    rows = await repo.all(
        ApprovalRequest,
        ApprovalRequest.status == status,
        order_by=[ApprovalRequest.created_at.desc(), ApprovalRequest.id],
    )
    return {"items": [approval_out(r) for r in rows[:100]], "total": len(rows)}


async def tenant_settings(repo: Repository) -> dict[str, Any]:
    tenant = await repo.session.get(Tenant, repo.ctx.tenant_id)
    if tenant is None:
        raise NotFoundError(f"tenant {repo.ctx.tenant_id!r} not found", field="tenantId")
    return dict(tenant.settings or {})


async def four_eyes_enabled(repo: Repository) -> bool:
    """Fail closed: if the settings cannot be read, the gate is enforced."""
    try:
        settings = await tenant_settings(repo)
    except Exception:
        return True
    governance = (settings.get("aiAnalyzerSettings") or {}).get("governance") or {}
    return bool(governance.get("fourEyesEnabled", False))


def _snake(name: str) -> str:
    return re.sub(r"(?<!^)(?=[A-Z])", "_", name).lower()


def entity_values(model: type[Base], payload: Mapping[str, Any]) -> dict[str, Any]:
    """camelCase payload to column values; unknown fields refuse the apply rather than vanish."""
    columns = {c.key: c for c in model.__table__.columns}
    values: dict[str, Any] = {}
    unknown = []
    for key, value in payload.items():
        column = "metadata_" if key == "metadata" else _snake(key)
        if column in PROTECTED_FIELDS:
            continue
        if column not in columns:
            unknown.append(key)
            continue
        if isinstance(value, str) and columns[column].type.python_type is datetime:
            value = _parse_time(value, key)
        values[column] = value
    if unknown:
        raise ValidationError(
            f"approval payload has fields {model.__entity__} does not have: {', '.join(unknown)}",
            field="payload",
        )
    return values


async def publish_flow(repo: Repository, flow_id: str, notes: str = "") -> DecisionFlow:
    """Snapshot the draft nodes as the next published version and activate the flow."""
    flow = await repo.get(DecisionFlow, flow_id)
    nodes = await repo.all(
        DecisionFlowNode, DecisionFlowNode.flow_id == flow.id, order_by=DecisionFlowNode.position
    )
    version = (flow.published_version or 0) + 1
    snapshot = {
        "version": 2,
        "nodes": [{"id": n.node_key, "type": n.type, "config": n.config} for n in nodes],
        "flowConfig": flow.flow_config,
    }
    await repo.create(
        DecisionFlowVersion,
        {
            "flow_id": flow.id,
            "version": version,
            "published_by": repo.ctx.actor,
            "notes": notes,
            "config_snapshot": snapshot,
        },
    )
    return await repo.update(
        DecisionFlow,
        flow,
        {"status": "active", "published_version": version, "protected": True},
        audit_action="publish",
    )


async def apply_payload(repo: Repository, request: ApprovalRequest) -> dict[str, Any]:
    """Carry out the approved change on the entity; any failure rolls the decision back too."""
    model = APPROVAL_MODELS.get(request.entity_type)
    if model is None:
        raise ValidationError(f"approvals cannot apply changes to {request.entity_type}", field="entityType")
    payload = dict(request.payload or {})
    action = request.action
    if action == "create":
        row = await repo.create(model, entity_values(model, payload))
        return {"entityType": request.entity_type, "entityId": str(row.id), "action": action}  # type: ignore[attr-defined]
    if not request.entity_id:
        raise ValidationError(f"a {action} approval needs an entityId", field="entityId")
    if action == "update":
        await repo.update(model, request.entity_id, entity_values(model, payload))
    elif action == "delete":
        await repo.delete(model, request.entity_id)
    elif action == "publish" and model is DecisionFlow:
        changes = entity_values(model, {k: v for k, v in payload.items() if k != "notes"})
        if changes:
            await repo.update(model, request.entity_id, changes)
        await publish_flow(repo, request.entity_id, str(payload.get("notes", "")))
    elif action == "publish":
        await repo.update(model, request.entity_id, {"status": "active", **entity_values(model, payload)})
    else:
        raise ValidationError(f"unknown approval action {action!r}", field="action")
    return {"entityType": request.entity_type, "entityId": request.entity_id, "action": action}


Applier = Callable[[ApprovalRequest], Awaitable[dict[str, Any]]]


async def decide_approval(
    repo: Repository,
    approval_id: str,
    action: str,
    comments: str = "",
    appliers: Mapping[str, Applier] | None = None,
) -> dict[str, Any]:
    """Decide the first pending stage; approving the last stage applies the payload.

    ``appliers`` carry out approved changes of entity types this module does not own (a
    queued playbook plan), inside the same transaction as the decision.
    """
    if action not in ("approve", "reject"):
        raise ValidationError("action must be approve or reject", field="action")
    request = await repo.get(ApprovalRequest, approval_id)
    if request.status != "pending":
        raise ConflictError(f"approval {request.id} is already {request.status}", field="approvalId")
    stages = _stages(request)
    stage = next(s for s in stages if s["status"] == "pending")
    repo.ctx.require_role(stage["requiredRole"], f"deciding stage {stage.get('stageName')!r}")
    approver = repo.ctx.user_id or repo.ctx.api_key_id
    if await four_eyes_enabled(repo):
        if approver is None:
            raise ForbiddenError("four-eyes approval is on and this caller has no user identity")
        if approver == request.requester_id:
            raise ForbiddenError("four-eyes approval is on: a requester cannot approve their own request")
    now = _iso(utcnow())
    stage.update(
        {"status": "approved" if action == "approve" else "rejected", "decidedBy": approver, "decidedAt": now}
    )
    if comments:
        stage["comments"] = comments
    decision = {
        "stage": stage.get("stageName"),
        "action": action,
        "by": approver,
        "at": now,
        "comments": comments,
    }
    last = all(s["status"] == "approved" for s in stages)
    status = "rejected" if action == "reject" else ("approved" if last else "pending")
    applier = (appliers or {}).get(request.entity_type)
    if status != "approved":
        applied = None
    elif applier is not None:
        applied = await applier(request)
    else:
        applied = await apply_payload(repo, request)
    changes: dict[str, Any] = {
        "stages": stages,
        "status": status,
        "decisions": [*request.decisions, decision],
    }
    if applied and request.action == "create":
        changes["entity_id"] = applied["entityId"]
    request = await repo.update(ApprovalRequest, request, changes, audit_action=action)
    return {**approval_out(request), "applied": applied}


# ---------------------------------------------------------------------------------------------
# Tenant settings
# ---------------------------------------------------------------------------------------------

BOOL_KEYS: Final = frozenset(
    {
        "decisionTraceEnabled",
        "enableExperiments",
        "enableBudgets",
        "enableJourneys",
        "enableContentManagement",
        "enableBehavioralMetrics",
        "enableGuardrails",
        "approvalWorkflowEnabled",
        "requirePublishApproval",
        "mfaRequired",
        "flowIrEnabled",
    }
)
RANGES: Final[Mapping[str, tuple[float, float, bool]]] = {
    "decisionTraceSampleRate": (0, 1, False),
    "holdoutPercentage": (0, 100, False),
    "maxOffersPerDecision": (1, 100, True),
    "defaultChannelTimeout": (100, 60000, True),
    "retentionDays": (1, 3650, True),
}
STRING_KEYS: Final = frozenset(
    {"defaultRankingProfileId", "defaultArbitrationProfileId", "theme", "locale", "timezone"}
)
OBJECT_KEYS: Final = frozenset({"mlWorker", "aiAnalyzerSettings", "aiProvider"})
READ_ONLY_KEYS: Final = frozenset({"demoSeed"})
MASK: Final = "••••••••"


def _check_number(key: str, value: Any) -> str | None:
    low, high, integer = RANGES[key]
    if isinstance(value, bool) or not isinstance(value, int | float):
        return f"{key}: must be a number"
    if integer and not float(value).is_integer():
        return f"{key}: must be an integer"
    if not low <= value <= high:
        return f"{key}: must be between {low:g} and {high:g}"
    return None


def _check_nested(key: str, value: Mapping[str, Any]) -> list[str]:
    problems = []
    if key == "mlWorker":
        if "url" in value and value["url"] is not None and not re.match(r"^https?://", str(value["url"])):
            problems.append("mlWorker.url: must be an http(s) URL")
        if "enabled" in value and not isinstance(value["enabled"], bool):
            problems.append("mlWorker.enabled: must be true or false")
    if key == "aiAnalyzerSettings":
        governance = value.get("governance")
        if governance is not None and not isinstance(governance, dict):
            problems.append("aiAnalyzerSettings.governance: must be an object")
        elif (
            governance
            and "fourEyesEnabled" in governance
            and not isinstance(governance["fourEyesEnabled"], bool)
        ):
            problems.append("aiAnalyzerSettings.governance.fourEyesEnabled: must be true or false")
        flag = value.get("llmExplanationsEnabled")
        if flag is not None and not isinstance(flag, bool):
            problems.append("aiAnalyzerSettings.llmExplanationsEnabled: must be true or false")
    return problems


def _check_setting(key: str, value: Any) -> list[str]:
    if value is None:
        return []
    if key in READ_ONLY_KEYS:
        return [f"{key}: is maintained by the server"]
    if key in BOOL_KEYS:
        return [] if isinstance(value, bool) else [f"{key}: must be true or false"]
    if key in RANGES:
        problem = _check_number(key, value)
        return [problem] if problem else []
    if key in STRING_KEYS:
        if not isinstance(value, str):
            return [f"{key}: must be a string"]
        if key == "timezone" and value not in available_timezones():
            return [f"timezone: unknown IANA zone {value!r}"]
        return []
    if key in OBJECT_KEYS:
        return _check_nested(key, value) if isinstance(value, dict) else [f"{key}: must be an object"]
    return []


def deep_merge(base: Mapping[str, Any], patch: Mapping[str, Any]) -> dict[str, Any]:
    """Objects merge recursively, other values replace, ``null`` removes the key."""
    out = copy.deepcopy(dict(base))
    for key, value in patch.items():
        if value is None:
            out.pop(key, None)
        elif isinstance(value, Mapping) and isinstance(out.get(key), Mapping):
            out[key] = deep_merge(out[key], value)
        else:
            out[key] = copy.deepcopy(value)
    return out


def public_settings(settings: Mapping[str, Any]) -> dict[str, Any]:
    """Settings as clients may see them: stored provider keys are replaced by a mask."""
    out = copy.deepcopy(dict(settings))
    provider = out.get("aiProvider")
    if isinstance(provider, dict):
        if provider.pop("apiKeyEncrypted", None) or provider.get("apiKey"):
            provider["apiKey"] = MASK
    return out


async def get_tenant_settings(repo: Repository) -> dict[str, Any]:
    return {"tenantId": repo.ctx.tenant_id, "settings": public_settings(await tenant_settings(repo))}


def _seal_provider_key(repo: Repository, patch: dict[str, Any]) -> None:
    provider = patch.get("aiProvider")
    if not isinstance(provider, dict) or not provider.get("apiKey") or provider["apiKey"] == MASK:
        if isinstance(provider, dict):
            provider.pop("apiKey", None)
        return
    if repo.box is None:
        raise ValidationError("no encryption key is configured for storing provider keys", field="aiProvider")
    provider["apiKeyEncrypted"] = repo.box.encrypt_json({"apiKey": provider.pop("apiKey")})


async def update_tenant_settings(repo: Repository, patch: Mapping[str, Any]) -> dict[str, Any]:
    """Validate the known keys of a partial update, deep-merge it and audit the change."""
    if not patch:
        raise ValidationError("settings must contain at least one key", field="settings")
    problems = [p for key, value in patch.items() for p in _check_setting(key, value)]
    if problems:
        raise ValidationError("invalid settings: " + "; ".join(problems), field="settings", problems=problems)
    known = BOOL_KEYS | set(RANGES) | STRING_KEYS | OBJECT_KEYS | {"enableGuardrails"}
    warnings = [f"{k}: not a documented setting; stored as given" for k in patch if k not in known]
    clean = copy.deepcopy(dict(patch))
    _seal_provider_key(repo, clean)
    tenant = await repo.session.get(Tenant, repo.ctx.tenant_id)
    if tenant is None:
        raise NotFoundError(f"tenant {repo.ctx.tenant_id!r} not found", field="tenantId")
    before = dict(tenant.settings or {})
    tenant.settings = deep_merge(before, clean)
    tenant.updated_at = utcnow()
    await repo.session.flush()
    await repo.audit.record(
        "update",
        "tenant_settings",
        tenant.id,
        tenant.name,
        public_settings(before),
        public_settings(tenant.settings),
    )
    return {"tenantId": tenant.id, "settings": public_settings(tenant.settings), "warnings": warnings}
