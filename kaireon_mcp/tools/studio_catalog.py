"""Studio catalog tools: offers, categories, channels, placements and creatives.

Thin adapters: validate the arguments' types, open one tenant transaction, call
``kaireon_mcp.core.catalog`` and wrap the result. Business rules live in the core so every
transport enforces the same ones. ``StudioInput`` (shared by the other studio modules) keeps
the advertised schemas lean, because the whole tools/list has a size budget.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from pydantic import ConfigDict, Field
from pydantic.config import JsonDict

from kaireon_mcp.core import catalog
from kaireon_mcp.tools.common import EntityOut, PageOut, StudioPage, entity_out, repo_for
from kaireon_mcp.tools.registry import ToolContext, ToolInput, tool

Status = Literal["draft", "active", "paused", "archived"]
ChannelType = Literal["email", "push", "sms", "in_app", "web", "webhook", "whatsapp", "direct_mail"]
DeliveryMode = Literal["api", "file", "integration", "manual"]
ImpressionMode = Literal["explicit", "implicit"]
CouplingMode = Literal["partial", "atomic"]
SlotType = Literal["banner", "card", "modal", "notification", "inline"]
TemplateType = Literal[
    "email_html", "email_text", "push_notification", "sms_text", "in_app_banner", "in_app_modal",
    "in_app_card", "web_banner", "web_overlay", "webhook_payload", "whatsapp_template",
]  # fmt: skip
Obj = dict[str, Any]
NULL = {"type": "null"}


EMPTY_DEFAULTS: tuple[Any, ...] = (None, "", {}, [])


def _lean_node(node: dict[str, Any]) -> None:
    variants = node.get("anyOf")
    if isinstance(variants, list) and len(variants) == 2 and NULL in variants:
        del node["anyOf"]
        node.update(next(v for v in variants if v != NULL))
    if "default" in node and any(node["default"] == empty for empty in EMPTY_DEFAULTS):
        del node["default"]
    if node.get("additionalProperties") is True:
        del node["additionalProperties"]
    items = node.get("items")
    if isinstance(items, dict):
        _lean_node(items)


def lean_properties(schema: JsonDict) -> None:
    """Advertise ``X | None`` as ``X`` (null stays accepted) and drop implied keywords.

    Every optional field would otherwise cost an ``anyOf`` with a null branch and a
    ``default: null``/``""``/``{}``; over ~146 tools that is a large share of the tools/list
    budget. The models keep their real defaults and types; only the advertisement shrinks.
    """
    properties = schema.get("properties")
    if isinstance(properties, dict):
        for node in properties.values():
            if isinstance(node, dict):
                _lean_node(node)


def patch_properties(schema: JsonDict) -> None:
    """Update tools advertise only their id; the description points at the create tool.

    Repeating every create field (even as bare types) made the update tools the largest
    share of a route's tools/list. The model still declares and validates each field with
    its real type, enum and bounds, so a bad value is refused with the field named.
    """
    lean_properties(schema)
    properties = schema.get("properties")
    required = schema.get("required") or []
    if isinstance(properties, dict) and isinstance(required, list):
        schema["properties"] = {name: node for name, node in properties.items() if name in required}
    schema.pop("$defs", None)


class StudioInput(ToolInput):
    """Base of the studio input models: strict like every tool input, with lean schemas."""

    model_config = ConfigDict(json_schema_extra=lean_properties)


class StudioPatch(StudioInput):
    """Base of update-tool inputs: only the fields the caller sends are changed."""

    model_config = ConfigDict(json_schema_extra=patch_properties)


class StudioList(StudioInput, StudioPage):
    """Studio cursor pagination (limit 25 by default)."""


def dump_create(args: ToolInput, *exclude: str) -> dict[str, Any]:
    """Create payload: defaults included, unset optionals omitted so the core applies its own."""
    return args.model_dump(by_alias=True, exclude_none=True, exclude=set(exclude))


def dump_changes(args: ToolInput, *exclude: str) -> dict[str, Any]:
    """Update payload: only the fields the caller sent; an explicit null clears the field."""
    return args.model_dump(by_alias=True, exclude_unset=True, exclude=set(exclude))


# ---- offers -------------------------------------------------------------------------------
class ListOffersIn(StudioList):
    includeDeleted: bool = False
    status: Status | None = None


class OfferIdIn(StudioInput):
    offerId: str


class CreateOfferIn(StudioInput):
    name: str = Field(min_length=1, max_length=255)
    status: Status = "draft"
    categoryId: str | None = None
    subCategoryId: str | None = None
    priority: int = Field(50, ge=0, le=100)
    description: str = ""
    shortDesc: str = ""
    tags: list[str] = Field(default_factory=list)
    eligibility: Obj = Field(default_factory=dict)
    budget: Obj = Field(default_factory=dict)
    schedule: Obj = Field(default_factory=dict)
    productType: str | None = None
    margin: float | None = None
    revenueValue: float | None = None
    businessValue: int = Field(50, ge=0, le=100)
    mandatory: bool = Field(False, description="admin only; needs the mandatory* fields")
    mandatoryReason: str | None = None
    mandatoryExpiresAt: datetime | None = None
    mandatoryApprovedBy: str | None = Field(None, description="admin API key id")
    metadata: Obj = Field(default_factory=dict)


class UpdateOfferIn(StudioPatch):
    offerId: str
    name: str | None = Field(None, min_length=1, max_length=255)
    status: Status | None = None
    categoryId: str | None = None
    subCategoryId: str | None = None
    priority: int | None = Field(None, ge=0, le=100)
    description: str | None = None
    shortDesc: str | None = None
    tags: list[str] | None = None
    eligibility: Obj | None = None
    budget: Obj | None = None
    schedule: Obj | None = None
    productType: str | None = None
    margin: float | None = None
    revenueValue: float | None = None
    businessValue: int | None = Field(None, ge=0, le=100)
    mandatory: bool | None = None
    mandatoryReason: str | None = None
    mandatoryExpiresAt: datetime | None = None
    mandatoryApprovedBy: str | None = None
    metadata: Obj | None = None


@tool(
    "listOffers",
    title="List offers",
    description="List offers with category names and creative counts.",
    module="studio",
    routes=("all",),
)
async def list_offers(ctx: ToolContext, args: ListOffersIn) -> PageOut:
    async with repo_for(ctx) as repo:
        page = await catalog.list_offers(
            repo,
            limit=args.limit,
            cursor=args.cursor,
            include_deleted=args.includeDeleted,
            status=args.status,
        )
    return PageOut.model_validate(page)


@tool(
    "getOffer",
    title="Get offer",
    description="Get one offer with its category and creatives.",
    module="studio",
)
async def get_offer(ctx: ToolContext, args: OfferIdIn) -> EntityOut:
    async with repo_for(ctx) as repo:
        return entity_out(await catalog.get_offer(repo, args.offerId))


@tool(
    "createOffer",
    title="Create offer",
    description="Create an offer (the recommendable unit).",
    module="studio",
    write=True,
    routes=("DF", "TR"),
)
async def create_offer(ctx: ToolContext, args: CreateOfferIn) -> EntityOut:
    async with repo_for(ctx) as repo:
        return entity_out(await catalog.create_offer(repo, dump_create(args)))


@tool(
    "updateOffer",
    title="Update offer",
    description="Update an offer: offerId plus any createOffer fields to change.",
    module="studio",
    write=True,
    idempotent=True,
    routes=("DF",),
)
async def update_offer(ctx: ToolContext, args: UpdateOfferIn) -> EntityOut:
    async with repo_for(ctx) as repo:
        return entity_out(await catalog.update_offer(repo, args.offerId, dump_changes(args, "offerId")))


# ---- categories ---------------------------------------------------------------------------
class CreateCategoryIn(StudioInput):
    name: str = Field(min_length=1, max_length=255)
    description: str = ""
    customFields: list[Obj] = Field(default_factory=list, max_length=500)


class CreateSubCategoryIn(StudioInput):
    categoryId: str
    name: str = Field(min_length=1, max_length=255)
    description: str = ""


@tool(
    "createCategory",
    title="Create category",
    description="Create an offer category.",
    module="studio",
    write=True,
    routes=("DF", "TR"),
)
async def create_category(ctx: ToolContext, args: CreateCategoryIn) -> EntityOut:
    async with repo_for(ctx) as repo:
        return entity_out(await catalog.create_category(repo, dump_create(args)))


@tool(
    "createSubCategory",
    title="Create sub-category",
    description="Create a sub-category under a category.",
    module="studio",
    write=True,
    routes=("DF", "TR"),
)
async def create_sub_category(ctx: ToolContext, args: CreateSubCategoryIn) -> EntityOut:
    async with repo_for(ctx) as repo:
        return entity_out(await catalog.create_sub_category(repo, dump_create(args)))


# ---- channels and placements ----------------------------------------------------------------
class PlacementSpec(StudioInput):
    name: str = Field(min_length=1, max_length=255)
    key: str | None = None
    description: str = ""
    slotType: SlotType = "banner"
    maxSlots: int = Field(1, ge=1, le=100)
    schema_: Obj = Field(default_factory=dict, alias="schema")
    targeting: Obj = Field(default_factory=dict)


class CreateChannelIn(StudioInput):
    name: str = Field(min_length=1, max_length=255)
    channelType: ChannelType = "email"
    status: Status = "draft"
    description: str = ""
    deliveryMode: DeliveryMode = "api"
    impressionMode: ImpressionMode = "explicit"
    couplingMode: CouplingMode = "partial"
    providerConfig: Obj = Field(default_factory=dict, description="encrypted, never returned")
    fileConfig: Obj = Field(default_factory=dict)
    placements: list[Obj] = Field(default_factory=list, description="createPlacement specs")


class UpdateChannelIn(StudioPatch):
    channelId: str
    name: str | None = Field(None, min_length=1, max_length=255)
    channelType: ChannelType | None = None
    status: Status | None = None
    description: str | None = None
    deliveryMode: DeliveryMode | None = None
    impressionMode: ImpressionMode | None = None
    couplingMode: CouplingMode | None = None
    providerConfig: Obj | None = None
    fileConfig: Obj | None = None
    placements: list[Obj] | None = None


class CreatePlacementIn(PlacementSpec):
    channelId: str


@tool(
    "listChannels",
    title="List channels",
    description="List channels with their placements (secrets masked).",
    module="studio",
    routes=("all",),
)
async def list_channels(ctx: ToolContext, args: StudioList) -> PageOut:
    async with repo_for(ctx) as repo:
        page = await catalog.list_channels(repo, limit=args.limit, cursor=args.cursor)
    return PageOut.model_validate(page)


@tool(
    "createChannel",
    title="Create channel",
    description="Create a channel (+placements), auto-routed to the default flow.",
    module="studio",
    write=True,
    routes=("DF", "TR"),
)
async def create_channel(ctx: ToolContext, args: CreateChannelIn) -> EntityOut:
    async with repo_for(ctx) as repo:
        return entity_out(await catalog.create_channel(repo, dump_create(args)))


@tool(
    "updateChannel",
    title="Update channel",
    description="Update a channel: channelId plus any createChannel fields; placements upsert by key.",
    module="studio",
    write=True,
    idempotent=True,
    routes=("DF",),
)
async def update_channel(ctx: ToolContext, args: UpdateChannelIn) -> EntityOut:
    async with repo_for(ctx) as repo:
        changes = dump_changes(args, "channelId")
        return entity_out(await catalog.update_channel(repo, args.channelId, changes))


@tool(
    "createPlacement",
    title="Create placement",
    description="Add a placement slot to a channel, auto-routed to the default flow.",
    module="studio",
    write=True,
    routes=("DF", "TR"),
)
async def create_placement(ctx: ToolContext, args: CreatePlacementIn) -> EntityOut:
    async with repo_for(ctx) as repo:
        fields = dump_create(args, "channelId")
        return entity_out(await catalog.create_placement(repo, args.channelId, fields))


# ---- creatives ------------------------------------------------------------------------------
class ListCreativesIn(StudioList):
    offerId: str | None = None
    channelId: str | None = None
    includeDeleted: bool = False


class CreateCreativeIn(StudioInput):
    name: str = Field(min_length=1, max_length=255)
    offerId: str
    channelId: str
    placementId: str | None = None
    status: Status = "draft"
    templateType: TemplateType = "email_html"
    content: Obj = Field(default_factory=dict)
    personalization: list[Obj] = Field(
        default_factory=list, max_length=500, description="[{variable,source,fallback}]"
    )
    constraints: Obj = Field(default_factory=dict)
    abTestVariant: str | None = None
    weight: int = Field(100, ge=0, le=100)
    contentItemId: str | None = None


class UpdateCreativeIn(StudioPatch):
    creativeId: str
    name: str | None = Field(None, min_length=1, max_length=255)
    offerId: str | None = None
    channelId: str | None = None
    placementId: str | None = None
    status: Status | None = None
    templateType: TemplateType | None = None
    content: Obj | None = None
    personalization: list[Obj] | None = Field(None, max_length=500)
    constraints: Obj | None = None
    abTestVariant: str | None = None
    weight: int | None = Field(None, ge=0, le=100)
    contentItemId: str | None = None


@tool(
    "listCreatives",
    title="List creatives",
    description="List creatives, optionally for one offer or channel.",
    module="studio",
    routes=("TR",),
)
async def list_creatives(ctx: ToolContext, args: ListCreativesIn) -> PageOut:
    async with repo_for(ctx) as repo:
        page = await catalog.list_creatives(
            repo,
            offer_id=args.offerId,
            channel_id=args.channelId,
            limit=args.limit,
            cursor=args.cursor,
            include_deleted=args.includeDeleted,
        )
    return PageOut.model_validate(page)


@tool(
    "createCreative",
    title="Create creative",
    description="Create an offer's content variant for a channel.",
    module="studio",
    write=True,
    routes=("DF", "TR"),
)
async def create_creative(ctx: ToolContext, args: CreateCreativeIn) -> EntityOut:
    async with repo_for(ctx) as repo:
        return entity_out(await catalog.create_creative(repo, dump_create(args)))


@tool(
    "updateCreative",
    title="Update creative",
    description="Update a creative: creativeId plus any createCreative fields to change.",
    module="studio",
    write=True,
    idempotent=True,
    routes=("TR",),
)
async def update_creative(ctx: ToolContext, args: UpdateCreativeIn) -> EntityOut:
    async with repo_for(ctx) as repo:
        changes = dump_changes(args, "creativeId")
        return entity_out(await catalog.update_creative(repo, args.creativeId, changes))
