"""MCP latency: tools/list and a read tools/call over stdio and Streamable HTTP, both protocol eras,
plus server start to the first tools/list answer over stdio.

Everything runs against real subprocesses: ``python -m kaireon_mcp stdio`` driven by the official
``mcp`` Client, and ``python -m kaireon_mcp serve`` on a free loopback port with an API key. The
home is a fresh temporary KAIREON_HOME; its first start seeds the demo tenant (reported apart),
later starts find it seeded.

Usage: python bench/mcp.py [--calls N] [--starts N] [--tool listChannels]
Targets (issue 5): tools/call p50 < 5 ms stdio, < 15 ms HTTP; start to first tools/list < 1.5 s.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import resource
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

# Run as `python bench/mcp.py`, this file's directory is sys.path[0] and its name would shadow
# the `mcp` SDK package; drop that entry before importing the SDK.
if sys.path and Path(sys.path[0]).resolve() == Path(__file__).resolve().parent:
    del sys.path[0]

import httpx  # noqa: E402
from mcp import Client, StdioServerParameters  # type: ignore[attr-defined]  # noqa: E402
from mcp.client.streamable_http import streamable_http_client  # noqa: E402
from mcp.shared._httpx_utils import create_mcp_http_client  # noqa: E402

from kaireon_mcp.storage.db import Database  # noqa: E402
from kaireon_mcp.storage.keys import create_key  # noqa: E402

REPO = Path(__file__).resolve().parents[1]
MODES = ("legacy", "2026-07-28")
SECRET = "bench-mcp-secret"
BATCH = 40
LIGHT_TOOL = "listRankMethods"


def _env(home: Path, **extra: str) -> dict[str, str]:
    """A private home; the stdio replay cache sits beside it, so the first start is a cold one."""
    keep = {k: v for k, v in os.environ.items() if k in {"PATH", "HOME", "LANG", "PYTHONPATH"}}
    return {
        **keep,
        "KAIREON_HOME": str(home),
        "KAIREON_SECRET_KEY": SECRET,
        "KAIREON_CACHE_DIR": str(home.parent / "replay-cache"),
        **extra,
    }


def _stdio(home: Path, **env: str) -> StdioServerParameters:
    return StdioServerParameters(
        command=sys.executable, args=["-m", "kaireon_mcp", "stdio"], env=_env(home, **env), cwd=str(REPO)
    )


def _quantiles(samples: list[float]) -> tuple[float, float]:
    q = statistics.quantiles(samples, n=100, method="inclusive")
    return q[49], q[98]


async def _time(n: int, op: Callable[[], Awaitable[Any]], warmup: int = 20) -> list[float]:
    for _ in range(warmup):  # imports, caches, connection pool
        await op()
    out = []
    for _ in range(n):
        started = time.perf_counter()
        await op()
        out.append((time.perf_counter() - started) * 1000)
    return out


def _ops(client: Client, tool: str, mode: str) -> dict[str, Callable[[], Awaitable[Any]]]:
    async def ping() -> None:
        await client.send_ping()

    async def list_page() -> None:
        page = await client.list_tools(cache_mode="bypass")  # first page (100 tools), never cached
        assert page.tools

    def call(name: str) -> Callable[[], Awaitable[None]]:
        async def run() -> None:
            result = await client.call_tool(name, {})
            assert not result.is_error, result.content

        return run

    # ping (handshake era only) is the transport + SDK floor; listRankMethods reads no database,
    # so the gap between it and the measured tool is the tool's own work.
    floor = {"ping": ping} if mode == "legacy" else {}
    return {
        **floor,
        "tools/list (100 tools)": list_page,
        f"tools/call {tool}": call(tool),
        f"tools/call {LIGHT_TOOL}": call(LIGHT_TOOL),
    }


async def _measure_stdio(home: Path, mode: str, calls: int, tool: str) -> dict[str, tuple[float, float]]:
    async with Client(_stdio(home), mode=mode) as client:
        return {name: _quantiles(await _time(calls, op)) for name, op in _ops(client, tool, mode).items()}


async def _measure_http(
    url: str, keys: list[str], mode: str, calls: int, tool: str
) -> dict[str, tuple[float, float]]:
    """MCP over HTTP allows 60 requests per 60 s per API key, so each batch of 40 calls uses a
    fresh key (and a fresh client: handshake-era sessions are bound to the key that opened them)."""
    out: dict[str, list[float]] = {}
    for name in _ops(None, tool, mode):  # type: ignore[arg-type]
        samples = out.setdefault(name, [])
        while len(samples) < calls:
            http = create_mcp_http_client(headers={"X-API-Key": keys.pop()})
            async with http, Client(streamable_http_client(url, http_client=http), mode=mode) as client:
                batch = min(BATCH, calls - len(samples))
                samples += await _time(batch, _ops(client, tool, mode)[name], warmup=5)
    return {name: _quantiles(samples) for name, samples in out.items()}


def _children_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


async def _measure_raw_stdio(home: Path, calls: int, tools: list[str]) -> dict[str, tuple[float, float]]:
    """The server's own round trip: JSON-RPC lines written and read on the pipes by hand, so the
    figure carries none of the client SDK's parsing and validation (which the rows above do)."""
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "kaireon_mcp",
        "stdio",
        env=_env(home),
        cwd=str(REPO),
        stdin=asyncio.subprocess.PIPE,
        stdout=asyncio.subprocess.PIPE,
        limit=2**22,
    )
    assert proc.stdin and proc.stdout
    stdin, stdout = proc.stdin, proc.stdout
    ids = iter(range(1, 1_000_000))

    async def rpc(method: str, params: dict[str, Any]) -> None:
        stdin.write(
            json.dumps({"jsonrpc": "2.0", "id": next(ids), "method": method, "params": params}).encode()
            + b"\n"
        )
        await stdin.drain()
        assert b'"result"' in await stdout.readline()

    hello = {
        "protocolVersion": "2025-11-25",
        "capabilities": {},
        "clientInfo": {"name": "bench", "version": "1"},
    }
    await rpc("initialize", hello)
    stdin.write(b'{"jsonrpc":"2.0","method":"notifications/initialized"}\n')
    out = {}
    for tool in tools:

        async def call(name: str = tool) -> None:
            await rpc("tools/call", {"name": name, "arguments": {}})

        out[f"tools/call {tool}"] = _quantiles(await _time(calls, call))
    stdin.close()
    await proc.wait()
    return out


