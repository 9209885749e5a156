"""Which tools a request may see and call: server flags, the session's route, request headers.

A request is governed by a *chain* of :class:`ScopePolicy` values and a tool must pass every one:

1. the server's flags (``--route``, ``--read-only``, ``--tools``, ``--exclude-tools``), the upper bound;
2. on session connections, the route chosen with ``setRoute`` (or stdio's starting ``--route``);
3. on HTTP, what the request itself asks for (``?route=``, ``X-Kaireon-Route``,
   ``X-Kaireon-Read-Only``, ``X-Kaireon-Exclude-Tools``).

Intersecting instead of overriding is what makes headers narrow-only: a header route of ``/``
under a server bound of ``/algorithms`` still yields the algorithms subset. ``execute()`` checks the
last (most specific) policy itself; the others are checked here first.
"""

from __future__ import annotations

import dataclasses
from collections import OrderedDict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

from kaireon_mcp.errors import RouteScopeError
from kaireon_mcp.storage.context import TenantContext
from kaireon_mcp.tools.registry import (
    ScopePolicy,
    Tool,
    ToolRegistry,
    normalize_route,
    route_code,
)
from kaireon_mcp.tools.session import SET_ROUTE

__all__ = [
    "ROUTE_HEADER",
    "READ_ONLY_HEADER",
    "EXCLUDE_HEADER",
    "RouteSession",
    "ScopeChain",
    "SessionStore",
    "request_policy",
    "scope_refusal",
    "truthy",
]

ROUTE_HEADER = "x-kaireon-route"
READ_ONLY_HEADER = "x-kaireon-read-only"
EXCLUDE_HEADER = "x-kaireon-exclude-tools"
ROUTE_QUERY = "route"


def truthy(value: str | None) -> bool:
    return (value or "").strip().lower() in {"1", "true", "yes", "on"}


def _csv(value: str | None) -> list[str]:
    return [part.strip() for part in (value or "").split(",") if part.strip()]


def scope_refusal(policy: ScopePolicy, spec: Tool) -> RouteScopeError | None:
    """The ROUTE_SCOPE error ``execute()`` would raise for this policy, or None when allowed."""
    if spec.name in policy.exclude or not (
        spec.exposed_on(route_code(policy.route)) or spec.name in policy.include
    ):
        return RouteScopeError(
            f"tool {spec.name} is not available on route {policy.route}; routes that expose it: "
            + ", ".join(spec.exposing_routes())
        )
    if spec.write and policy.read_only:
        return RouteScopeError(f"tool {spec.name} writes data and this connection is read-only")
    return None


@dataclass
class RouteSession:
    """Per-session state: the route ``setRoute`` chose (None keeps the server's route)."""

    route: str | None = None


@dataclass(frozen=True)
class ScopeChain:
    """The policies one request must satisfy, outermost (server) first."""

    policies: tuple[ScopePolicy, ...]
    #: session connections always list ``setRoute`` so the model can switch areas
    session: bool = False

    @property
    def route(self) -> str:
        return self.policies[-1].route

    def _excluded(self, name: str) -> bool:
        return any(name in policy.exclude for policy in self.policies)

    def visible(self, registry: ToolRegistry, principal: TenantContext | None) -> list[Tool]:
        """Tools passing every policy (and the caller's role), in registry (name) order."""
        tools = [t for t in registry.all() if all(p.allows(t, principal) for p in self.policies)]
        switch = registry.get(SET_ROUTE)
        if self.session and switch is not None and switch not in tools and not self._excluded(SET_ROUTE):
            tools = sorted([*tools, switch], key=lambda t: t.name)
        return tools

    def refusal(self, spec: Tool) -> RouteScopeError | None:
        """Check the outer policies; ``execute()`` checks the innermost one with the same wording."""
        if spec.name == SET_ROUTE and not self._excluded(SET_ROUTE):
            return None
        for policy in self.policies[:-1]:
            error = scope_refusal(policy, spec)
            if error is not None:
                return error
        return None

    def execute_policy(self) -> ScopePolicy:
        """The innermost policy, with ``setRoute`` callable everywhere unless excluded.

        ``setRoute`` stays callable on sessionless requests so that it can answer with the
        ``?route=`` / header hint instead of a bare ROUTE_SCOPE refusal.
        """
        inner = self.policies[-1]
        if self._excluded(SET_ROUTE):
            return inner
        return dataclasses.replace(inner, include=inner.include | {SET_ROUTE})

    def with_session_route(self, route: str | None) -> ScopeChain:
        if route is None:
            return dataclasses.replace(self, session=True)
        bound = self.policies[0]
        return ScopeChain((*self.policies, dataclasses.replace(bound, route=normalize_route(route))), True)


def request_policy(
    bound: ScopePolicy, headers: Mapping[str, str], query: Mapping[str, str]
) -> ScopePolicy | None:
    """What the HTTP request asks for, or None when it asks for nothing beyond the server's flags."""
    route = query.get(ROUTE_QUERY) or headers.get(ROUTE_HEADER)
    read_only = truthy(headers.get(READ_ONLY_HEADER))
    exclude = _csv(headers.get(EXCLUDE_HEADER))
    if not route and not read_only and not exclude:
        return None
    return bound.narrowed(route=route or None, read_only=read_only, exclude=exclude)


@dataclass
class SessionStore:
    """Route state of handshake-era HTTP sessions, keyed by session id and credential.

    Bounded so abandoned sessions cannot grow memory without limit; the oldest entries go first.
    """

    limit: int = 10_000
    _items: OrderedDict[tuple[str, str], RouteSession] = field(default_factory=OrderedDict)

    def get(self, session_id: str, owner: str) -> RouteSession:
        key = (session_id, owner)
        state = self._items.pop(key, None) or RouteSession()
        self._items[key] = state
        while len(self._items) > self.limit:
            self._items.popitem(last=False)
        return state

    def __len__(self) -> int:
        return len(self._items)


def policy_from_flags(
    route: str | None, read_only: bool, include: Iterable[str], exclude: Iterable[str]
) -> ScopePolicy:
    return ScopePolicy(
        route=normalize_route(route),
        read_only=read_only,
        include=frozenset(include),
        exclude=frozenset(exclude),
    )
