"""Remote mode: ``kaireon-mcp stdio --remote URL`` in front of a real serve-like uvicorn process."""

from __future__ import annotations

import asyncio
import contextlib
import socket
import sys
from collections.abc import AsyncIterator
from typing import Any

import pytest
from mcp import Client, MCPError
from mcp.types import ToolListChangedNotification

from kaireon_mcp.cli import main
from tests.mcp.conftest import REPO_ROOT, Home, http_client, stdio_params, tool_names
from tests.mcp.probes import PROBE_READ, probe_registry

ALGO = "/algorithms/models"


@contextlib.asynccontextmanager
async def serve_process(home: Home) -> AsyncIterator[str]:
    """``python -m tests.mcp.serve_app`` on a socket bound here; yields its MCP URL at once."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen(64)
        fd = sock.fileno()
        proc = await asyncio.create_subprocess_exec(
            *(sys.executable, "-m", "tests.mcp.serve_app", str(fd)),
            env=home.env(),
            cwd=str(REPO_ROOT),
            pass_fds=(fd,),
            stderr=asyncio.subprocess.DEVNULL,
        )
        try:
            yield f"http://127.0.0.1:{sock.getsockname()[1]}/mcp"
        finally:
            proc.terminate()
            async with asyncio.timeout(10):
                await proc.wait()


async def test_remote_stdio_lists_and_executes_on_the_server(home: Home) -> None:
    changed = asyncio.Event()

    async def on_message(message: Any) -> None:
        if isinstance(message, ToolListChangedNotification):
            changed.set()

    key = home.keys["acme_admin"]

    async def direct_listing(url: str) -> set[str]:
        async with http_client(url, "2026-07-28", key) as direct:
            return await tool_names(direct)

    async with serve_process(home) as url:
        served_task = asyncio.create_task(direct_listing(url))
        params = stdio_params(home, "--remote", url, KAIREON_API_KEY=key)
        async with Client(params, mode="legacy", message_handler=on_message) as client:
            listed = await tool_names(client)
            who = await client.call_tool(PROBE_READ, {"tenantId": "demo"})
            bad = await client.call_tool(PROBE_READ, {"label": ""})
            with pytest.raises(MCPError) as unknown:
                await client.call_tool("noSuchTool", {})
            switched = await client.call_tool("setRoute", {"route": ALGO})
            async with asyncio.timeout(5):
                await changed.wait()
            scoped = await tool_names(client)
            scoped_call = await client.call_tool(PROBE_READ, {})
            prompts = (await client.list_prompts()).prompts
        served = await served_task
    algorithms = {t.name for t in probe_registry().all() if t.exposed_on("AL")}
    assert listed == served and "setRoute" in listed
    assert who.structured_content and who.structured_content["tenant"] == "acme"
    assert bad.is_error and '"VALIDATION"' in bad.content[0].text  # type: ignore[union-attr]
    assert unknown.value.error.code == -32602
    assert switched.structured_content and switched.structured_content["route"] == ALGO
    assert scoped == algorithms | {"setRoute"} and scoped < listed
    assert scoped_call.structured_content and scoped_call.structured_content["route"] == ALGO
    assert len(prompts) == 15


def test_remote_mode_needs_an_api_key_and_an_http_url(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.delenv("KAIREON_API_KEY", raising=False)
    monkeypatch.delenv("KAIREONAI_API_KEY", raising=False)
    assert main(["stdio", "--remote", "http://127.0.0.1:9/mcp"]) == 2
    assert main(["stdio", "--remote", "ftp://example.com/mcp"]) == 2
    errors = capsys.readouterr().err.strip().splitlines()
    assert len(errors) == 2 and "KAIREON_API_KEY" in errors[0] and "http(s)" in errors[1]
