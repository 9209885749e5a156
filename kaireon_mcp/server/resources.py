"""Read-only JSON views of offers, decision flows and contact policies as MCP resources.

Views read through the tenant repository with the request's principal, so a resource can never
show another tenant's rows. They are snapshots for a model's context, not an editing surface:
changes go through the write tools, which are gated and audited.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

from mcp.types import Resource, ResourceTemplate

from kaireon_mcp.errors import NotFoundError
from kaireon_mcp.storage.context import TenantContext
from kaireon_mcp.storage.db import Database
from kaireon_mcp.storage.repository import Repository
from kaireon_mcp.storage.tables import (
    ContactPolicy,
    Creative,
    DecisionFlow,
    DecisionFlowNode,
    DecisionFlowVersion,
    Offer,
)

__all__ = ["RESOURCES", "TEMPLATES", "read_view"]

SCHEME = "kaireon://"
JSON = "application/json"
#: a resource is context for a model; beyond this the tools (with paging) are the better path
MAX_ITEMS = 500

RESOURCES = [
    Resource(
        uri="kaireon://offers",
        name="offers",
        title="Offers",
        description="Every offer of the tenant (any status) as JSON, highest priority first.",
        mime_type=JSON,
    ),
    Resource(
        uri="kaireon://decision-flows",
        name="decision-flows",
        title="Decision flows",
        description="Decision flows with status, default flag and published version.",
        mime_type=JSON,
    ),
    Resource(
        uri="kaireon://contact-policies",
        name="contact-policies",
        title="Contact policies",
        description="Contact policies by descending priority with rule type, scope and config.",
        mime_type=JSON,
    ),
]

TEMPLATES = [
    ResourceTemplate(
        uri_template="kaireon://offers/{offerId}",
        name="offer",
        title="Offer",
        description="One offer with its creatives.",
        mime_type=JSON,
    ),
    ResourceTemplate(
        uri_template="kaireon://decision-flows/{flowKey}",
        name="decision-flow",
        title="Decision flow",
        description="One decision flow by key: draft nodes in order and published versions.",
        mime_type=JSON,
    ),
    ResourceTemplate(
        uri_template="kaireon://contact-policies/{policyId}",
        name="contact-policy",
        title="Contact policy",
        description="One contact policy.",
        mime_type=JSON,
    ),
]


def _listing(rows: list[Any]) -> dict[str, Any]:
    return {"items": [row.to_dict() for row in rows[:MAX_ITEMS]], "count": len(rows)}


async def _offers(repo: Repository, offer_id: str | None) -> dict[str, Any]:
    if offer_id is None:
        return _listing(await repo.all(Offer, order_by=[Offer.priority.desc(), Offer.name]))
    offer = await repo.get(Offer, offer_id)
    creatives = await repo.all(Creative, Creative.offer_id == offer.id, order_by=Creative.name)
    return {**offer.to_dict(), "creatives": [c.to_dict() for c in creatives]}


async def _flows(repo: Repository, key: str | None) -> dict[str, Any]:
    if key is None:
        return _listing(await repo.all(DecisionFlow, order_by=DecisionFlow.key))
    flow = await repo.find(DecisionFlow, key=key) or await repo.find(DecisionFlow, id=key)
    if flow is None:
        raise NotFoundError(f"decision flow {key!r} not found")
    nodes = await repo.all(
        DecisionFlowNode, DecisionFlowNode.flow_id == flow.id, order_by=DecisionFlowNode.position
    )
    versions = await repo.all(
        DecisionFlowVersion,
        DecisionFlowVersion.flow_id == flow.id,
        order_by=DecisionFlowVersion.version.desc(),
    )
    return {
        **flow.to_dict(),
        "nodes": [
            {"id": n.node_key, "type": n.type, "position": n.position, "config": n.config} for n in nodes
        ],
        "versions": [
            {
                "version": v.version,
                "publishedAt": v.to_dict()["publishedAt"],
                "publishedBy": v.published_by,
                "notes": v.notes,
            }
            for v in versions
        ],
    }


async def _policies(repo: Repository, policy_id: str | None) -> dict[str, Any]:
    if policy_id is None:
        order = [ContactPolicy.priority.desc(), ContactPolicy.name]
        return _listing(await repo.all(ContactPolicy, order_by=order))
    return (await repo.get(ContactPolicy, policy_id)).to_dict()


_VIEWS: dict[str, Callable[[Repository, str | None], Awaitable[dict[str, Any]]]] = {
    "offers": _offers,
    "decision-flows": _flows,
    "contact-policies": _policies,
}


async def read_view(db: Database, principal: TenantContext, uri: str) -> dict[str, Any]:
    """The JSON behind ``uri``.

    Raises:
        NotFoundError: unknown URI, or no such row in the caller's tenant.
    """
    if not uri.startswith(SCHEME):
        raise NotFoundError(f"unknown resource {uri}")
    collection, _, item = uri[len(SCHEME) :].partition("/")
    view = _VIEWS.get(collection)
    if view is None or "/" in item:
        raise NotFoundError(f"unknown resource {uri}")
    async with db.tenant(principal) as repo:
        return await view(repo, item or None)
