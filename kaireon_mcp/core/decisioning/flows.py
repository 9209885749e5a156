"""Decision flows: resolution for a request, the publish gate, drafts, versions and nodes."""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from sqlalchemy import func, select

from kaireon_mcp.core.flow_schema import BASE_FLOW_KEY, BASE_FLOW_NAME, base_flow_nodes, validate_flow
from kaireon_mcp.errors import ConflictError, NotFoundError, ValidationError
from kaireon_mcp.storage.repository import Repository
from kaireon_mcp.storage.tables import DecisionFlow, DecisionFlowNode, DecisionFlowVersion, FlowRoute
from kaireon_mcp.storage.types import new_id


@dataclass
class ResolvedFlow:
    """The flow a decision runs: its row, published version and node list."""

    flow: dict[str, Any]
    version: int
    nodes: list[dict[str, Any]]
    how: str


async def latest_version(repo: Repository, flow_id: str) -> DecisionFlowVersion | None:
    stmt = (
        repo.scoped(DecisionFlowVersion)
        .where(DecisionFlowVersion.flow_id == flow_id)
        .order_by(DecisionFlowVersion.version.desc())
        .limit(1)
    )
    row: DecisionFlowVersion | None = (await repo.session.execute(stmt)).scalar_one_or_none()
    return row


async def draft_nodes(repo: Repository, flow_id: str) -> list[dict[str, Any]]:
    rows = await repo.all(
        DecisionFlowNode, DecisionFlowNode.flow_id == flow_id, order_by=DecisionFlowNode.position
    )
    return [{"id": r.node_key, "type": r.type, "config": dict(r.config or {})} for r in rows]


async def _runnable(repo: Repository, flow: DecisionFlow) -> ResolvedFlow | None:
    """The publish gate: active (or published) and at least one published version."""
    if flow.status not in {"active", "published"}:
        return None
    version = await latest_version(repo, flow.id)
    if version is None:
        return None
    nodes = list((version.config_snapshot or {}).get("nodes") or [])
    return ResolvedFlow(flow.to_dict(), version.version, nodes, "")


async def flow_by_key(repo: Repository, key: str) -> DecisionFlow:
    flow = await repo.find(DecisionFlow, key=key) or await repo.find(DecisionFlow, id=key)
    if flow is None:
        raise NotFoundError(f"decision flow {key!r} not found", field="decisionFlowKey")
    return flow


async def resolve_flow(
    repo: Repository, key: str | None, channel_id: str | None, placement_id: str | None, *, create_base: bool
) -> ResolvedFlow:
    """Explicit key → FlowRoute (most specific, then priority) → default → latest published → base flow."""
    if key:
        flow = await flow_by_key(repo, key)
        resolved = await _runnable(repo, flow)
        if resolved is None:
            raise ConflictError(f"decision flow {key!r} is not active and published", field="decisionFlowKey")
        resolved.how = "explicit key"
        return resolved
    for flow, how in await _candidate_flows(repo, channel_id, placement_id):
        resolved = await _runnable(repo, flow)
        if resolved is not None:
            resolved.how = how
            return resolved
    if create_base:
        flow = await ensure_base_flow(repo)
        resolved = await _runnable(repo, flow)
        if resolved is not None:
            resolved.how = "base flow created"
            return resolved
    return ResolvedFlow(
        {"id": None, "key": BASE_FLOW_KEY, "name": BASE_FLOW_NAME, "couplingOverride": None},
        0,
        base_flow_nodes(),
        "built-in base flow",
    )


async def _candidate_flows(
    repo: Repository, channel_id: str | None, placement_id: str | None
) -> list[tuple[DecisionFlow, str]]:
    out: list[tuple[DecisionFlow, str]] = []
    routes = await repo.all(FlowRoute, order_by=[FlowRoute.priority.desc(), FlowRoute.created_at.desc()])
    tiers = [
        (
            "route channel+placement",
            lambda r: (
                channel_id and placement_id and r.channel_id == channel_id and r.placement_id == placement_id
            ),
        ),
        ("route channel", lambda r: channel_id and r.channel_id == channel_id and r.placement_id is None),
        ("route catch-all", lambda r: r.channel_id is None and r.placement_id is None),
    ]
    for label, match in tiers:
        for route in routes:
            if match(route):
                flow = await repo.find(DecisionFlow, id=route.decision_flow_id)
                if flow is not None:
                    out.append((flow, label))
    default = await repo.find(DecisionFlow, is_default=True)
    if default is not None:
        out.append((default, "tenant default"))
    for flow in await repo.all(DecisionFlow, order_by=DecisionFlow.updated_at.desc()):
        out.append((flow, "latest published"))
    return out


async def ensure_base_flow(repo: Repository) -> DecisionFlow:
    """Create (or return) the tenant's Base NBA Flow, published and default when none exists."""
    existing = await repo.find(DecisionFlow, key=BASE_FLOW_KEY)
    if existing is not None:
        return existing
    has_default = await repo.find(DecisionFlow, is_default=True) is not None
    flow = await create_flow(
        repo,
        {
            "key": BASE_FLOW_KEY,
            "name": BASE_FLOW_NAME,
            "is_default": not has_default,
            "description": "Default flow: qualify, contact policy, priority scoring.",
        },
        base_flow_nodes(),
    )
    await publish_flow(repo, flow.id, "Base NBA Flow created automatically")
    return await repo.get(DecisionFlow, flow.id)


