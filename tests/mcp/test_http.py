"""MCP over real Streamable HTTP (uvicorn on 127.0.0.1), in both protocol eras."""

from __future__ import annotations

import json
from typing import Any

import httpx
import pytest
from mcp import MCPError
from mcp.types import CallToolResult, ToolListChangedNotification

from kaireon_mcp.tools.registry import ToolRegistry
from tests.mcp.conftest import ACME_OFFER, MODES, Home, HttpServer, all_tools, http_client, tool_names
from tests.mcp.probes import PROBE_READ, PROBE_WRITE, probe_registry

ALGO = "/algorithms/models"


@pytest.fixture(scope="module")
def registry() -> ToolRegistry:
    return probe_registry()


def route_set(registry: ToolRegistry, code: str, session: bool) -> set[str]:
    """What a route code must expose: the base tools plus its own set (setRoute on sessions)."""
    names = {t.name for t in registry.all() if t.exposed_on(code)}
    return names | {"setRoute"} if session else names


def error_of(result: CallToolResult) -> dict[str, Any]:
    assert result.is_error, result
    assert result.structured_content is None
    body: dict[str, Any] = json.loads(result.content[0].text)["error"]  # type: ignore[union-attr]
    return body


@pytest.mark.parametrize("mode", MODES)
async def test_lists_every_tool_across_pages_and_calls_a_read_tool(
    http_server: HttpServer, home: Home, registry: ToolRegistry, mode: str
) -> None:
    async with http_client(http_server.url(), mode, home.keys["demo_admin"]) as client:
        first = await client.list_tools(cache_mode="refresh")
        tools = await all_tools(client)
        result = await client.call_tool(PROBE_READ, {"label": "hi"})
    names = [t.name for t in tools]
    assert len(names) == len(set(names)) and first.next_cursor is not None
    assert set(names) == {t.name for t in registry.all()}
    probe = next(t for t in tools if t.name == PROBE_READ)
    # a title that only repeats the name is not advertised; outputSchema is not advertised (budget)
    assert probe.title is None and probe.annotations and probe.annotations.read_only_hint is True
    assert probe.input_schema["properties"]["label"]["type"] == "string" and probe.output_schema is None
    assert not result.is_error and result.structured_content is not None
    assert json.loads(result.content[0].text) == result.structured_content  # type: ignore[union-attr]
    assert (
        result.structured_content["tenant"] == "demo"
        and ACME_OFFER not in result.structured_content["offers"]
    )


@pytest.mark.parametrize("mode", MODES)
async def test_bad_arguments_and_unknown_tools(http_server: HttpServer, home: Home, mode: str) -> None:
    async with http_client(http_server.url(), mode, home.keys["demo_admin"]) as client:
        empty = await client.call_tool(PROBE_READ, {"label": ""})
        extra = await client.call_tool(PROBE_READ, {"nope": 1})
        with pytest.raises(MCPError) as unknown:
            await client.call_tool("noSuchTool", {})
    assert error_of(empty)["code"] == "VALIDATION" and error_of(empty)["field"] == "label"
    assert error_of(extra) == {
        "code": "VALIDATION",
        "message": "invalid arguments: nope: unknown argument",
        "field": "nope",
    }
    assert unknown.value.error.code == -32602


@pytest.mark.parametrize("mode", MODES)
async def test_route_query_and_header_scope_the_tool_list(
    http_server: HttpServer, home: Home, registry: ToolRegistry, mode: str
) -> None:
    hidden = next(t.name for t in registry.all() if not t.exposed_on("AL") and t.name != "setRoute")
    key = home.keys["demo_admin"]
    async with http_client(http_server.url() + f"?route={ALGO}", mode, key) as client:
        by_query = await tool_names(client)
        refused = await client.call_tool(hidden, {})
    async with http_client(http_server.url(), mode, key, {"X-Kaireon-Route": ALGO}) as client:
        by_header = await tool_names(client)
    expected = route_set(registry, "AL", session=mode == "legacy")
    assert by_query == expected and by_header == expected
    assert {PROBE_READ, PROBE_WRITE, "searchDocs"} <= expected
    error = error_of(refused)
    assert error["code"] == "ROUTE_SCOPE" and "/ (general)" in error["message"]


