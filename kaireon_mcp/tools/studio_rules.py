"""Studio rule tools: qualification rules, contact policies, guardrails and outcome types.

Thin adapters over ``kaireon_mcp.core.catalog``; per-ruleType config validation, scope checks
and ordering (priority desc, then newest) live there. Rule and policy creation is admin-only,
as the REST reference documents for those endpoints.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, Field

from kaireon_mcp.core import catalog
from kaireon_mcp.tools.common import EntityOut, PageOut, entity_out, repo_for
from kaireon_mcp.tools.registry import ToolContext, tool
from kaireon_mcp.tools.studio_catalog import (
    Obj,
    Status,
    StudioInput,
    StudioList,
    StudioPatch,
    dump_changes,
    dump_create,
)

QualificationRuleType = Literal[
    "segment_required", "attribute_condition", "propensity_threshold", "recency_check", "metric_condition",
]  # fmt: skip
QualificationScope = Literal[
    "global", "segment", "channel", "category", "subcategory", "offer", "creative", "placement",
]  # fmt: skip
Stage = Literal["eligibility", "fit", "match", "ranking"]
PolicyRuleType = Literal[
    "frequency_cap", "cooldown", "budget_exhausted", "outcome_based", "segment_exclusion", "time_window",
    "mutual_exclusion", "cross_channel_cap", "customer_total_cap", "allow_override", "category_suppression",
    "do_not_contact", "metric_condition",
]  # fmt: skip
PolicyScope = Literal[
    "global", "offer", "creative", "channel", "category", "subcategory", "segment", "placement"
]


# ---- qualification rules --------------------------------------------------------------------
class ListQualificationRulesIn(StudioList):
    includeDeleted: bool = False
    stage: Stage | None = None


class CreateQualificationRuleIn(StudioInput):
    name: str = Field(min_length=1, max_length=255)
    ruleType: QualificationRuleType
    config: Obj = Field(description="per ruleType")
    description: str = ""
    status: Status = "draft"
    scope: QualificationScope = "global"
    scopeId: str | None = None
    priority: int = Field(50, ge=0, le=100)
    stage: str | None = Field(None, description="default per ruleType")


class UpdateQualificationRuleIn(StudioPatch):
    ruleId: str
    name: str | None = Field(None, min_length=1, max_length=255)
    ruleType: QualificationRuleType | None = None
    config: Obj | None = None
    description: str | None = None
    status: Status | None = None
    scope: QualificationScope | None = None
    scopeId: str | None = None
    priority: int | None = Field(None, ge=0, le=100)
    stage: str | None = None


@tool(
    "listQualificationRules",
    title="List qualification rules",
    description="List qualification rules by priority with their stage.",
    module="studio",
    routes=("DF",),
)
async def list_qualification_rules(ctx: ToolContext, args: ListQualificationRulesIn) -> PageOut:
    async with repo_for(ctx) as repo:
        page = await catalog.list_qualification_rules(
            repo,
            limit=args.limit,
            cursor=args.cursor,
            include_deleted=args.includeDeleted,
            stage=args.stage,
        )
    return PageOut.model_validate(page)


@tool(
    "createQualificationRule",
    title="Create qualification rule",
    description="Create an eligibility/fit/match rule that filters or down-weights offers.",
    module="studio",
    write=True,
    routes=("DF", "TR"),
    min_role="admin",
)
async def create_qualification_rule(ctx: ToolContext, args: CreateQualificationRuleIn) -> EntityOut:
    async with repo_for(ctx) as repo:
        return entity_out(await catalog.create_qualification_rule(repo, dump_create(args)))


@tool(
    "updateQualificationRule",
    title="Update qualification rule",
    description="Update a qualification rule: ruleId plus any createQualificationRule fields.",
    module="studio",
    write=True,
    idempotent=True,
    routes=("DF",),
)
async def update_qualification_rule(ctx: ToolContext, args: UpdateQualificationRuleIn) -> EntityOut:
    async with repo_for(ctx) as repo:
        changes = dump_changes(args, "ruleId")
        return entity_out(await catalog.update_qualification_rule(repo, args.ruleId, changes))


# ---- contact policies -----------------------------------------------------------------------
class CreateContactPolicyIn(StudioInput):
    name: str = Field(min_length=1, max_length=255)
    ruleType: PolicyRuleType
    config: Obj = Field(default_factory=dict, description="per ruleType")
    description: str = ""
    status: Status = "active"
    scope: PolicyScope | None = Field(None, description="default offer")
    scopeId: str | None = None
    scopes: list[Obj] | None = Field(None, description="[{scope,scopeId}]")
    priority: int = Field(50, ge=0, le=100)


class UpdateContactPolicyIn(StudioPatch):
    policyId: str
    name: str | None = Field(None, min_length=1, max_length=255)
    ruleType: PolicyRuleType | None = None
    config: Obj | None = None
    description: str | None = None
    status: Status | None = None
    scope: PolicyScope | None = None
    scopeId: str | None = None
    scopes: list[Obj] | None = None
    priority: int | None = Field(None, ge=0, le=100)


@tool(
    "listContactPolicies",
    title="List contact policies",
    description="List contact policies (caps, cooldowns, suppressions) by priority.",
    module="studio",
    routes=("all",),
)
async def list_contact_policies(ctx: ToolContext, args: StudioList) -> PageOut:
    async with repo_for(ctx) as repo:
        page = await catalog.list_contact_policies(repo, limit=args.limit, cursor=args.cursor)
    return PageOut.model_validate(page)


@tool(
    "createContactPolicy",
    title="Create contact policy",
    description="Create a contact policy (frequency cap, cooldown, suppression, ...).",
    module="studio",
    write=True,
    routes=("DF", "TR"),
    min_role="admin",
)
async def create_contact_policy(ctx: ToolContext, args: CreateContactPolicyIn) -> EntityOut:
    async with repo_for(ctx) as repo:
        return entity_out(await catalog.create_contact_policy(repo, dump_create(args)))


@tool(
    "updateContactPolicy",
    title="Update contact policy",
    description="Update a contact policy: policyId plus any createContactPolicy fields.",
    module="studio",
    write=True,
    idempotent=True,
    routes=("DF",),
)
async def update_contact_policy(ctx: ToolContext, args: UpdateContactPolicyIn) -> EntityOut:
    async with repo_for(ctx) as repo:
        changes = dump_changes(args, "policyId")
        return entity_out(await catalog.update_contact_policy(repo, args.policyId, changes))


# ---- guardrails and outcome types -----------------------------------------------------------
class CreateGuardrailIn(StudioInput):
    key: str = Field(min_length=1, max_length=128)
    name: str = Field(min_length=1, max_length=255)
    description: str = ""
    severity: Literal["hard", "soft"] = "hard"
    expressionAst: Obj = Field(default_factory=dict)
    status: Literal["active", "paused"] = "active"


class ListOutcomeTypesIn(StudioInput):
    includeDeleted: bool = False


class CreateOutcomeTypeIn(StudioInput):
    key: str = Field(min_length=1, max_length=64, description="snake_case")
    name: str = Field(min_length=1, max_length=255)
    classification: Literal["positive", "negative", "neutral"]
    category: Literal["impression", "response"]
    description: str = ""


class ItemsOut(BaseModel):
    """A complete (unpaginated) list."""

    items: list[dict[str, Any]]
    total: int


@tool(
    "createGuardrail",
    title="Create guardrail",
    description="Create a hard (blocking) or soft (warning) decision guardrail.",
    module="studio",
    write=True,
    routes=("DF", "TR"),
)
async def create_guardrail(ctx: ToolContext, args: CreateGuardrailIn) -> EntityOut:
    async with repo_for(ctx) as repo:
        return entity_out(await catalog.create_guardrail(repo, dump_create(args)))


@tool(
    "listOutcomeTypes",
    title="List outcome types",
    description="List outcome types (system defaults seeded on first use).",
    module="studio",
)
async def list_outcome_types(ctx: ToolContext, args: ListOutcomeTypesIn) -> ItemsOut:
    async with repo_for(ctx) as repo:
        return ItemsOut.model_validate(
            await catalog.list_outcome_types(repo, include_deleted=args.includeDeleted)
        )


@tool(
    "createOutcomeType",
    title="Create outcome type",
    description="Add a custom outcome type to the response vocabulary.",
    module="studio",
    write=True,
    routes=("DF", "TR"),
)
async def create_outcome_type(ctx: ToolContext, args: CreateOutcomeTypeIn) -> EntityOut:
    async with repo_for(ctx) as repo:
        return entity_out(await catalog.create_outcome_type(repo, dump_create(args)))
