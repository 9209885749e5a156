"""Operations tools (tool-catalog.md §2.9): KPIs, alerts, audit log, approvals, tenant settings."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import Field

from kaireon_mcp.core import operations as ops
from kaireon_mcp.tools.common import EntityOut, entity_out, repo_for
from kaireon_mcp.tools.registry import NoArgs, ToolContext, ToolInput, tool


class QueryMetricIn(ToolInput):
    metric: str = Field(
        description="acceptance_rate|ctr|cvr|revenue|impressions|clicks|conversions|selection_frequency|"
        "latency_p99|degraded_scoring_rate|decision_count"
    )
    period: Literal["day", "week", "month"] = "week"
    groupBy: Literal["offer", "channel", "none"] = "none"
    offerId: str | None = None
    channelId: str | None = None


@tool(
    "queryMetric",
    title="Query a KPI",
    description="Compute a platform KPI for the last day/week/month: total, daily series, optional groups.",
    module="operations",
    routes=("all",),
)
async def query_metric(ctx: ToolContext, args: QueryMetricIn) -> EntityOut:
    async with repo_for(ctx) as repo:
        result = await ops.query_metric(
            repo, args.metric, args.period, args.groupBy, args.offerId, args.channelId
        )
    return entity_out(result)


class ListAlertsIn(ToolInput):
    status: Literal["ok", "firing"] | None = None
    enabled: bool | None = None


@tool(
    "listAlerts",
    title="List alerts",
    description="List alert rules with each one's current metric value and state (ok or firing).",
    module="operations",
    routes=("all",),
)
async def list_alerts(ctx: ToolContext, args: ListAlertsIn) -> EntityOut:
    async with repo_for(ctx) as repo:
        return entity_out(await ops.list_alerts(repo, args.status, args.enabled))


class CreateAlertIn(ToolInput):
    name: str
    metric: str = Field(description="a queryMetric metric name")
    operator: Literal["gt", "lt", "gte", "lte", "eq"]
    threshold: float
    channels: list[dict[str, Any]] = Field(
        min_length=1, description="[{type: webhook|email|slack|teams, target}] or [{destinationId}]"
    )
    windowMinutes: int = 5
    cooldownMinutes: int = 60
    enabled: bool = True


@tool(
    "createAlertRule",
    title="Create an alert rule",
    description="Create a threshold alert on a platform metric; returns the rule with its current state.",
    module="operations",
    write=True,
)
async def create_alert_rule(ctx: ToolContext, args: CreateAlertIn) -> EntityOut:
    async with repo_for(ctx) as repo:
        created = await ops.create_alert_rule(
            repo,
            name=args.name,
            metric=args.metric,
            operator=args.operator,
            threshold=args.threshold,
            channels=args.channels,
            window_minutes=args.windowMinutes,
            cooldown_minutes=args.cooldownMinutes,
            enabled=args.enabled,
        )
    return entity_out(created)


class AuditIn(ToolInput):
    entityType: str | None = None
    entityId: str | None = None
    action: str | None = None
    startDate: str | None = Field(None, description="ISO date")
    endDate: str | None = Field(None, description="ISO date")
    page: int = Field(1, ge=1)
    limit: int = Field(50, ge=1, le=100)


@tool(
    "queryAuditLog",
    title="Query the audit log",
    description="Read the hash-chained audit trail (field diffs, newest first) with a chain-integrity check.",
    module="operations",
    min_role="admin",
)
async def query_audit_log(ctx: ToolContext, args: AuditIn) -> EntityOut:
    async with repo_for(ctx) as repo:
        result = await ops.query_audit_log(
            repo,
            entity_type=args.entityType,
            entity_id=args.entityId,
            action=args.action,
            start_date=args.startDate,
            end_date=args.endDate,
            page=args.page,
            limit=args.limit,
        )
    return entity_out(result)


class ListApprovalsIn(ToolInput):
    status: Literal["pending", "approved", "rejected"] = "pending"


@tool(
    "listApprovals",
    title="List approvals",
    description="List approval requests (incl. queued AI/playbook changes) with their current stage.",
    module="operations",
)
async def list_approvals(ctx: ToolContext, args: ListApprovalsIn) -> EntityOut:
    async with repo_for(ctx) as repo:
        return entity_out(await ops.list_approvals(repo, args.status))


class DecideIn(ToolInput):
    approvalId: str
    action: Literal["approve", "reject"]
    comments: str = ""


@tool(
    "decideApproval",
    title="Decide an approval",
    description="Approve or reject the current stage; the final approval applies the stored change.",
    module="operations",
    write=True,
)
async def decide_approval(ctx: ToolContext, args: DecideIn) -> EntityOut:
    async with repo_for(ctx) as repo:
        return entity_out(await ops.decide_approval(repo, args.approvalId, args.action, args.comments))


@tool(
    "getTenantSettings",
    title="Get tenant settings",
    description="Return tenant settings: tracing, holdout, module flags, governance and AI settings.",
    module="operations",
)
async def get_tenant_settings(ctx: ToolContext, args: NoArgs) -> EntityOut:
    async with repo_for(ctx) as repo:
        return entity_out(await ops.get_tenant_settings(repo))


class UpdateSettingsIn(ToolInput):
    settings: dict[str, Any] = Field(
        description="partial, deep-merged; null removes a key (e.g. holdoutPercentage)"
    )


@tool(
    "updateTenantSettings",
    title="Update tenant settings",
    description="Deep-merge a partial settings object after validating known keys' types and ranges.",
    module="operations",
    write=True,
    idempotent=True,
)
async def update_tenant_settings(ctx: ToolContext, args: UpdateSettingsIn) -> EntityOut:
    async with repo_for(ctx) as repo:
        return entity_out(await ops.update_tenant_settings(repo, args.settings))
