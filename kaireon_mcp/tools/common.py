"""Input/output pieces shared by tool modules, so each tool declares only what is its own."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from kaireon_mcp.storage.repository import Page, Repository
from kaireon_mcp.tools.registry import AMBIENT_REPO, READ_ONLY_CALL, ToolContext, ToolInput


class StudioPage(ToolInput):
    limit: int = Field(25, ge=1, le=100)
    cursor: str | None = None


class DataPage(ToolInput):
    limit: int = Field(20, ge=1, le=100)
    cursor: str | None = None


class OffsetPage(ToolInput):
    limit: int = Field(50, ge=1, le=200)
    offset: int = Field(0, ge=0)


class Pagination(BaseModel):
    total: int
    limit: int
    hasMore: bool
    nextCursor: str | None = None


class PageOut(BaseModel):
    """A page of entities (camelCase JSON objects)."""

    items: list[dict[str, Any]]
    pagination: Pagination


class EntityOut(BaseModel):
    """One entity as camelCase JSON; fields vary by entity type."""

    model_config = ConfigDict(extra="allow")
    id: str | None = None


class Deleted(BaseModel):
    id: str
    deleted: bool = True
    soft: bool = True
    warnings: list[str] = Field(default_factory=list)


@asynccontextmanager
async def repo_for(ctx: ToolContext) -> AsyncIterator[Repository]:
    """One transaction bound to the caller's tenant (never to an argument).

    When a composite tool (a playbook) has opened a transaction and put its repository in
    ``ctx.services["repository"]``, nested tool calls join it, so the whole composite
    commits or rolls back as one unit.
    """
    ambient = ctx.services.get(AMBIENT_REPO)
    if isinstance(ambient, Repository) and ambient.ctx.tenant_id == ctx.principal.tenant_id:
        yield ambient
        return
    if ctx.services.get(READ_ONLY_CALL):
        async with ctx.db.reader(ctx.principal) as repo:
            yield repo
        return
    async with ctx.db.tenant(ctx.principal) as repo:
        yield repo


@asynccontextmanager
async def shared_transaction(ctx: ToolContext) -> AsyncIterator[ToolContext]:
    """A child context whose tool calls all run in one transaction (committed on success)."""
    async with ctx.db.tenant(ctx.principal) as repo:
        yield ToolContext(
            db=ctx.db,
            principal=ctx.principal,
            settings=ctx.settings,
            route=ctx.route,
            services={**ctx.services, AMBIENT_REPO: repo},
        )


def page_out(page: Page, items: list[dict[str, Any]] | None = None) -> PageOut:
    return PageOut.model_validate(page.to_dict(items))


def entity_out(data: dict[str, Any]) -> EntityOut:
    return EntityOut.model_validate(data)


def snake(name: str) -> str:
    out = []
    for char in name:
        if char.isupper():
            out.append("_" + char.lower())
        else:
            out.append(char)
    return "".join(out)


def to_columns(fields: dict[str, Any]) -> dict[str, Any]:
    """camelCase tool arguments to snake_case column values (``metadata`` maps to ``metadata_``)."""
    out = {}
    for key, value in fields.items():
        column = snake(key)
        out["metadata_" if column == "metadata" else column] = value
    return out
