"""`kaireon-mcp serve --workers 2`: two real server processes on one port and one SQLite file.

Recommendations answered by either worker are all committed (group commit from two
processes on one database), MCP over HTTP works statelessly whichever worker answers,
a killed worker is replaced, and SIGTERM stops the supervisor and every worker.
"""

from __future__ import annotations

import asyncio
import os
import signal
import socket
import sqlite3
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from kaireon_mcp.storage.seed import CHANNELS
from tests.mcp.conftest import MODES, http_client

REPO_ROOT = Path(__file__).resolve().parents[2]


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _children(pid: int) -> list[int]:
    try:
        return [int(c) for c in Path(f"/proc/{pid}/task/{pid}/children").read_text().split()]
    except OSError:
        return []


def _cli(env: dict[str, str], *args: str) -> str:
    out = subprocess.run(
        [sys.executable, "-m", "kaireon_mcp", *args], env=env, cwd=REPO_ROOT, capture_output=True, text=True
    )
    assert out.returncode == 0, out.stderr
    return out.stdout


def _wait_for(predicate, timeout: float = 60.0) -> None:  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.1)


class Workers:
    def __init__(self, home: Path) -> None:
        self.home = home
        keep = {k: v for k, v in os.environ.items() if k in {"PATH", "HOME", "LANG", "PYTHONPATH"}}
        self.env = {**keep, "KAIREON_HOME": str(home), "KAIREON_SECRET_KEY": "workers-test-secret"}
        _cli(self.env, "seed", "--customers", "40")
        self.key = _cli(self.env, "keys", "create", "--tenant", "demo", "--role", "editor").split()[0]
        self.port = _free_port()
        self.base = f"http://127.0.0.1:{self.port}"
        self.log = home / "serve.log"
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "kaireon_mcp", "serve", "--port", str(self.port), "--workers", "2"],
            env=self.env,
            cwd=REPO_ROOT,
            stdout=subprocess.DEVNULL,
            stderr=self.log.open("wb"),
        )
        _wait_for(self._healthy)
        _wait_for(lambda: len(_children(self.proc.pid)) == 2)

    def _healthy(self) -> bool:
        assert self.proc.poll() is None, self.log.read_text()
        try:
            return httpx.get(f"{self.base}/healthz", timeout=2).status_code == 200
        except httpx.TransportError:
            return False

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            self.proc.wait(timeout=30)


@pytest.fixture(scope="module")
def workers(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Workers]:
    """One supervisor for the module (starting one costs seconds); the stop test runs last."""
    served = Workers(tmp_path_factory.mktemp("workers") / "home")
    try:
        yield served
    finally:
        served.stop()


def test_two_workers_share_the_port_and_commit_every_decision(workers: Workers) -> None:
    returned: set[str] = set()
    # a new connection per request: the kernel spreads connections over both workers
    for i in range(24):
        response = httpx.post(
            f"{workers.base}/api/v1/recommend",
            headers={"X-API-Key": workers.key},
            json={"customerId": f"C-{i % 40 + 1:04d}", "channel": "web"},
            timeout=20,
        )
        assert response.status_code == 200, response.text
        returned |= {d["interactionId"] for d in response.json()["decisions"]}
    assert len(returned) >= 24  # most customers get several offers on the web channel
    with sqlite3.connect(workers.home / "kaireon.db") as db:
        marks = ",".join("?" * len(returned))
        query = (
            f"SELECT count(*) FROM interactions WHERE interaction_type = 'recommendation' AND id IN ({marks})"
        )
        stored = db.execute(query, sorted(returned)).fetchone()[0]
    assert stored == len(returned)


@pytest.mark.parametrize("mode", MODES)
def test_mcp_over_http_works_statelessly_on_workers(workers: Workers, mode: str) -> None:
    async def run() -> list[list[str]]:
        seen = []
        for _ in range(3):  # a new client each time: its connections may reach either worker
            async with http_client(f"{workers.base}/mcp", mode, workers.key) as client:
                result = await client.call_tool("listChannels", {})
                assert not result.is_error, result
                seen.append(sorted(c["name"] for c in (result.structured_content or {})["items"]))
        return seen

    expected = sorted(name for name, *_ in CHANNELS)
    assert asyncio.run(run()) == [expected] * 3


def test_a_killed_worker_is_replaced_and_sigterm_stops_all(workers: Workers) -> None:
    first = _children(workers.proc.pid)
    os.kill(first[0], signal.SIGKILL)
    _wait_for(lambda: len(set(_children(workers.proc.pid)) - {first[0]}) == 2)
    replaced = _children(workers.proc.pid)
    assert first[0] not in replaced and first[1] in replaced
    _wait_for(workers._healthy)
    workers.stop()
    assert workers.proc.returncode == 0
    for pid in replaced:
        _wait_for(lambda pid=pid: not Path(f"/proc/{pid}").exists() or _zombie(pid), timeout=10)


def _zombie(pid: int) -> bool:
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] == "Z"
    except OSError:
        return True