@pytest.mark.parametrize("mode", MODES)
async def test_request_headers_only_narrow_the_server_bound(
    http_server: HttpServer, home: Home, registry: ToolRegistry, mode: str
) -> None:
    key = home.keys["demo_admin"]
    session = mode == "legacy"
    async with http_client(http_server.url("algo"), mode, key, {"X-Kaireon-Route": "/"}) as client:
        widened = await tool_names(client)
    async with http_client(http_server.url("algo") + "?route=/data/schemas", mode, key) as client:
        elsewhere = await tool_names(client)
        refused = await client.call_tool(PROBE_READ, {})
    assert widened == route_set(registry, "AL", session)
    assert elsewhere == {t.name for t in registry.all() if "all" in t.routes} | (
        {"setRoute"} if session else set()
    )
    assert error_of(refused)["code"] == "ROUTE_SCOPE"


@pytest.mark.parametrize("mode", MODES)
async def test_read_only_and_exclude_headers_hide_and_refuse(
    http_server: HttpServer, home: Home, mode: str
) -> None:
    key = home.keys["demo_admin"]
    headers = {"X-Kaireon-Read-Only": "true", "X-Kaireon-Exclude-Tools": "searchDocs"}
    async with http_client(http_server.url(), mode, key, headers) as client:
        tools = await all_tools(client)
        write = await client.call_tool(PROBE_WRITE, {})
        excluded = await client.call_tool("searchDocs", {"query": "offers"})
    assert tools and all(t.annotations and t.annotations.read_only_hint for t in tools)
    assert "searchDocs" not in {t.name for t in tools}
    assert error_of(write)["code"] == "ROUTE_SCOPE" and "read-only" in error_of(write)["message"]
    assert error_of(excluded)["code"] == "ROUTE_SCOPE"


async def test_missing_invalid_or_foreign_keys_are_refused(http_server: HttpServer, home: Home) -> None:
    body = {"jsonrpc": "2.0", "id": 1, "method": "ping"}
    headers = {"Accept": "application/json, text/event-stream", "Content-Type": "application/json"}
    async with httpx.AsyncClient() as http:
        missing = await http.post(http_server.url(), json=body, headers=headers)
        invalid = await http.post(http_server.url(), json=body, headers={**headers, "X-API-Key": "krn_nope"})
        bearer = await http.post(
            http_server.base + "/api/v1/mcp",
            json=body,
            headers={**headers, "Authorization": f"Bearer {home.keys['demo_viewer']}"},
        )
        foreign = await http.post(
            http_server.url(),
            json=body,
            headers={**headers, "X-API-Key": home.keys["demo_admin"], "X-Tenant-Id": "acme"},
        )
    assert missing.status_code == 401 and missing.json()["error"]["code"] == "UNAUTHORIZED"
    assert invalid.status_code == 401 and "unknown" in invalid.json()["error"]["message"]
    assert bearer.status_code not in (401, 403)
    assert foreign.status_code == 403 and foreign.json()["error"]["code"] == "FORBIDDEN"


@pytest.mark.parametrize("mode", MODES)
async def test_each_tenant_sees_only_its_own_data(http_server: HttpServer, home: Home, mode: str) -> None:
    async with http_client(http_server.url(), mode, home.keys["acme_admin"]) as client:
        acme = await client.call_tool(PROBE_READ, {"tenantId": "demo"})
        acme_offers = json.loads((await client.read_resource("kaireon://offers")).contents[0].text)  # type: ignore[union-attr]
    async with http_client(http_server.url(), mode, home.keys["demo_editor"]) as client:
        demo = await client.call_tool(PROBE_READ, {"tenantId": "acme"})
    assert acme.structured_content == {
        "label": "x",
        "tenant": "acme",
        "role": "admin",
        "route": "/",
        "offers": [ACME_OFFER],
        "governed": True,
    }
    assert [o["name"] for o in acme_offers["items"]] == [ACME_OFFER]
    assert demo.structured_content and demo.structured_content["tenant"] == "demo"
    assert ACME_OFFER not in demo.structured_content["offers"] and demo.structured_content["offers"]


