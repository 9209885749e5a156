"""The scope chain: server flags bound, session route and request headers narrow, never widen."""

from __future__ import annotations

import pytest

from kaireon_mcp.server.http import GOVERNED_SERVICE
from kaireon_mcp.server.scope import (
    RouteSession,
    ScopeChain,
    SessionStore,
    policy_from_flags,
    request_policy,
)
from kaireon_mcp.storage.context import TenantContext
from kaireon_mcp.tools.registry import ScopePolicy, ToolRegistry
from tests.mcp.probes import PROBE_READ, PROBE_WRITE, probe_registry


def names(chain: ScopeChain, registry: ToolRegistry, role: str = "admin") -> set[str]:
    return {t.name for t in chain.visible(registry, TenantContext("demo", role=role))}


def test_a_header_route_is_intersected_with_the_server_route() -> None:
    registry = probe_registry()
    bound = policy_from_flags("/algorithms/models", False, (), ())
    widened = request_policy(bound, {"x-kaireon-route": "/"}, {})
    elsewhere = request_policy(bound, {}, {"route": "/dashboards/x"})
    assert widened is not None and elsewhere is not None
    algorithms = {t.name for t in registry.all() if t.exposed_on("AL")}
    assert names(ScopeChain((bound, widened)), registry) == algorithms
    base = {t.name for t in registry.all() if "all" in t.routes}
    assert names(ScopeChain((bound, elsewhere)), registry) == base


def test_headers_add_read_only_and_exclusions_but_no_inclusions() -> None:
    bound = policy_from_flags("/", False, ("x",), ("a",))
    headers = {"x-kaireon-read-only": "TRUE", "x-kaireon-exclude-tools": "b, c"}
    narrowed = request_policy(bound, headers, {})
    expected = ScopePolicy(route="/", read_only=True, include=frozenset({"x"}), exclude=frozenset("abc"))
    assert narrowed == expected
    assert request_policy(bound, {"x-kaireon-read-only": "no"}, {}) is None


def test_the_outer_policy_refuses_with_the_execute_wording() -> None:
    registry = probe_registry()
    bound = policy_from_flags("/algorithms/models", True, (), ())
    chain = ScopeChain((bound, policy_from_flags("/", False, (), ())))
    write = registry.get(PROBE_WRITE)
    hidden = next(t for t in registry.all() if not t.exposed_on("AL") and t.name != "setRoute")
    assert write is not None and PROBE_WRITE not in names(chain, registry)
    refused_write, refused_hidden = chain.refusal(write), chain.refusal(hidden)
    assert refused_write is not None and "read-only" in refused_write.message
    assert refused_hidden is not None and refused_hidden.code == "ROUTE_SCOPE"


def test_set_route_is_listed_on_sessions_and_callable_unless_excluded() -> None:
    registry = probe_registry()
    bound = policy_from_flags("/", False, (), ())
    session = ScopeChain((bound,)).with_session_route("/algorithms/models")
    sessionless = ScopeChain((bound, bound.narrowed(route="/dashboards/a")))
    excluded = ScopeChain((policy_from_flags("/", False, (), ("setRoute",)),), session=True)
    assert "setRoute" in names(session, registry) and "setRoute" not in names(sessionless, registry)
    assert "setRoute" in sessionless.execute_policy().include
    assert "setRoute" not in names(excluded, registry) and "setRoute" not in excluded.execute_policy().include


def test_viewers_see_read_tools_only() -> None:
    registry = probe_registry()
    chain = ScopeChain((policy_from_flags("/algorithms/x", False, (), ()),))
    assert PROBE_WRITE in names(chain, registry) and PROBE_WRITE not in names(chain, registry, "viewer")
    assert PROBE_READ in names(chain, registry, "viewer")


def test_session_store_is_bounded_and_keyed_by_credential() -> None:
    store = SessionStore(limit=2)
    first = store.get("s1", "key_a")
    first.route = "/data/x"
    assert store.get("s1", "key_b").route is None and store.get("s1", "key_a") is first
    store.get("s2", "key_a")
    store.get("s3", "key_a")
    assert len(store) == 2 and store.get("s1", "key_b") == RouteSession()


def test_governed_service_key_matches_the_playbook_tools() -> None:
    playbooks = pytest.importorskip("kaireon_mcp.tools.playbooks")
    assert playbooks.GOVERNED_SERVICE == GOVERNED_SERVICE
