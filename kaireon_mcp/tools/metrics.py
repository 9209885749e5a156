"""Behavioral metric tools (tool-catalog.md §2.6).

Optional inputs default to ``None`` and the documented defaults are applied here, which keeps
the advertised schemas short (tools/list budget).
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import Field

from kaireon_mcp.core import metrics
from kaireon_mcp.tools.common import DataPage, EntityOut, PageOut, entity_out, repo_for
from kaireon_mcp.tools.registry import ToolContext, ToolInput, tool


@tool(
    "listBehavioralMetrics",
    title="Behavioral metrics",
    description="List behavioral metrics (per-customer aggregates) with stored value counts.",
    module="metrics",
    routes=("all",),
)
async def list_behavioral_metrics(ctx: ToolContext, args: DataPage) -> PageOut:
    async with repo_for(ctx) as repo:
        return PageOut.model_validate(await metrics.list_metrics(repo, args.limit, args.cursor))


class CreateMetricIn(ToolInput):
    name: str = Field(min_length=1, max_length=100)
    aggregateFunction: Literal["count", "sum", "avg", "min", "max"]
    sourceField: str = Field(
        description="impressions|positive|negative|neutral|converts|totalValue|<outcome>"
    )
    description: str | None = Field(None, max_length=500)
    windowDays: int | None = Field(None, description="1-365; omit for all-time")
    groupByDimensions: list[str] | None = Field(
        None, description="<=2 of offerId|channelId|creativeId|outcomeType"
    )
    filterConditions: dict[str, Any] | None = Field(
        None, description="and/or tree of {field, operator, value}"
    )
    sqlFilter: str | None = None
    computeMode: Literal["batch", "realtime"] | None = None
    batchIntervalMin: int | None = None


@tool(
    "createBehavioralMetric",
    title="Create metric",
    description="Define a rolling per-customer aggregate over interactions (max 20).",
    module="metrics",
    write=True,
)
async def create_behavioral_metric(ctx: ToolContext, args: CreateMetricIn) -> EntityOut:
    async with repo_for(ctx) as repo:
        created = await metrics.create_metric(
            repo,
            name=args.name,
            aggregate_function=args.aggregateFunction,
            source_field=args.sourceField,
            description=args.description or "",
            window_days=args.windowDays,
            group_by_dimensions=args.groupByDimensions or [],
            filter_conditions=args.filterConditions,
            sql_filter=args.sqlFilter,
            compute_mode=args.computeMode or "batch",
            batch_interval_min=args.batchIntervalMin or 60,
        )
    return entity_out(created)


class PreviewMetricIn(ToolInput):
    metricId: str
    customerId: str | None = None
    limit: int | None = Field(None, ge=1, le=100)


@tool(
    "previewBehavioralMetric",
    title="Preview metric",
    description="Compute a metric now without storing: top values and min/max/avg.",
    module="metrics",
)
async def preview_behavioral_metric(ctx: ToolContext, args: PreviewMetricIn) -> EntityOut:
    async with repo_for(ctx) as repo:
        return entity_out(
            await metrics.preview_metric(repo, args.metricId, args.customerId, args.limit or 10)
        )


class ComputeIn(ToolInput):
    metricId: str | None = Field(None, description="omit for all active metrics")


@tool(
    "computeBehavioralMetrics",
    title="Compute metrics",
    description="Recompute and store per-customer values of one or all active metrics.",
    module="metrics",
    write=True,
    idempotent=True,
)
async def compute_behavioral_metrics(ctx: ToolContext, args: ComputeIn) -> EntityOut:
    async with repo_for(ctx) as repo:
        return entity_out(await metrics.compute_metrics(repo, args.metricId))


class MetricRuleIn(ToolInput):
    metricId: str
    operator: Literal["gt", "gte", "lt", "lte", "eq", "neq"]
    value: float
    target: Literal["qualification_rule", "contact_policy"] | None = None
    name: str | None = None
    scope: str | None = None
    scopeId: str | None = None


@tool(
    "createMetricRule",
    title="Create metric rule",
    description="Create an active metric_condition qualification rule (default) or contact policy.",
    module="metrics",
    write=True,
)
async def create_metric_rule(ctx: ToolContext, args: MetricRuleIn) -> EntityOut:
    async with repo_for(ctx) as repo:
        created = await metrics.create_metric_rule(
            repo,
            metric_id=args.metricId,
            operator=args.operator,
            value=args.value,
            target=args.target or "qualification_rule",
            name=args.name,
            scope=args.scope or "global",
            scope_id=args.scopeId,
        )
    return entity_out(created)
