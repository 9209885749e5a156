"""Behavioral metric tools (tool-catalog.md §2.6)."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import Field

from kaireon_mcp.core import metrics
from kaireon_mcp.tools.common import DataPage, EntityOut, PageOut, entity_out, repo_for
from kaireon_mcp.tools.registry import ToolContext, ToolInput, tool


@tool(
    "listBehavioralMetrics",
    title="List behavioral metrics",
    description="List behavioral metric definitions (per-customer aggregates) with stored value counts.",
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
        description="impressions|positive|negative|neutral|converts|totalValue|<outcome key>"
    )
    description: str = Field("", max_length=500)
    windowDays: int | None = Field(None, description="1-365; null = all-time")
    groupByDimensions: list[str] = Field(
        default_factory=list, description="<=2 of offerId|channelId|creativeId|outcomeType"
    )
    filterConditions: dict[str, Any] | None = Field(
        None, description="and/or tree of {field, operator, value}"
    )
    sqlFilter: str | None = None
    computeMode: Literal["batch", "realtime"] = "batch"
    batchIntervalMin: int = 60


@tool(
    "createBehavioralMetric",
    title="Create a behavioral metric",
    description="Define a rolling per-customer aggregate over interactions (max 20 per tenant).",
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
            description=args.description,
            window_days=args.windowDays,
            group_by_dimensions=args.groupByDimensions,
            filter_conditions=args.filterConditions,
            sql_filter=args.sqlFilter,
            compute_mode=args.computeMode,
            batch_interval_min=args.batchIntervalMin,
        )
    return entity_out(created)


class PreviewMetricIn(ToolInput):
    metricId: str
    customerId: str | None = None
    limit: int = Field(10, ge=1, le=100)


@tool(
    "previewBehavioralMetric",
    title="Preview a behavioral metric",
    description="Compute a metric's values now without storing them: top values and min/max/avg.",
    module="metrics",
)
async def preview_behavioral_metric(ctx: ToolContext, args: PreviewMetricIn) -> EntityOut:
    async with repo_for(ctx) as repo:
        return entity_out(await metrics.preview_metric(repo, args.metricId, args.customerId, args.limit))


class ComputeIn(ToolInput):
    metricId: str | None = Field(None, description="all active metrics when omitted")


@tool(
    "computeBehavioralMetrics",
    title="Compute behavioral metrics",
    description="Recompute and store per-customer values of one metric or all active ones.",
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
    target: Literal["qualification_rule", "contact_policy"] = "qualification_rule"
    name: str | None = None
    scope: str = "global"
    scopeId: str | None = None


@tool(
    "createMetricRule",
    title="Create a metric rule",
    description="Create an active metric_condition qualification rule or contact policy on a metric value.",
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
            target=args.target,
            name=args.name,
            scope=args.scope,
            scope_id=args.scopeId,
        )
    return entity_out(created)