@pytest.mark.parametrize("mode", MODES)
async def test_production_gates_writes_unless_allowed(http_server: HttpServer, home: Home, mode: str) -> None:
    key = home.keys["demo_editor"]
    async with http_client(http_server.url("prod"), mode, key) as client:
        gated = await client.call_tool(PROBE_WRITE, {})
        read = await client.call_tool(PROBE_READ, {})
    async with http_client(http_server.url("prod-allow"), mode, key) as client:
        allowed = await client.call_tool(PROBE_WRITE, {})
    assert error_of(gated)["code"] == "WRITES_DISABLED" and "MCP_ALLOW_WRITES" in error_of(gated)["message"]
    assert not read.is_error and not allowed.is_error


@pytest.mark.parametrize("mode", MODES)
async def test_viewer_keys_see_and_call_read_tools_only(
    http_server: HttpServer, home: Home, mode: str
) -> None:
    async with http_client(http_server.url(), mode, home.keys["demo_viewer"]) as client:
        tools = await all_tools(client)
        write = await client.call_tool(PROBE_WRITE, {})
        read = await client.call_tool(PROBE_READ, {})
    assert PROBE_READ in {t.name for t in tools}
    assert all(t.annotations and t.annotations.read_only_hint for t in tools)
    assert error_of(write)["code"] == "FORBIDDEN" and not read.is_error


async def test_set_route_on_a_sessionless_request_asks_for_the_header(
    http_server: HttpServer, home: Home
) -> None:
    async with http_client(http_server.url(), "2026-07-28", home.keys["demo_admin"]) as client:
        result = await client.call_tool("setRoute", {"route": ALGO})
    error = error_of(result)
    assert (
        error["code"] == "ROUTE_SCOPE"
        and "?route=" in error["message"]
        and "X-Kaireon-Route" in error["message"]
    )


async def test_set_route_switches_a_handshake_era_http_session(
    http_server: HttpServer, home: Home, registry: ToolRegistry
) -> None:
    seen: list[Any] = []

    async def on_message(message: Any) -> None:
        seen.append(message)

    async with http_client(
        http_server.url(), "legacy", home.keys["demo_admin"], message_handler=on_message
    ) as client:
        before = await tool_names(client)
        switched = await client.call_tool("setRoute", {"route": ALGO})
        after = await tool_names(client)
    async with http_client(http_server.url(), "legacy", home.keys["demo_admin"]) as other:
        untouched = await tool_names(other)
    assert not switched.is_error and switched.structured_content
    assert switched.structured_content["module"] == "Algorithms" and switched.structured_content["notified"]
    assert any(isinstance(m, ToolListChangedNotification) for m in seen)
    assert after == route_set(registry, "AL", session=True) and before == untouched == after | (
        before - after
    )
    assert len(untouched) > len(after)


@pytest.mark.parametrize("mode", MODES)
async def test_prompts_and_resources(http_server: HttpServer, home: Home, mode: str) -> None:
    async with http_client(http_server.url(), mode, home.keys["demo_viewer"]) as client:
        prompts = (await client.list_prompts()).prompts
        rendered = await client.get_prompt("playbook_explain_decision_chain", {"traceId": "tr_1"})
        with pytest.raises(MCPError) as unknown_prompt:
            await client.get_prompt("playbook_nope", {})
        with pytest.raises(MCPError) as missing_argument:
            await client.get_prompt("playbook_explain_decision_chain", {})
        flows = json.loads((await client.read_resource("kaireon://decision-flows")).contents[0].text)  # type: ignore[union-attr]
        key = flows["items"][0]["key"]
        flow = json.loads((await client.read_resource(f"kaireon://decision-flows/{key}")).contents[0].text)  # type: ignore[union-attr]
        policies = json.loads((await client.read_resource("kaireon://contact-policies")).contents[0].text)  # type: ignore[union-attr]
        with pytest.raises(MCPError) as missing:
            await client.read_resource("kaireon://contact-policies/cp_missing")
    assert len(prompts) == 15 and all(p.description for p in prompts)
    assert "tr_1" in rendered.messages[0].content.text  # type: ignore[union-attr]
    assert unknown_prompt.value.error.code == -32602 and missing_argument.value.error.code == -32602
    assert flow["key"] == key and flow["nodes"] and policies["count"] >= 1
    assert missing.value.error.code == -32602
    assert missing.value.error.data == {"uri": "kaireon://contact-policies/cp_missing"}
