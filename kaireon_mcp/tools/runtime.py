"""Decisioning runtime tools: recommend, record outcomes, read traces and interaction history."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import Field
from pydantic.json_schema import SkipJsonSchema

from kaireon_mcp.core.decisioning.api import (
    RecommendRequest,
    RecommendResponse,
    RespondRequest,
    RespondResponse,
)
from kaireon_mcp.core.decisioning.recommend import recommend, recommend_with
from kaireon_mcp.core.decisioning.respond import respond
from kaireon_mcp.errors import NotFoundError, ValidationError
from kaireon_mcp.storage.tables import DecisionTrace, Interaction
from kaireon_mcp.tools.common import AMBIENT_REPO, EntityOut, OffsetPage, PageOut, entity_out, repo_for
from kaireon_mcp.tools.registry import ToolContext, ToolInput, tool


class RecommendArgs(RecommendRequest):
    """Same body as POST /api/v1/recommend; rarely needed fields are accepted but not advertised."""

    channelId: SkipJsonSchema[str | None] = None
    sessionId: SkipJsonSchema[str | None] = Field(None, max_length=64, pattern=r"^[A-Za-z0-9_-]*$")
    locale: SkipJsonSchema[str | None] = None
    currency: SkipJsonSchema[str | None] = None
    excludeCreatives: SkipJsonSchema[list[str]] = Field(default_factory=list)
    context: SkipJsonSchema[dict[str, Any]] = Field(default_factory=dict)


@tool(
    "recommend",
    title="Recommend offers",
    module="studio",
    write=True,
    description=(
        "Run the decision flow for a customer (optional "
        "channel/placement): ranked offers, creatives, PRIE scores."
    ),
)
async def recommend_tool(ctx: ToolContext, args: RecommendArgs) -> RecommendResponse:
    if ctx.services.get(AMBIENT_REPO) is not None:  # inside a composite: join its transaction
        async with repo_for(ctx) as repo:
            return RecommendResponse.model_validate(await recommend(repo, args))
    return RecommendResponse.model_validate(await recommend_with(ctx.db, ctx.principal, args))


class OutcomeArgs(RespondRequest):
    """Same body as POST /api/v1/respond."""


@tool(
    "recordOutcome",
    title="Record outcome",
    module="studio",
    write=True,
    idempotent=True,
    description=(
        "Record impression/click/conversion/dismiss for a recommendation (recommendationId + "
        "rank); a retried idempotencyKey replays, one reused for another event is CONFLICT."
    ),
)
async def record_outcome(ctx: ToolContext, args: OutcomeArgs) -> RespondResponse:
    async with repo_for(ctx) as repo:
        return RespondResponse.model_validate(await respond(repo, args))


class TraceListArgs(OffsetPage):
    customerId: str | None = None
    requestId: str | None = None


def _trace_summary(row: DecisionTrace) -> dict[str, Any]:
    return {
        "id": row.id,
        "customerId": row.customer_id,
        "requestId": row.request_id,
        "decisionFlowKey": row.decision_flow_key,
        "flowVersion": row.flow_version,
        "funnel": row.funnel,
        "selectedOffers": row.selected_offers,
        "droppedCount": len(row.dropped or []),
        "degradedScoring": row.degraded_scoring,
        "totalDurationMs": row.total_duration_ms,
        "createdAt": row.to_dict()["createdAt"],
    }


@tool(
    "listDecisionTraces",
    title="List decision traces",
    module="studio",
    description=(
        "List decision traces (newest first) with funnel counts and picks; filter by customerId or requestId."
    ),
)
async def list_traces(ctx: ToolContext, args: TraceListArgs) -> PageOut:
    async with repo_for(ctx) as repo:
        where = []
        if args.customerId:
            where.append(DecisionTrace.customer_id == args.customerId)
        if args.requestId:
            where.append(DecisionTrace.request_id == args.requestId)
        stmt = (
            repo.scoped(DecisionTrace)
            .where(*where)
            .order_by(DecisionTrace.created_at.desc(), DecisionTrace.id)
        )
        rows = (await repo.session.execute(stmt.offset(args.offset).limit(args.limit))).scalars().all()
        total = await repo.count(DecisionTrace, *where)
    return PageOut.model_validate(
        {
            "items": [_trace_summary(r) for r in rows],
            "pagination": {
                "total": total,
                "limit": args.limit,
                "hasMore": args.offset + len(rows) < total,
                "nextCursor": None,
            },
        }
    )


class TraceArgs(ToolInput):
    traceId: str = Field(min_length=1)


@tool(
    "getDecisionTrace",
    title="Get decision trace",
    module="studio",
    description=(
        "One decision trace: node in/out counts, rule and policy "
        "results, PRIE scores, why each offer was dropped."
    ),
)
async def get_trace(ctx: ToolContext, args: TraceArgs) -> EntityOut:
    async with repo_for(ctx) as repo:
        row = await repo.find(DecisionTrace, id=args.traceId) or await repo.find(
            DecisionTrace, request_id=args.traceId
        )
        if row is None:
            raise NotFoundError(f"decision trace {args.traceId!r} not found", field="traceId")
        return entity_out(row.to_dict())


class HistoryArgs(ToolInput):
    customerId: str = Field(min_length=1)
    offerId: str | None = None
    channelId: str | None = None
    outcome: str | None = Field(None, description="interaction type, e.g. impression, click, recommendation")
    since: str | None = Field(None, description="ISO date or datetime")
    limit: int = Field(50, ge=1, le=500)


@tool(
    "queryInteractionHistory",
    title="Query interaction history",
    module="studio",
    description=(
        "A customer's recommendation, impression and outcome rows, "
        "newest first; filter by offer/channel/outcome/date."
    ),
)
async def query_history(ctx: ToolContext, args: HistoryArgs) -> PageOut:
    where = [Interaction.customer_id == args.customerId]
    if args.offerId:
        where.append(Interaction.offer_id == args.offerId)
    if args.channelId:
        where.append(Interaction.channel_id == args.channelId)
    if args.outcome:
        where.append(Interaction.interaction_type == args.outcome)
    if args.since:
        try:
            since = datetime.fromisoformat(args.since.replace("Z", "+00:00"))
        except ValueError as exc:
            raise ValidationError("since must be an ISO date", field="since") from exc
        where.append(Interaction.timestamp >= since)
    async with repo_for(ctx) as repo:
        stmt = (
            repo.scoped(Interaction)
            .where(*where)
            .order_by(Interaction.timestamp.desc(), Interaction.id)
            .limit(args.limit)
        )
        rows = (await repo.session.execute(stmt)).scalars().all()
        total = await repo.count(Interaction, *where)
    return PageOut.model_validate(
        {
            "items": [r.to_dict() for r in rows],
            "pagination": {
                "total": total,
                "limit": args.limit,
                "hasMore": total > len(rows),
                "nextCursor": None,
            },
        }
    )
