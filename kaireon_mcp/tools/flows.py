"""Decision-flow tools: list/get/create/update/publish flows and edit V2 pipeline nodes."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, Field

from kaireon_mcp.core.decisioning.flows import (
    create_flow,
    draft_nodes,
    flow_by_key,
    flow_detail,
    publish_flow,
    replace_nodes,
)
from kaireon_mcp.core.flow_schema import (
    GROUP_STRATEGIES,
    NODE_TYPES,
    RANK_METHODS,
    SCORING_METHODS,
    base_flow_nodes,
    default_node_config,
    list_node_types,
)
from kaireon_mcp.errors import ConflictError, NotFoundError, ValidationError
from kaireon_mcp.storage.repository import Repository
from kaireon_mcp.storage.tables import ApprovalRequest, DecisionFlow, Tenant
from kaireon_mcp.tools.common import EntityOut, PageOut, StudioPage, entity_out, page_out, repo_for
from kaireon_mcp.tools.registry import NoArgs, ToolContext, ToolInput, tool

FlowStatus = Literal["draft", "active", "paused", "archived"]
NodeTypeName = Literal[
    "inventory",
    "match_creatives",
    "enrich",
    "qualify",
    "contact_policy",
    "filter",
    "conditional",
    "call_flow",
    "score",
    "optimize",
    "rank",
    "group",
    "compute",
    "set_properties",
    "response",
    "extension_point",
]


class Catalogue(BaseModel):
    items: list[dict[str, Any]]


class FlowListArgs(StudioPage):
    status: FlowStatus | None = None


@tool(
    "listDecisionFlows",
    title="List decision flows",
    module="studio",
    routes=["all"],
    description="List decision flows with status, default flag and latest published version.",
)
async def list_flows(ctx: ToolContext, args: FlowListArgs) -> PageOut:
    async with repo_for(ctx) as repo:
        where = [DecisionFlow.status == args.status] if args.status else []
        page = await repo.page(
            DecisionFlow,
            *where,
            limit=args.limit,
            cursor=args.cursor,
            order_by=[DecisionFlow.is_default.desc(), DecisionFlow.updated_at.desc()],
        )
        return page_out(page)


class FlowRef(ToolInput):
    flowId: str | None = Field(None, description="flow id")
    key: str | None = Field(None, description="flow key (alternative to flowId)")


async def _flow(repo: Repository, flow_id: str | None, key: str | None = None) -> DecisionFlow:
    ref = flow_id or key
    if not ref:
        raise ValidationError("give flowId or key", field="flowId")
    try:
        return await flow_by_key(repo, ref)
    except NotFoundError:
        raise NotFoundError(
            f"decision flow {ref!r} not found", field="flowId" if flow_id else "key"
        ) from None


@tool(
    "getDecisionFlow",
    title="Get decision flow",
    module="studio",
    routes=["DF"],
    description="Return a flow's draft pipeline nodes, versions and rowVersion by flowId or key.",
)
async def get_flow(ctx: ToolContext, args: FlowRef) -> EntityOut:
    async with repo_for(ctx) as repo:
        return entity_out(await flow_detail(repo, await _flow(repo, args.flowId, args.key)))


class DraftConfig(ToolInput):
    version: int = 2
    nodes: list[dict[str, Any]] = Field(default_factory=list)
    flowConfig: dict[str, Any] = Field(default_factory=dict)


class CreateFlowArgs(ToolInput):
    key: str = Field(min_length=1, max_length=255, pattern=r"^[A-Za-z0-9_.-]+$")
    name: str = Field(min_length=1, max_length=255)
    description: str = ""
    status: FlowStatus = "draft"
    autoAssembly: bool = True
    draftConfig: DraftConfig | None = Field(
        None, description="{version:2, nodes:[{id,type,config}], flowConfig}"
    )
    isDefault: bool = False
    couplingOverride: Literal["partial", "atomic"] | None = None


@tool(
    "createDecisionFlow",
    title="Create decision flow",
    module="studio",
    write=True,
    routes=["DF", "TR"],
    description=(
        "Create a decision flow (default: the Base NBA pipeline); publish it before recommend runs it."
    ),
)
async def create_decision_flow(ctx: ToolContext, args: CreateFlowArgs) -> EntityOut:
    nodes = args.draftConfig.nodes if args.draftConfig and args.draftConfig.nodes else base_flow_nodes()
    async with repo_for(ctx) as repo:
        flow = await create_flow(
            repo,
            {
                "key": args.key,
                "name": args.name,
                "description": args.description,
                "status": args.status,
                "auto_assembly": args.autoAssembly,
                "is_default": args.isDefault,
                "coupling_override": args.couplingOverride,
                "flow_config": args.draftConfig.flowConfig if args.draftConfig else {},
            },
            nodes,
        )
        return entity_out(await flow_detail(repo, flow))


class UpdateFlowArgs(ToolInput):
    flowId: str = Field(min_length=1)
    name: str | None = Field(None, min_length=1, max_length=255)
    description: str | None = None
    status: FlowStatus | None = None
    autoAssembly: bool | None = None
    draftConfig: DraftConfig | None = None
    isDefault: bool | None = None
    couplingOverride: Literal["partial", "atomic"] | None = None
    rowVersion: int | None = Field(None, description="optimistic concurrency: current rowVersion")


@tool(
    "updateDecisionFlow",
    title="Update decision flow",
    module="studio",
    write=True,
    routes=["DF"],
    description=(
        "Edit a flow's fields or whole draft pipeline (validated); pass rowVersion to avoid lost updates."
    ),
)
async def update_decision_flow(ctx: ToolContext, args: UpdateFlowArgs) -> EntityOut:
    async with repo_for(ctx) as repo:
        flow = await _flow(repo, args.flowId)
        if args.rowVersion is not None and args.rowVersion != flow.row_version:
            raise ConflictError(
                f"rowVersion {args.rowVersion} is stale (current {flow.row_version})", field="rowVersion"
            )
        changes: dict[str, Any] = {
            column: value
            for column, value in (
                ("name", args.name),
                ("description", args.description),
                ("status", args.status),
                ("auto_assembly", args.autoAssembly),
                ("coupling_override", args.couplingOverride),
            )
            if value is not None
        }
        if args.isDefault:
            for other in await repo.all(
                DecisionFlow, DecisionFlow.is_default.is_(True), DecisionFlow.id != flow.id
            ):
                await repo.update(DecisionFlow, other, {"is_default": False})
            changes["is_default"] = True
        if args.draftConfig is not None:
            changes["flow_config"] = args.draftConfig.flowConfig
            await replace_nodes(repo, flow.id, args.draftConfig.nodes)
        await repo.update(DecisionFlow, flow, changes)
        return entity_out(await flow_detail(repo, flow))


class PublishArgs(ToolInput):
    flowId: str = Field(min_length=1)
    notes: str = ""


@tool(
    "publishDecisionFlow",
    title="Publish decision flow",
    module="studio",
    write=True,
    routes=["DF"],
    description=(
        "Publish the draft as a new immutable version that recommend runs (flow becomes active, protected)."
    ),
)
async def publish_decision_flow(ctx: ToolContext, args: PublishArgs) -> EntityOut:
    async with repo_for(ctx) as repo:
        flow = await _flow(repo, args.flowId)
        await _consume_publish_approval(repo, flow)
        version = await publish_flow(repo, flow.id, args.notes)
        detail = await flow_detail(repo, flow)
        detail["publishedVersion"] = version.version
        return entity_out(detail)


async def _consume_publish_approval(repo: Repository, flow: DecisionFlow) -> None:
    """With requirePublishApproval, one approved request allows exactly one publish."""
    tenant = await repo.session.get(Tenant, repo.ctx.tenant_id)
    if not (tenant and (tenant.settings or {}).get("requirePublishApproval")):
        return
    approval = await repo.find(
        ApprovalRequest, entity_type="decisionFlow", entity_id=flow.id, action="publish", status="approved"
    )
    if approval is None:
        raise ConflictError(
            "publishing this flow needs an approved approval request (requirePublishApproval)", field="flowId"
        )
    await repo.update(ApprovalRequest, approval, {"status": "consumed"})


class V2FlowArgs(ToolInput):
    key: str = Field(min_length=1, max_length=255, pattern=r"^[A-Za-z0-9_.-]+$")
    name: str = Field(min_length=1, max_length=255)
    description: str = ""
    scoringMethod: Literal["priority_weighted", "propensity", "formula", "external_endpoint"] = (
        "priority_weighted"
    )
    rankMethod: Literal["score", "diversity", "weighted_random", "round_robin"] = "score"
    maxCandidates: int = Field(5, ge=1, le=50)
    modelKey: str | None = Field(None, description="model for propensity/formula scoring")
    nodes: list[dict[str, Any]] | None = Field(
        None, description="full custom node list instead of the compact spec"
    )


def compact_pipeline(args: V2FlowArgs) -> list[dict[str, Any]]:
    """The compact default: inventory, qualify, contact policy, score, rank, response."""
    score: dict[str, Any] = {"method": args.scoringMethod}
    if args.modelKey:
        score["modelKey"] = args.modelKey
    return [
        {"id": "inventory", "type": "inventory", "config": {"scope": "all", "includeStatuses": ["active"]}},
        {"id": "qualify", "type": "qualify", "config": {"mode": "all"}},
        {"id": "contact_policy", "type": "contact_policy", "config": {"mode": "all"}},
        {"id": "score", "type": "score", "config": score},
        {
            "id": "rank",
            "type": "rank",
            "config": {"method": args.rankMethod, "maxCandidates": args.maxCandidates},
        },
        {"id": "response", "type": "response", "config": {"responseFormat": "standard"}},
    ]


@tool(
    "createV2DecisionFlow",
    title="Create V2 flow",
    module="studio",
    write=True,
    routes=["DF"],
    description=(
        "Build a v2 flow from a compact spec (scoring, rank, "
        "maxCandidates) or a node list; draft until published."
    ),
)
async def create_v2_flow(ctx: ToolContext, args: V2FlowArgs) -> EntityOut:
    async with repo_for(ctx) as repo:
        flow = await create_flow(
            repo,
            {"key": args.key, "name": args.name, "description": args.description},
            args.nodes or compact_pipeline(args),
        )
        return entity_out(await flow_detail(repo, flow))


class AddNodeArgs(ToolInput):
    flowId: str = Field(min_length=1)
    type: NodeTypeName
    config: dict[str, Any] | None = None
    position: int | None = Field(
        None, ge=0, description="index; omitted = auto-placed at the end of its phase"
    )
    nodeId: str | None = Field(None, description="id for the new node (default: derived from type)")


def _auto_position(nodes: list[dict[str, Any]], node_type: str) -> int:
    phase = NODE_TYPES[node_type].phase
    if phase is None:
        return len(nodes)
    for index, node in enumerate(nodes):
        other = NODE_TYPES.get(str(node.get("type")))
        if other and other.phase is not None and other.phase > phase:
            return index
        if node.get("type") == "response" and phase < 3:
            return index
    return len(nodes)


@tool(
    "addPipelineNode",
    title="Add pipeline node",
    module="studio",
    write=True,
    routes=["DF"],
    description=(
        "Insert a node into a flow's draft pipeline (auto-placed in its phase without position); validated."
    ),
)
async def add_node(ctx: ToolContext, args: AddNodeArgs) -> EntityOut:
    async with repo_for(ctx) as repo:
        flow = await _flow(repo, args.flowId)
        nodes = await draft_nodes(repo, flow.id)
        taken = {n["id"] for n in nodes}
        node_id = args.nodeId or args.type
        suffix = 2
        while node_id in taken:
            node_id, suffix = f"{args.nodeId or args.type}_{suffix}", suffix + 1
        config = {**default_node_config(args.type), **(args.config or {})}
        position = args.position if args.position is not None else _auto_position(nodes, args.type)
        nodes.insert(min(position, len(nodes)), {"id": node_id, "type": args.type, "config": config})
        await replace_nodes(repo, flow.id, nodes)
        return entity_out(await flow_detail(repo, flow))


class UpdateNodeArgs(ToolInput):
    flowId: str = Field(min_length=1)
    nodeId: str = Field(min_length=1)
    config: dict[str, Any] = Field(description="merged into the node's config")


@tool(
    "updatePipelineNode",
    title="Update pipeline node",
    module="studio",
    write=True,
    routes=["DF"],
    description="Merge new settings into one node's config in a flow's draft pipeline (validated).",
)
async def update_node(ctx: ToolContext, args: UpdateNodeArgs) -> EntityOut:
    async with repo_for(ctx) as repo:
        flow = await _flow(repo, args.flowId)
        nodes = await draft_nodes(repo, flow.id)
        node = next((n for n in nodes if n["id"] == args.nodeId), None)
        if node is None:
            raise NotFoundError(f"node {args.nodeId!r} not in flow {flow.key!r}", field="nodeId")
        node["config"] = {**node["config"], **args.config}
        await replace_nodes(repo, flow.id, nodes)
        return entity_out(await flow_detail(repo, flow))


class RemoveNodeArgs(ToolInput):
    flowId: str = Field(min_length=1)
    nodeId: str = Field(min_length=1)


@tool(
    "removePipelineNode",
    title="Remove pipeline node",
    module="studio",
    write=True,
    destructive=True,
    routes=["DF"],
    description="Delete a node from a flow's draft pipeline (the inventory node cannot go).",
)
async def remove_node(ctx: ToolContext, args: RemoveNodeArgs) -> EntityOut:
    async with repo_for(ctx) as repo:
        flow = await _flow(repo, args.flowId)
        nodes = await draft_nodes(repo, flow.id)
        remaining = [n for n in nodes if n["id"] != args.nodeId]
        if len(remaining) == len(nodes):
            raise NotFoundError(f"node {args.nodeId!r} not in flow {flow.key!r}", field="nodeId")
        await replace_nodes(repo, flow.id, remaining)
        return entity_out(await flow_detail(repo, flow))


class NodeTypeArgs(ToolInput):
    phase: Literal["narrow", "score_rank", "output"] | None = None


@tool(
    "listV2NodeTypes",
    title="List pipeline node types",
    module="studio",
    routes=["all"],
    description="List the 16 V2 pipeline node types by phase with their default configs.",
)
async def list_node_types_tool(ctx: ToolContext, args: NodeTypeArgs) -> Catalogue:
    items = [n for n in list_node_types() if args.phase is None or n["phaseName"] in (args.phase, "cross")]
    return Catalogue(items=items)


def _catalogue(mapping: dict[str, str] | Any) -> Catalogue:
    return Catalogue(items=[{"name": name, "description": text} for name, text in mapping.items()])


@tool(
    "listScoringMethods",
    title="List scoring methods",
    module="studio",
    routes=["all"],
    description=(
        "List the score node's methods: priority_weighted, propensity, PRIE formula, external endpoint."
    ),
)
async def list_scoring(ctx: ToolContext, args: NoArgs) -> Catalogue:
    return _catalogue(SCORING_METHODS)


@tool(
    "listRankMethods",
    title="List rank methods",
    module="studio",
    routes=["all"],
    description="List the rank node's ranking algorithms (score, diversity, weighted_random, round_robin).",
)
async def list_rank(ctx: ToolContext, args: NoArgs) -> Catalogue:
    return _catalogue(RANK_METHODS)


@tool(
    "listGroupAllocationStrategies",
    title="List group strategies",
    module="studio",
    routes=["all"],
    description="List the group node's placement allocation strategies (greedy, optimal Hungarian, equal).",
)
async def list_group(ctx: ToolContext, args: NoArgs) -> Catalogue:
    return _catalogue(GROUP_STRATEGIES)
