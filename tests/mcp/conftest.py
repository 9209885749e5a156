"""Fixtures for the MCP transports: a seeded home, a real uvicorn server, clients of every kind."""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import socket
import sys
import threading
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import uvicorn
from mcp import Client, StdioServerParameters
from mcp.client.session import MessageHandlerFnT
from mcp.client.streamable_http import streamable_http_client
from mcp.shared._httpx_utils import create_mcp_http_client
from mcp.types import Tool as WireTool
from starlette.applications import Starlette
from starlette.routing import Route

from kaireon_mcp.config import Settings, load_settings
from kaireon_mcp.server.http import build_mcp_http, mcp_routes
from kaireon_mcp.server.scope import policy_from_flags
from kaireon_mcp.storage.context import TenantContext
from kaireon_mcp.storage.db import Database
from kaireon_mcp.storage.keys import create_key
from kaireon_mcp.storage.seed import SeedParams, seed_demo
from kaireon_mcp.storage.tables import Offer
from tests.mcp.probes import probe_registry

REPO_ROOT = Path(__file__).resolve().parents[2]
SECRET = "mcp-test-secret"
MODES = ["legacy", "2026-07-28"]
ACME_OFFER = "Acme Anvil"


@dataclass(frozen=True)
class Home:
    path: Path
    keys: dict[str, str]

    @property
    def url(self) -> str:
        return f"sqlite+aiosqlite:///{self.path / 'kaireon.db'}"

    def env(self, **extra: str) -> dict[str, str]:
        """Environment of a subprocess server on this home (nothing else leaks in)."""
        return {"KAIREON_HOME": str(self.path), "KAIREON_SECRET_KEY": SECRET, **extra}

    def settings(self, **changes: Any) -> Settings:
        base = dataclasses.replace(
            load_settings(),
            home=self.path,
            database_url=self.url,
            tenant_id="demo",
            api_key=None,
            api_url=None,
            route="/",
            env="development",
            allow_writes=False,
            read_only=False,
        )
        return dataclasses.replace(base, **changes)


async def _build_home(path: Path) -> dict[str, str]:
    db = Database(f"sqlite+aiosqlite:///{path / 'kaireon.db'}", SECRET)
    try:
        await db.migrate()
        await seed_demo(db, SeedParams(customers=30, days=14))
        await db.ensure_tenant("acme")
        async with db.tenant(TenantContext("acme")) as repo:
            await repo.create(Offer, {"name": ACME_OFFER, "status": "active"})
        keys = {}
        for label, tenant, role in [
            ("demo_admin", "demo", "admin"),
            ("demo_editor", "demo", "editor"),
            ("demo_viewer", "demo", "viewer"),
            ("acme_admin", "acme", "admin"),
            ("acme_viewer", "acme", "viewer"),
        ]:
            keys[label] = (await create_key(db, tenant, role, label)).plaintext
        return keys
    finally:
        await db.dispose()


@pytest.fixture(scope="session")
def home(tmp_path_factory: pytest.TempPathFactory) -> Home:
    """A KAIREON_HOME with a small demo tenant, a second tenant "acme" and API keys."""
    path = tmp_path_factory.mktemp("kaireon-home")
    return Home(path, asyncio.run(_build_home(path)))


def stdio_params(home: Home, *args: str, module: str = "kaireon_mcp", **env: str) -> StdioServerParameters:
    """``python -m <module> stdio <args>`` on the test home (module may be tests.mcp.stdio_probes)."""
    return StdioServerParameters(
        command=sys.executable, args=["-m", module, "stdio", *args], env=home.env(**env), cwd=str(REPO_ROOT)
    )


def probe_stdio(home: Home, *args: str, **env: str) -> StdioServerParameters:
    return stdio_params(home, *args, module="tests.mcp.stdio_probes", **env)


async def all_tools(client: Client) -> list[WireTool]:
    """Walk every tools/list page."""
    tools: list[WireTool] = []
    cursor: str | None = None
    for _ in range(20):
        page = await client.list_tools(cursor=cursor, cache_mode="refresh")
        tools.extend(page.tools)
        cursor = page.next_cursor
        if cursor is None:
            return tools
    raise AssertionError("tools/list never ended")


async def tool_names(client: Client) -> set[str]:
    return {t.name for t in await all_tools(client)}


@contextlib.asynccontextmanager
async def http_client(
    url: str,
    mode: str,
    key: str | None,
    headers: dict[str, str] | None = None,
    message_handler: MessageHandlerFnT | None = None,
) -> AsyncIterator[Client]:
    """The official client over real Streamable HTTP with the API key header."""
    sent = {**({"X-API-Key": key} if key else {}), **(headers or {})}
    http = create_mcp_http_client(headers=sent)
    async with (
        http,
        Client(
            streamable_http_client(url, http_client=http),
            mode=mode,
            message_handler=message_handler,  # type: ignore[arg-type]
        ) as client,
    ):
        yield client


@dataclass(frozen=True)
class HttpServer:
    base: str

    def url(self, name: str = "mcp") -> str:
        return f"{self.base}/{name}" if name == "mcp" else f"{self.base}/{name}/mcp"


def _serve_in_thread(home: Home, sock: socket.socket, ready: threading.Event, box: dict[str, Any]) -> None:
    """One uvicorn server whose MCP apps differ only in settings and server flags."""

    async def main() -> None:
        db = Database(home.url, SECRET)
        registry = probe_registry()
        variants = {
            "": home.settings(),
            "prod": home.settings(env="production"),
            "prod-allow": home.settings(env="production", allow_writes=True),
            "algo": home.settings(),
        }
        apps: dict[str, Any] = {}
        for name, settings in variants.items():
            scope = policy_from_flags("/algorithms/models" if name == "algo" else "/", False, (), ())
            apps[name] = build_mcp_http(db, settings, scope, registry=registry, page_size=40)
        routes = mcp_routes(apps[""][0])
        routes += [Route(f"/{name}/mcp", endpoint=app) for name, (app, _) in apps.items() if name]

        @contextlib.asynccontextmanager
        async def lifespan(_: Any) -> AsyncIterator[None]:
            async with contextlib.AsyncExitStack() as stack:
                for _app, span in apps.values():
                    await stack.enter_async_context(span(_app))
                ready.set()
                yield

        server = uvicorn.Server(
            uvicorn.Config(Starlette(routes=routes, lifespan=lifespan), log_level="warning")
        )
        box["server"] = server
        try:
            await server.serve(sockets=[sock])
        finally:
            await db.dispose()

    asyncio.run(main())


@pytest.fixture(scope="session")
def http_server(home: Home) -> Iterator[HttpServer]:
    """A real uvicorn server on 127.0.0.1 (one thread, its own event loop) for the whole session."""
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    sock.listen(128)
    ready = threading.Event()
    box: dict[str, Any] = {}
    thread = threading.Thread(target=_serve_in_thread, args=(home, sock, ready, box), daemon=True)
    thread.start()
    assert ready.wait(15), "MCP HTTP server did not start"
    try:
        yield HttpServer(f"http://127.0.0.1:{sock.getsockname()[1]}")
    finally:
        box["server"].should_exit = True
        thread.join(10)
        sock.close()
