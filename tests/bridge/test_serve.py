"""A real uvicorn run on 127.0.0.1: the served app (with MCP mounted) reaching a real ML worker."""

from __future__ import annotations

import asyncio
import dataclasses
import socket
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import uvicorn

from kaireon_mcp.bridge import create_app
from kaireon_mcp.bridge.ratelimit import MemoryRateLimiter
from kaireon_mcp.cli import COMMANDS, build_parser
from kaireon_mcp.mlworker import create_worker_app
from kaireon_mcp.storage.db import Database
from tests.bridge.conftest import TENANT_A, bridge_settings, mint_keys
from tests.conftest import SECRET


class Served:
    """uvicorn in a thread on a socket bound before start, so clients never race the startup."""

    def __init__(self, app: Any) -> None:
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(64)
        self.url = f"http://127.0.0.1:{self.sock.getsockname()[1]}"
        config = uvicorn.Config(app, log_level="warning", lifespan="on")
        self.server = uvicorn.Server(config)
        self.thread = threading.Thread(target=self.server.run, kwargs={"sockets": [self.sock]}, daemon=True)

    def __enter__(self) -> Served:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.should_exit = True
        self.thread.join(timeout=5)
        self.sock.close()


def _key(url: str) -> str:
    async def run() -> str:
        db = Database(url, SECRET)
        try:
            await db.migrate()
            return (await mint_keys(db, (TENANT_A,)))[(TENANT_A, "viewer")]
        finally:
            await db.dispose()

    return asyncio.run(run())


@pytest.fixture
def served(tmp_path: Path) -> Iterator[tuple[str, str]]:
    url = f"sqlite+aiosqlite:///{tmp_path / 'served.db'}"
    key = _key(url)
    with Served(create_worker_app()) as worker:
        settings = dataclasses.replace(bridge_settings(), ml_worker_url=worker.url)
        app = create_app(Database(url, SECRET), settings, limiter=MemoryRateLimiter(), env={})
        with Served(app) as bridge:
            yield bridge.url, key


def test_served_bridge_answers_over_real_sockets(served: tuple[str, str]) -> None:
    base, key = served
    with httpx.Client(base_url=base, headers={"X-API-Key": key}, timeout=10) as client:
        assert client.get("/healthz").json()["status"] == "ok"
        status = client.get("/api/v1/ai/ml-worker/status").json()
        assert status["connected"] is True and status["url"].startswith("http://127.0.0.1:")
        assert client.get("/api/v1/ai/config-status").json()["configured"] is False
        assert client.get("/api/v1/openapi.json").json()["openapi"] == "3.1.0"
        mcp = client.post(
            "/mcp",
            json={"jsonrpc": "2.0", "id": 1, "method": "ping"},
            headers={"Accept": "application/json, text/event-stream"},
        )
        assert mcp.status_code not in (404, 405, 500)
        anonymous = httpx.post(f"{base}/api/v1/mcp", json={"jsonrpc": "2.0", "id": 1, "method": "ping"})
        assert anonymous.status_code == 401


def test_cli_wires_serve_and_ml_worker() -> None:
    parser = build_parser()
    serve = parser.parse_args(["serve", "--port", "8123", "--read-only"])
    worker = parser.parse_args(["ml-worker", "--port", "8091"])
    assert (serve.port, serve.read_only, worker.port) == (8123, True, 8091)
    assert COMMANDS["serve"].__name__ == "cmd_serve" and COMMANDS["ml-worker"].__name__ == "cmd_ml_worker"