def _slug(text: str) -> str:
    return re.sub(r"[^a-z0-9]+", "_", text.lower()).strip("_") or "node"


async def create_flow(repo: Repository, values: dict[str, Any], nodes: list[dict[str, Any]]) -> DecisionFlow:
    nodes = normalize_nodes(nodes)
    validate_flow(nodes, await _flow_resolver(repo))
    if values.get("is_default"):
        await _clear_default(repo)
    elif await repo.count(DecisionFlow) == 0:
        values["is_default"] = True  # the first flow of a tenant is its default
    flow = await repo.create(DecisionFlow, values)
    await _write_nodes(repo, flow.id, nodes)
    return flow


async def _clear_default(repo: Repository) -> None:
    for other in await repo.all(DecisionFlow, DecisionFlow.is_default.is_(True)):
        await repo.update(DecisionFlow, other, {"is_default": False})


def normalize_nodes(nodes: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Give every node an id (``type`` or ``type_2``) and a config object."""
    seen: set[str] = set()
    out = []
    for node in nodes:
        if not isinstance(node, dict):
            raise ValidationError("each node must be an object with type and config", field="nodes")
        node_id = str(node.get("id") or _slug(str(node.get("type", "node"))))
        base, n = node_id, 2
        while node_id in seen and not node.get("id"):
            node_id, n = f"{base}_{n}", n + 1
        seen.add(node_id)
        out.append({"id": node_id, "type": node.get("type"), "config": dict(node.get("config") or {})})
    return out


async def _write_nodes(repo: Repository, flow_id: str, nodes: list[dict[str, Any]]) -> None:
    for row in await repo.all(DecisionFlowNode, DecisionFlowNode.flow_id == flow_id):
        await repo.delete(DecisionFlowNode, row, soft=False)
    await repo.session.flush()
    for position, node in enumerate(nodes):
        await repo.create(
            DecisionFlowNode,
            {
                "id": new_id("node"),
                "flow_id": flow_id,
                "node_key": node["id"],
                "position": position,
                "type": node["type"],
                "config": node["config"],
            },
        )


async def _flow_resolver(repo: Repository):  # type: ignore[no-untyped-def]
    """Map a flow key/id to its draft nodes, for call_flow depth and cycle checks."""
    flows = await repo.all(DecisionFlow)
    graph: dict[str, list[dict[str, Any]]] = {}
    for flow in flows:
        nodes = await draft_nodes(repo, flow.id)
        graph[flow.key] = nodes
        graph[flow.id] = nodes
    return graph.get


async def replace_nodes(repo: Repository, flow_id: str, nodes: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Validate and store a new draft pipeline (the whole list, in order)."""
    flow = await repo.get(DecisionFlow, flow_id)
    nodes = normalize_nodes(nodes)
    resolver = await _flow_resolver(repo)

    def resolve(ref: str) -> list[dict[str, Any]] | None:
        return nodes if ref in (flow.key, flow.id) else resolver(ref)

    validate_flow(nodes, resolve)
    await _write_nodes(repo, flow.id, nodes)
    await repo.update(DecisionFlow, flow, {})
    return nodes


async def publish_flow(repo: Repository, flow_id: str, notes: str = "") -> DecisionFlowVersion:
    """Freeze the draft as the next immutable version; the flow becomes active and protected."""
    flow = await repo.get(DecisionFlow, flow_id)
    nodes = await draft_nodes(repo, flow.id)
    validate_flow(nodes, await _flow_resolver(repo))
    stmt = select(func.max(DecisionFlowVersion.version)).where(
        repo.tenant_filter(DecisionFlowVersion), DecisionFlowVersion.flow_id == flow.id
    )
    number = int((await repo.session.execute(stmt)).scalar_one() or 0) + 1
    version = await repo.create(
        DecisionFlowVersion,
        {
            "flow_id": flow.id,
            "version": number,
            "notes": notes,
            "published_by": repo.ctx.actor,
            "config_snapshot": {"version": 2, "nodes": nodes, "flowConfig": dict(flow.flow_config or {})},
        },
        audit_action="publish",
    )
    await repo.update(
        DecisionFlow,
        flow,
        {"status": "active", "protected": True, "published_version": number},
        audit_action="publish",
    )
    return version


async def flow_detail(repo: Repository, flow: DecisionFlow) -> dict[str, Any]:
    versions = await repo.all(
        DecisionFlowVersion,
        DecisionFlowVersion.flow_id == flow.id,
        order_by=DecisionFlowVersion.version.desc(),
    )
    out = flow.to_dict()
    out["draftConfig"] = {
        "version": 2,
        "nodes": await draft_nodes(repo, flow.id),
        "flowConfig": flow.flow_config,
    }
    out["publishedVersions"] = [
        {
            "version": v.version,
            "publishedAt": v.to_dict()["publishedAt"],
            "notes": v.notes,
            "summary": {"nodeCount": len((v.config_snapshot or {}).get("nodes") or [])},
        }
        for v in versions
    ]
    return out
