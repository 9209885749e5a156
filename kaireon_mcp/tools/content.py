"""Content / CMS tools (tool-catalog.md §2.7): copy generation and the content library.

Generation needs a model: the tenant's stored ``aiProvider`` settings win over the
environment (``KAIREON_AI_PROVIDER``, ``ANTHROPIC_API_KEY``, ``OPENAI_API_KEY``, ...);
with neither the tools answer ``PROVIDER_UNAVAILABLE`` naming those variables.
A transport may inject ``services["llm_client_factory"]`` (config -> client) and
``services["env"]`` (the environment mapping) instead.
"""

from __future__ import annotations

import os
from collections.abc import AsyncIterator, Callable, Mapping
from contextlib import asynccontextmanager
from typing import Any, Literal, cast

from pydantic import Field

from kaireon_mcp.core import content
from kaireon_mcp.core.operations import tenant_settings
from kaireon_mcp.errors import ProviderUnavailableError
from kaireon_mcp.llm.base import LLMClient
from kaireon_mcp.llm.client import make_client
from kaireon_mcp.llm.providers import ProviderConfig, missing_provider_message, resolve_provider
from kaireon_mcp.storage.tables import Creative, Offer
from kaireon_mcp.tools.common import EntityOut, PageOut, entity_out, repo_for
from kaireon_mcp.tools.registry import NoArgs, ToolContext, ToolInput, tool

ROUTES = ("TR",)


async def _provider(ctx: ToolContext) -> ProviderConfig:
    async with repo_for(ctx) as repo:
        stored = (await tenant_settings(repo)).get("aiProvider")
    block = dict(stored) if isinstance(stored, Mapping) else {}
    token = block.pop("apiKeyEncrypted", None)
    if isinstance(token, str) and token:
        block["apiKey"] = ctx.db.box.decrypt_json(token).get("apiKey")
    env = cast(Mapping[str, str], ctx.services.get("env") or os.environ)
    cfg = resolve_provider(block, env)
    if cfg is None or not cfg.configured:
        raise ProviderUnavailableError(missing_provider_message())
    return cfg


@asynccontextmanager
async def llm_client(ctx: ToolContext) -> AsyncIterator[LLMClient]:
    """A client for this tenant's provider, closed after use."""
    factory = cast(
        Callable[[ProviderConfig], LLMClient], ctx.services.get("llm_client_factory") or make_client
    )
    client = factory(await _provider(ctx))
    try:
        yield client
    finally:
        await client.aclose()


class CopyIn(ToolInput):
    offerId: str
    channelType: str | None = None
    templateType: str | None = None
    tone: str | None = Field(None, description="urgent, friendly, premium...")
    audience: str | None = None
    language: str | None = None
    fields: list[Literal["subject", "headline", "body", "ctaText"]] | None = None


@tool(
    "generateCreativeCopy",
    title="Generate copy",
    description="LLM-draft channel-appropriate copy for an offer; saves nothing.",
    module="content",
    routes=ROUTES,
    open_world=True,
)
async def generate_creative_copy(ctx: ToolContext, args: CopyIn) -> EntityOut:
    async with repo_for(ctx) as repo:
        await repo.get(Offer, args.offerId)  # an unknown offer is NOT_FOUND, with or without a provider
    async with llm_client(ctx) as client, repo_for(ctx) as repo:
        result = await content.generate_copy(
            repo,
            client,
            offer_id=args.offerId,
            channel_type=args.channelType,
            template_type=args.templateType,
            tone=args.tone,
            audience=args.audience,
            language=args.language or "en",
            fields=args.fields,
        )
    return entity_out(result)


class VariantsIn(ToolInput):
    creativeId: str
    count: int | None = Field(None, ge=1, le=10, description="default 3")
    tone: str | None = None


@tool(
    "generateCreativeVariants",
    title="Generate variants",
    description="LLM-draft A/B variants of a creative's text content; saves nothing.",
    module="content",
    routes=ROUTES,
    open_world=True,
)
async def generate_creative_variants(ctx: ToolContext, args: VariantsIn) -> EntityOut:
    async with repo_for(ctx) as repo:
        await repo.get(Creative, args.creativeId)  # an unknown creative is NOT_FOUND, provider or not
    async with llm_client(ctx) as client, repo_for(ctx) as repo:
        result = await content.generate_variants(
            repo, client, creative_id=args.creativeId, count=args.count or 3, tone=args.tone
        )
    return entity_out(result)


