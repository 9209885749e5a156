"""Studio automation tools: event triggers and customer journeys (Enterprise tier, spec §7.2-7.3).

These lists use offset pagination (limit 50, max 200) like their REST endpoints.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, Field

from kaireon_mcp.core import catalog
from kaireon_mcp.tools.common import EntityOut, OffsetPage, entity_out, repo_for
from kaireon_mcp.tools.registry import ToolContext, tool
from kaireon_mcp.tools.studio_catalog import (
    Obj,
    Status,
    StudioInput,
    StudioPatch,
    dump_changes,
    dump_create,
)

TriggerAction = Literal["enroll_journey", "fire_recommend", "webhook", "update_attribute"]


class OffsetPagination(BaseModel):
    total: int
    limit: int
    offset: int
    hasMore: bool


class OffsetPageOut(BaseModel):
    """A page of entities addressed by offset."""

    items: list[dict[str, Any]]
    pagination: OffsetPagination


class StudioOffsetList(StudioInput, OffsetPage):
    """Offset pagination (limit 50, max 200)."""


# ---- triggers -------------------------------------------------------------------------------
class ListTriggersIn(StudioOffsetList):
    status: str | None = None
    eventType: str | None = None


class CreateTriggerIn(StudioInput):
    name: str = Field(min_length=1, max_length=255)
    eventType: str = Field(min_length=1, max_length=64)
    actionType: TriggerAction
    actionConfig: Obj = Field(default_factory=dict, description="e.g. {journeyId} or {url}")
    condition: Obj = Field(default_factory=dict, description="all/any tree of {field,operator,value}")
    description: str = ""
    priority: int = Field(50, ge=0, le=100)
    cooldownMs: int = Field(0, ge=0)


@tool(
    "listTriggers",
    title="List triggers",
    description="List event triggers by priority.",
    module="studio",
)
async def list_triggers(ctx: ToolContext, args: ListTriggersIn) -> OffsetPageOut:
    async with repo_for(ctx) as repo:
        page = await catalog.list_triggers(
            repo, status=args.status, event_type=args.eventType, limit=args.limit, offset=args.offset
        )
    return OffsetPageOut.model_validate(page)


@tool(
    "createTrigger",
    title="Create trigger",
    description="Create an event trigger (enroll journey, recommend, webhook, set attribute).",
    module="studio",
    write=True,
    routes=("DF", "TR"),
)
async def create_trigger(ctx: ToolContext, args: CreateTriggerIn) -> EntityOut:
    async with repo_for(ctx) as repo:
        return entity_out(await catalog.create_trigger(repo, dump_create(args)))


# ---- journeys -------------------------------------------------------------------------------
class ListJourneysIn(StudioOffsetList):
    status: Status | None = None


class CreateJourneyIn(StudioInput):
    name: str = Field(min_length=1, max_length=255)
    description: str = Field("", max_length=2000)
    definition: Obj = Field(
        default_factory=lambda: {"nodes": [], "edges": []}, description="{nodes:[{id,type}],edges:[]}"
    )
    entryCondition: Obj = Field(default_factory=dict)
    maxDurationDays: int = Field(30, ge=1, le=365)


class UpdateJourneyIn(StudioPatch):
    journeyId: str
    name: str | None = Field(None, min_length=1, max_length=255)
    description: str | None = Field(None, max_length=2000)
    status: Status | None = None
    definition: Obj | None = None
    entryCondition: Obj | None = None
    maxDurationDays: int | None = Field(None, ge=1, le=365)


@tool(
    "listJourneys",
    title="List journeys",
    description="List customer journeys.",
    module="studio",
)
async def list_journeys(ctx: ToolContext, args: ListJourneysIn) -> OffsetPageOut:
    async with repo_for(ctx) as repo:
        page = await catalog.list_journeys(repo, status=args.status, limit=args.limit, offset=args.offset)
    return OffsetPageOut.model_validate(page)


@tool(
    "createJourney",
    title="Create journey",
    description="Create a journey definition (starts as draft).",
    module="studio",
    write=True,
)
async def create_journey(ctx: ToolContext, args: CreateJourneyIn) -> EntityOut:
    async with repo_for(ctx) as repo:
        return entity_out(await catalog.create_journey(repo, dump_create(args)))


@tool(
    "updateJourney",
    title="Update journey",
    description="Update or activate/pause a journey: journeyId plus fields to change.",
    module="studio",
    write=True,
    idempotent=True,
)
async def update_journey(ctx: ToolContext, args: UpdateJourneyIn) -> EntityOut:
    async with repo_for(ctx) as repo:
        changes = dump_changes(args, "journeyId")
        return entity_out(await catalog.update_journey(repo, args.journeyId, changes))
