"""Server wiring in-process (no transport): paging, cursors, capabilities, modern change events."""

from __future__ import annotations

import asyncio

import pytest
from mcp import Client, MCPError
from mcp.server.subscriptions import ToolsListChanged

from kaireon_mcp.config import load_settings
from kaireon_mcp.server.app import KaireonServer, ServerDeps, build_server
from kaireon_mcp.server.scope import policy_from_flags
from kaireon_mcp.server.stdio import stdio_binding
from kaireon_mcp.storage.context import TenantContext
from kaireon_mcp.storage.db import Database
from tests.mcp.probes import probe_registry


def small_pages(db: Database, route: str = "/") -> KaireonServer:
    binding = stdio_binding(TenantContext("demo"), policy_from_flags(route, False, (), ()))
    return build_server(binding, ServerDeps(db, load_settings(), probe_registry()), page_size=5)


async def test_pages_walk_every_tool_once_in_name_order(db: Database) -> None:
    async with Client(small_pages(db), mode="legacy") as client:
        names: list[str] = []
        cursor: str | None = None
        while True:
            page = await client.list_tools(cursor=cursor, cache_mode="refresh")
            assert len(page.tools) <= 5
            names += [t.name for t in page.tools]
            cursor = page.next_cursor
            if cursor is None:
                break
        capabilities = client.server_capabilities
    assert names == sorted({t.name for t in probe_registry().all()})
    assert capabilities.tools and capabilities.tools.list_changed is True
    assert capabilities.prompts and capabilities.resources


@pytest.mark.parametrize("cursor", ["abc", "-1", "100000"])
async def test_cursors_the_server_did_not_issue_are_invalid_params(db: Database, cursor: str) -> None:
    async with Client(small_pages(db), mode="legacy") as client:
        with pytest.raises(MCPError) as error:
            await client.list_tools(cursor=cursor, cache_mode="refresh")
    assert error.value.error.code == -32602


async def test_set_route_publishes_a_change_event_to_modern_listeners(db: Database) -> None:
    async with Client(small_pages(db), mode="2026-07-28") as client:
        await client.list_tools()
        async with client.listen(tools_list_changed=True) as events:
            result = await client.call_tool("setRoute", {"route": "/algorithms/models"})
            async with asyncio.timeout(5):
                event = await anext(aiter(events))
    assert isinstance(event, ToolsListChanged)
    assert result.structured_content and result.structured_content["module"] == "Algorithms"
