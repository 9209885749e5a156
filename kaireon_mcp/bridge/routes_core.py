"""The core's Recommend / Respond endpoints, dispatched to the ``recommend`` / ``recordOutcome`` tools."""

from __future__ import annotations

from typing import Any

from kaireon_mcp.bridge.operations import Call, Operation
from kaireon_mcp.core.decisioning.api import (
    RecommendRequest,
    RecommendResponse,
    RespondRequest,
    RespondResponse,
)
from kaireon_mcp.errors import ValidationError
from kaireon_mcp.tools.registry import ScopePolicy, execute

__all__ = ["CORE_OPERATIONS"]


def _object(body: Any) -> dict[str, Any]:
    if not isinstance(body, dict):
        raise ValidationError("the JSON body must be an object")
    return body


async def _recommend(call: Call) -> Any:
    ctx = call.state.tool_context(call.principal)
    return await execute("recommend", _object(call.body), ctx, ScopePolicy(route="/"))


async def _respond(call: Call) -> Any:
    body = dict(_object(call.body))
    header = call.request.headers.get("idempotency-key")
    if header and not body.get("idempotencyKey"):
        body["idempotencyKey"] = header
    ctx = call.state.tool_context(call.principal)
    return await execute("recordOutcome", body, ctx, ScopePolicy(route="/"))


CORE_OPERATIONS: list[Operation] = [
    Operation("POST", "/api/v1/recommend", _recommend, "Rank offers for one customer",
              min_role="editor", body_kind="raw", body=RecommendRequest, tags=("decisioning",),
              responses={200: RecommendResponse, 404: None}),
    Operation("POST", "/api/v1/respond", _respond, "Record an outcome against a prior recommendation",
              min_role="editor", body_kind="raw", body=RespondRequest, tags=("decisioning",),
              responses={200: RespondResponse, 404: None, 409: None}),
]  # fmt: skip