class ListItemsIn(ToolInput):
    status: str | None = None
    channelType: str | None = None
    isTemplate: bool | None = None
    sourceType: str | None = None
    limit: int | None = Field(None, ge=1, le=100)
    cursor: str | None = None


@tool(
    "listContentItems",
    title="Content items",
    description="List content-library items by status, channel, template flag or source.",
    module="content",
    routes=ROUTES,
)
async def list_content_items(ctx: ToolContext, args: ListItemsIn) -> PageOut:
    async with repo_for(ctx) as repo:
        result = await content.list_items(
            repo,
            status=args.status,
            channel_type=args.channelType,
            is_template=args.isTemplate,
            source_type=args.sourceType,
            limit=args.limit or 20,
            cursor=args.cursor,
        )
    return PageOut.model_validate(result)


class GetItemIn(ToolInput):
    contentItemId: str
    includeVersions: bool | None = None


@tool(
    "getContentItem",
    title="Content item",
    description="One content item, optionally with its version history.",
    module="content",
    routes=ROUTES,
)
async def get_content_item(ctx: ToolContext, args: GetItemIn) -> EntityOut:
    async with repo_for(ctx) as repo:
        return entity_out(await content.get_item(repo, args.contentItemId, bool(args.includeVersions)))


class ItemFields(ToolInput):
    description: str | None = None
    content: dict[str, Any] | None = Field(None, description="{subject, body...}; {{var}} allowed")
    blocks: list[dict[str, Any]] | None = None
    personalization: dict[str, Any] | None = None
    parentTemplateId: str | None = None
    isTemplate: bool | None = None


class CreateItemIn(ItemFields):
    name: str
    channelType: str


@tool(
    "createContentItem",
    title="Create content",
    description="Create a draft content item (version 1 snapshot).",
    module="content",
    write=True,
    routes=ROUTES,
)
async def create_content_item(ctx: ToolContext, args: CreateItemIn) -> EntityOut:
    async with repo_for(ctx) as repo:
        return entity_out(await content.create_item(repo, args.model_dump(exclude_none=True)))


class UpdateItemIn(ItemFields):
    contentItemId: str
    name: str | None = None
    channelType: str | None = None


@tool(
    "updateContentItem",
    title="Update content",
    description="Edit a content item as a new version; edits return it to draft.",
    module="content",
    write=True,
    routes=ROUTES,
)
async def update_content_item(ctx: ToolContext, args: UpdateItemIn) -> EntityOut:
    fields = args.model_dump(exclude_unset=True, exclude={"contentItemId"})
    async with repo_for(ctx) as repo:
        return entity_out(await content.update_item(repo, args.contentItemId, fields))


class PublishIn(ToolInput):
    contentItemId: str
    action: Literal["submit", "approve", "publish"] | None = Field(None, description="default publish")


@tool(
    "publishContentItem",
    title="Publish content",
    description="Move content draft->in_review (submit)->approved (approve)->published (publish).",
    module="content",
    write=True,
    routes=ROUTES,
)
async def publish_content_item(ctx: ToolContext, args: PublishIn) -> EntityOut:
    async with repo_for(ctx) as repo:
        return entity_out(await content.transition_item(repo, args.contentItemId, args.action or "publish"))


class TemplatesIn(ToolInput):
    category: str | None = Field(None, description="email, sms, push...")


@tool(
    "listContentTemplates",
    title="Content templates",
    description="Reusable templates with the {{variables}} they declare.",
    module="content",
    routes=ROUTES,
)
async def list_content_templates(ctx: ToolContext, args: TemplatesIn) -> EntityOut:
    async with repo_for(ctx) as repo:
        return entity_out(await content.list_templates(repo, args.category))


@tool(
    "listContentSources",
    title="Content sources",
    description="External CMS sources (Contentful, Strapi...) with sync state.",
    module="content",
    routes=ROUTES,
)
async def list_content_sources(ctx: ToolContext, args: NoArgs) -> EntityOut:
    async with repo_for(ctx) as repo:
        return entity_out(await content.list_sources(repo))


class SyncIn(ToolInput):
    sourceId: str


@tool(
    "syncContentSource",
    title="Sync source",
    description="Import a CMS source's items as content items (new or new versions).",
    module="content",
    write=True,
    routes=ROUTES,
    open_world=True,
)
async def sync_content_source(ctx: ToolContext, args: SyncIn) -> EntityOut:
    async with repo_for(ctx) as repo:
        return entity_out(await content.sync_source(repo, args.sourceId))
