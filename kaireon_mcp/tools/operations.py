"""Operations tools (tool-catalog.md §2.9): KPIs, alerts, audit log, approvals, tenant settings.

Optional inputs default to ``None`` and documented defaults are applied here (short schemas).
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import Field

from kaireon_mcp.core import operations as ops
from kaireon_mcp.storage.tables import ApprovalRequest
from kaireon_mcp.tools.common import AMBIENT_REPO, EntityOut, entity_out, repo_for
from kaireon_mcp.tools.playbooks import run_approved
from kaireon_mcp.tools.registry import NoArgs, ToolContext, ToolInput, tool


class QueryMetricIn(ToolInput):
    metric: str = Field(
        description="ctr|cvr|acceptance_rate|revenue|impressions|clicks|conversions|decision_count|"
        "selection_frequency|latency_p99|degraded_scoring_rate"
    )
    period: Literal["day", "week", "month"] | None = Field(None, description="default week")
    groupBy: Literal["offer", "channel", "none"] | None = None
    offerId: str | None = None
    channelId: str | None = None


@tool(
    "queryMetric",
    title="Query KPI",
    description="A platform KPI over the last day/week/month: value, daily series, optional groups.",
    module="operations",
    routes=("all",),
)
async def query_metric(ctx: ToolContext, args: QueryMetricIn) -> EntityOut:
    async with repo_for(ctx) as repo:
        result = await ops.query_metric(
            repo, args.metric, args.period or "week", args.groupBy or "none", args.offerId, args.channelId
        )
    return entity_out(result)


class ListAlertsIn(ToolInput):
    status: Literal["ok", "firing"] | None = None
    enabled: bool | None = None


@tool(
    "listAlerts",
    title="List alerts",
    description="Alert rules with each one's current metric value and state (ok/firing).",
    module="operations",
    routes=("all",),
)
async def list_alerts(ctx: ToolContext, args: ListAlertsIn) -> EntityOut:
    async with repo_for(ctx) as repo:
        return entity_out(await ops.list_alerts(repo, args.status, args.enabled))


class CreateAlertIn(ToolInput):
    name: str
    metric: str = Field(description="a queryMetric metric")
    operator: Literal["gt", "lt", "gte", "lte", "eq"]
    threshold: float
    channels: list[dict[str, Any]] = Field(min_length=1, description="[{type: webhook|email, target}]")
    windowMinutes: int | None = Field(None, description="default 5")
    cooldownMinutes: int | None = Field(None, description="default 60")
    enabled: bool | None = None


@tool(
    "createAlertRule",
    title="Create alert",
    description="Create a threshold alert on a platform metric; returns its current state.",
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
            window_minutes=args.windowMinutes or 5,
            cooldown_minutes=60 if args.cooldownMinutes is None else args.cooldownMinutes,
            enabled=args.enabled is not False,
        )
    return entity_out(created)


class AuditIn(ToolInput):
    entityType: str | None = None
    entityId: str | None = None
    action: str | None = None
    startDate: str | None = None
    endDate: str | None = None
    page: int | None = Field(None, ge=1)
    limit: int | None = Field(None, ge=1, le=100, description="default 50")


@tool(
    "queryAuditLog",
    title="Audit log",
    description="Hash-chained audit trail (field diffs, newest first) with an integrity check. Admin.",
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
            page=args.page or 1,
            limit=args.limit or 50,
        )
    return entity_out(result)


class ListApprovalsIn(ToolInput):
    status: Literal["pending", "approved", "rejected"] | None = Field(None, description="default pending")


@tool(
    "listApprovals",
    title="List approvals",
    description="Approval requests (incl. queued AI/playbook changes) with their current stage.",
    module="operations",
)
async def list_approvals(ctx: ToolContext, args: ListApprovalsIn) -> EntityOut:
    async with repo_for(ctx) as repo:
        return entity_out(await ops.list_approvals(repo, args.status or "pending"))


class DecideIn(ToolInput):
    approvalId: str
    action: Literal["approve", "reject"]
    comments: str | None = None


@tool(
    "decideApproval",
    title="Decide approval",
    description="Approve/reject the current stage; the final approval applies the stored change.",
    module="operations",
    write=True,
)
async def decide_approval(ctx: ToolContext, args: DecideIn) -> EntityOut:
    async with repo_for(ctx) as repo:
        joined = ToolContext(
            db=ctx.db,
            principal=ctx.principal,
            settings=ctx.settings,
            route=ctx.route,
            services={**ctx.services, AMBIENT_REPO: repo},
        )

        async def apply_playbook(request: ApprovalRequest) -> dict[str, Any]:
            return await run_approved(joined, dict(request.payload or {}))

        decided = await ops.decide_approval(
            repo, args.approvalId, args.action, args.comments or "", {"playbook": apply_playbook}
        )
        return entity_out(decided)


@tool(
    "getTenantSettings",
    title="Tenant settings",
    description="Tenant settings: tracing, holdout, module flags, governance, AI.",
    module="operations",
)
async def get_tenant_settings(ctx: ToolContext, args: NoArgs) -> EntityOut:
    async with repo_for(ctx) as repo:
        return entity_out(await ops.get_tenant_settings(repo))


class UpdateSettingsIn(ToolInput):
    settings: dict[str, Any] = Field(description="partial; deep-merged; null removes a key")


@tool(
    "updateTenantSettings",
    title="Update settings",
    description="Deep-merge partial tenant settings after validating known keys and ranges.",
    module="operations",
    write=True,
    idempotent=True,
)
async def update_tenant_settings(ctx: ToolContext, args: UpdateSettingsIn) -> EntityOut:
    async with repo_for(ctx) as repo:
        return entity_out(await ops.update_tenant_settings(repo, args.settings))
