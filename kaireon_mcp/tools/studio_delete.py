"""``deleteEntity``: one destructive tool for every studio entity type.

Refusal rules (protected flows, system outcome types, parents with live children) and the
offer → creatives cascade live in ``kaireon_mcp.core.catalog.delete_entity``. Deleting is an
admin action, as the REST reference documents for delete endpoints.
"""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from kaireon_mcp.core import catalog
from kaireon_mcp.tools.common import Deleted, repo_for
from kaireon_mcp.tools.registry import ToolContext, tool
from kaireon_mcp.tools.studio_catalog import StudioInput

EntityType = Literal[
    "offer", "category", "subCategory", "channel", "placement", "creative", "qualificationRule",
    "contactPolicy", "decisionFlow", "journey", "trigger", "guardrail", "outcomeType",
]  # fmt: skip


class DeleteEntityIn(StudioInput):
    entityType: EntityType
    id: str = Field(min_length=1)


class EntityDeleted(Deleted):
    """What was deleted, plus the child rows removed with it (e.g. an offer's creatives)."""

    entityType: str
    cascaded: list[dict[str, str]] = Field(default_factory=list)


@tool(
    "deleteEntity",
    title="Delete entity",
    description="Soft-delete a studio entity (offers cascade to creatives); refuses protected/in-use ones.",
    module="studio",
    write=True,
    destructive=True,
    idempotent=True,
    routes=("DF",),
    min_role="admin",
)
async def delete_entity(ctx: ToolContext, args: DeleteEntityIn) -> EntityDeleted:
    async with repo_for(ctx) as repo:
        result = await catalog.delete_entity(repo, args.entityType, args.id)
    return EntityDeleted.model_validate(result)
