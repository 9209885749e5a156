"""MCP over a real stdio subprocess (``python -m kaireon_mcp stdio``) with the official client.

Each subprocess costs seconds of imports, so every test drives one or two servers through
several behaviours, and independent servers run concurrently.
"""

from __future__ import annotations

import asyncio
import json
import sys
from typing import Any

import pytest
from mcp import Client, MCPError, StdioServerParameters
from mcp.types import CallToolResult, ToolListChangedNotification

from kaireon_mcp.tools import load_all
from tests.mcp.conftest import REPO_ROOT, Home, all_tools, probe_stdio, stdio_params, tool_names
from tests.mcp.probes import PROBE_READ, PROBE_WRITE

ALGO = "/algorithms/models"


def expected(code: str, *extra: str) -> set[str]:
    """Base tools + the route's set + setRoute (stdio is always a session)."""
    return {t.name for t in load_all().all() if t.exposed_on(code)} | {"setRoute", *extra}


def error_of(result: CallToolResult) -> dict[str, Any]:
    assert result.is_error and result.structured_content is None
    body: dict[str, Any] = json.loads(result.content[0].text)["error"]  # type: ignore[union-attr]
    return body


async def _keyed_server(home: Home) -> tuple[list[Any], CallToolResult, CallToolResult, dict[str, Any]]:
    async with Client(probe_stdio(home, KAIREON_API_KEY=home.keys["acme_viewer"])) as client:
        tools = await all_tools(client)
        who = await client.call_tool(PROBE_READ, {"tenantId": "demo"})
        write = await client.call_tool(PROBE_WRITE, {})
        offers = json.loads((await client.read_resource("kaireon://offers")).contents[0].text)  # type: ignore[union-attr]
    return tools, who, write, offers


async def _names(params: StdioServerParameters, mode: str = "legacy") -> set[str]:
    async with Client(params, mode=mode) as client:
        return await tool_names(client)


async def test_stdio_handshake_era_session(home: Home) -> None:
    """List, call, bad arguments, unknown tool, setRoute + list_changed, prompts and resources.

    Alongside, a raw client checks that stdout carries nothing but JSON-RPC.
    """
    raw = asyncio.create_task(_raw_stdout_lines(home))
    changed = asyncio.Event()

    async def on_message(message: Any) -> None:
        if isinstance(message, ToolListChangedNotification):
            changed.set()

    async with Client(stdio_params(home), mode="legacy", message_handler=on_message) as client:
        before = await tool_names(client)
        found = await client.call_tool("searchDocs", {"query": "why did C-0001 not get an email offer?"})
        bad = await client.call_tool("searchDocs", {"limit": 5})
        with pytest.raises(MCPError) as unknown:
            await client.call_tool("noSuchTool", {})
        switched = await client.call_tool("setRoute", {"route": ALGO})
        async with asyncio.timeout(5):
            await changed.wait()
        after = await tool_names(client)
        bad_route = await client.call_tool("setRoute", {"route": "no spaces please"})
        prompts = (await client.list_prompts()).prompts
        system = await client.get_prompt("system_algorithms")
        with pytest.raises(MCPError) as missing:
            await client.read_resource("kaireon://offers/off_missing")
        instructions = client.instructions

    assert before == {t.name for t in load_all().all()}
    assert found.structured_content and found.structured_content["hits"][0]["path"] == (
        "docs/troubleshooting.md#the-demo-answer"
    )
    assert error_of(bad) == {
        "code": "VALIDATION",
        "message": "invalid arguments: query: is required",
        "field": "query",
    }
    assert unknown.value.error.code == -32602
    assert after == expected("AL") and after < before
    assert switched.structured_content and switched.structured_content["toolCount"] == len(after)
    assert error_of(bad_route)["field"] == "route"
    assert {p.name for p in prompts} >= {"system_general", "playbook_generate_dsar_export"}
    assert "promoteModel" in system.messages[0].content.text  # type: ignore[union-attr]
    assert missing.value.error.code == -32602 and missing.value.error.data == {
        "uri": "kaireon://offers/off_missing"
    }
    assert instructions and "KaireonAI decisioning assistant" in instructions
    lines = await raw
    assert lines and all(json.loads(line)["jsonrpc"] == "2.0" for line in lines)
    assert json.loads(lines[0])["result"]["capabilities"]["tools"]["listChanged"] is True