async def _start_to_list(home: Path, **env: str) -> tuple[float, float]:
    """Seconds from spawning the stdio server to the first tools/list answer (legacy handshake),
    and the server process's CPU seconds (start, one tools/list, shutdown: read once it is reaped)."""
    cpu = _children_cpu()
    started = time.perf_counter()
    async with Client(_stdio(home, **env), mode="legacy") as client:
        await client.list_tools(cache_mode="bypass")
        wall = time.perf_counter() - started
    return wall, _children_cpu() - cpu


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


async def _keys(home: Path, count: int) -> list[str]:
    db = Database(f"sqlite+aiosqlite:///{home / 'kaireon.db'}", SECRET)
    try:
        return [(await create_key(db, "demo", "admin", f"bench-{i}")).plaintext for i in range(count)]
    finally:
        await db.dispose()


def _report(label: str, rows: dict[str, tuple[float, float]]) -> None:
    for what, (p50, p99) in rows.items():
        print(f"  {label:<18} {what:<32} p50 {p50:6.2f} ms   p99 {p99:6.2f} ms")


async def run(calls: int, starts: int, tool: str) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        home = Path(tmp) / "home"
        home.mkdir()
        first, first_cpu = await _start_to_list(home)
        print(
            f"stdio start -> first tools/list, first start (seeds the demo tenant): {first:.2f} s "
            f"(server CPU {first_cpu:.2f} s)"
        )
        fresh = Path(tmp) / "fresh-home"
        fresh.mkdir()
        seeding, seeding_cpu = await _start_to_list(fresh)
        print(
            f"stdio start -> first tools/list, another empty home (seeds while replaying): {seeding:.2f} s "
            f"(server CPU {seeding_cpu:.2f} s)"
        )
        # The first start recorded its handshake answers; later starts replay them while loading.
        for label, env in [
            ("replaying the recorded handshake", {}),
            ("no replay cache, KAIREON_STDIO_CACHE=0", {"KAIREON_STDIO_CACHE": "0"}),
        ]:
            runs = [await _start_to_list(home, **env) for _ in range(starts)]
            seeded = sorted(wall for wall, _ in runs)
            cpu = sorted(c for _, c in runs)
            print(
                f"stdio start -> first tools/list on a seeded home, {label}, {starts} starts: "
                f"median {statistics.median(seeded):.2f} s, min {seeded[0]:.2f} s, max {seeded[-1]:.2f} s "
                f"(server CPU median {statistics.median(cpu):.2f} s)"
            )
        print(f"load average before the latency runs: {os.getloadavg()[0]:.2f} on {os.cpu_count()} cores")
        print(
            f"latency over {calls} calls each, one client at a time (stdio: after 20 warm-up calls; "
            f"HTTP: batches of {BATCH} after 5 warm-up calls, a fresh key per batch):"
        )
        for mode in MODES:
            _report(f"stdio {mode}", await _measure_stdio(home, mode, calls, tool))
        _report("stdio raw JSON-RPC", await _measure_raw_stdio(home, calls, [tool, LIGHT_TOOL]))

        keys = await _keys(home, 4 * len(MODES) * (calls // BATCH + 1))
        port = _free_port()
        serve = subprocess.Popen(
            [sys.executable, "-m", "kaireon_mcp", "serve", "--port", str(port)],
            env=_env(home),
            cwd=REPO,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
        )
        base = f"http://127.0.0.1:{port}"
        try:
            deadline = time.monotonic() + 30
            async with httpx.AsyncClient() as probe:
                while True:
                    try:
                        if (await probe.get(f"{base}/healthz")).status_code == 200:
                            break
                    except httpx.TransportError:
                        pass
                    if time.monotonic() > deadline or serve.poll() is not None:
                        raise SystemExit(
                            f"serve did not start: {serve.stderr.read().decode() if serve.stderr else ''}"
                        )
                    await asyncio.sleep(0.05)
            for mode in MODES:
                _report(f"HTTP {mode}", await _measure_http(f"{base}/mcp", keys, mode, calls, tool))
        finally:
            serve.terminate()
            serve.wait(timeout=10)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--calls", type=int, default=300)
    parser.add_argument("--starts", type=int, default=5)
    parser.add_argument("--tool", default="listChannels")
    args = parser.parse_args()
    asyncio.run(run(args.calls, args.starts, args.tool))


if __name__ == "__main__":
    main()
