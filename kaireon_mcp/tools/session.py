"""``setRoute``: switch the route scope of the current MCP session.

Why its routes are ``()`` (general only): tool-catalog.md section 4 fixes the 18 base tools of
every route, and adding ``setRoute`` to them would break that contract for the chat assistant,
which has no session to switch. The MCP server instead adds it to the visible list of every
*session* connection (stdio, handshake-era stateful HTTP) on any route, and lets it be called
on sessionless requests only to explain that the route belongs on the URL or a header.

The tool reaches the session through ``ctx.services["session"]``, a :class:`RouteSwitcher` the
transport wires in; without one the call is refused with ``ROUTE_SCOPE``.
"""

from __future__ import annotations

import re
from typing import Any, Protocol

from pydantic import BaseModel, Field, field_validator

from kaireon_mcp.errors import RouteScopeError
from kaireon_mcp.tools.registry import ToolContext, ToolInput, tool

__all__ = ["SESSION_SERVICE", "SET_ROUTE", "RouteSwitcher", "SetRouteIn", "SetRouteOut", "set_route"]

SET_ROUTE = "setRoute"
SESSION_SERVICE = "session"

_ROUTE = re.compile(r"^/?[A-Za-z0-9_./-]*$")
SESSIONLESS_HINT = (
    "setRoute needs a session (stdio or a handshake-era HTTP session) and this request has none; "
    "pass the route on every request instead: ?route=/algorithms/models on the MCP URL "
    "or the X-Kaireon-Route header"
)


class RouteSwitcher(Protocol):
    """What the transport offers: switch the session's route and announce the new tool list."""

    async def switch_route(self, route: str) -> dict[str, Any]:
        """Apply ``route`` to the session; return the ``SetRouteOut`` fields (route, module,
        toolCount, notified)."""
        ...


class SetRouteIn(ToolInput):
    route: str = Field(..., min_length=1, max_length=200, description="e.g. /algorithms/models; / for all")

    @field_validator("route")
    @classmethod
    def _path_like(cls, value: str) -> str:
        # Checked here rather than advertised as a schema pattern: the schema is paid for in
        # every tools/list, the check only on a bad call.
        if not _ROUTE.match(value):
            raise ValueError("must be a path such as /algorithms/models")
        return value


class SetRouteOut(BaseModel):
    route: str
    module: str
    toolCount: int
    notified: bool


@tool(
    SET_ROUTE,
    title="Switch route scope",
    description=(
        "Switch this session's tools to another product area (/algorithms/models, "
        "/studio/decision-flows, /data/schemas, /dashboards/overview, / for all); the tool list changes. "
        "Sessionless HTTP: pass ?route= or X-Kaireon-Route instead."
    ),
    module="Session",
    routes=(),
    idempotent=True,
)
async def set_route(ctx: ToolContext, args: SetRouteIn) -> SetRouteOut:
    switcher: RouteSwitcher | None = ctx.services.get(SESSION_SERVICE)
    if switcher is None:
        raise RouteScopeError(SESSIONLESS_HINT, field="route")
    return SetRouteOut.model_validate(await switcher.switch_route(args.route))