async def test_stdio_modern_era_and_the_route_flag(home: Home) -> None:
    async def modern() -> tuple[set[str], CallToolResult, CallToolResult]:
        async with Client(stdio_params(home), mode="2026-07-28") as client:
            names = await tool_names(client)
            found = await client.call_tool(
                "searchDocs", {"query": "contact policy frequency cap", "limit": 2}
            )
            bad = await client.call_tool("searchDocs", {"query": "x", "limit": 99})
            return names, found, bad

    (names, found, bad), by_flag = await asyncio.gather(modern(), _names(stdio_params(home, "--route", ALGO)))
    assert names == {t.name for t in load_all().all()}
    assert found.structured_content and len(found.structured_content["hits"]) == 2
    assert error_of(bad)["code"] == "VALIDATION" and error_of(bad)["field"] == "limit"
    assert by_flag == expected("AL")


async def test_stdio_flags_and_api_key_identity(home: Home) -> None:
    """--read-only/--tools/--exclude-tools on one server; KAIREON_API_KEY's tenant and role on another."""
    keyed = asyncio.create_task(_keyed_server(home))
    args = [
        "--route",
        "/dashboards/overview",
        "--read-only",
        "--tools",
        f"{PROBE_READ},{PROBE_WRITE}",
        "--exclude-tools",
        "searchDocs",
    ]
    async with Client(probe_stdio(home, *args), mode="legacy") as client:
        names = await tool_names(client)
        write = await client.call_tool(PROBE_WRITE, {})
        excluded = await client.call_tool("searchDocs", {"query": "offers"})
        read = await client.call_tool(PROBE_READ, {})
    assert PROBE_READ in names and PROBE_WRITE not in names and "searchDocs" not in names
    assert not names & {t.name for t in load_all().all() if t.write}
    assert error_of(write)["code"] == "ROUTE_SCOPE" and error_of(excluded)["code"] == "ROUTE_SCOPE"
    assert read.structured_content and read.structured_content["route"] == "/dashboards/overview"
    tools, who, key_write, offers = await keyed
    assert tools and all(t.annotations and t.annotations.read_only_hint for t in tools)
    assert who.structured_content and who.structured_content["role"] == "viewer"
    assert who.structured_content["governed"] is False  # only the HTTP registry is governed
    assert who.structured_content["tenant"] == "acme" and who.structured_content["offers"] == ["Acme Anvil"]
    assert [o["name"] for o in offers["items"]] == ["Acme Anvil"]
    assert error_of(key_write)["code"] == "FORBIDDEN"


async def test_stdio_production_write_gating_and_route_environment(home: Home) -> None:
    async def gated() -> tuple[set[str], CallToolResult, CallToolResult]:
        params = probe_stdio(home, KAIREON_ENV="production", KAIREON_ROUTE=ALGO)
        async with Client(params, mode="legacy") as client:
            return (
                await tool_names(client),
                await client.call_tool(PROBE_WRITE, {}),
                await client.call_tool(PROBE_READ, {}),
            )

    async def allowed() -> CallToolResult:
        async with Client(probe_stdio(home, KAIREON_ENV="production", MCP_ALLOW_WRITES="true")) as client:
            return await client.call_tool(PROBE_WRITE, {})

    (names, write, read), ok = await asyncio.gather(gated(), allowed())
    assert names == expected("AL", PROBE_READ, PROBE_WRITE)
    assert error_of(write)["code"] == "WRITES_DISABLED" and not read.is_error and not ok.is_error


async def _raw_stdout_lines(home: Home) -> list[str]:
    """Drive one raw initialize through a server and return everything it wrote on stdout."""
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "kaireon_mcp",
        "stdio",
        env=home.env(),
        cwd=str(REPO_ROOT),
        stdin=asyncio.subprocess.PIPE,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.DEVNULL,
    )
    assert proc.stdin and proc.stdout
    hello = {
        "jsonrpc": "2.0",
        "id": 1,
        "method": "initialize",
        "params": {
            "protocolVersion": "2025-11-25",
            "capabilities": {},
            "clientInfo": {"name": "raw", "version": "0"},
        },
    }
    proc.stdin.write((json.dumps(hello) + "\n").encode())
    await proc.stdin.drain()
    proc.stdin.close()
    async with asyncio.timeout(30):
        out = await proc.stdout.read()
        await proc.wait()
    return [line for line in out.decode().splitlines() if line.strip()]
