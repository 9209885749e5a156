"""Recommend throughput over HTTP: 16 concurrent keep-alive clients on loopback against `kaireon-mcp serve`.

A fresh temporary KAIREON_HOME gets the demo tenant (2,000 customers, `kaireon-mcp seed`), one
editor API key per client (the bridge allows 600 requests per 60 s per key, so each client plays
one caller), then `python -m kaireon_mcp serve` on a free loopback port. Every request is a real
decision: `POST /api/v1/recommend` for a varying customer and channel, which also writes the
impression history rows and the decision trace.

Usage: python bench/bridge.py [--requests N] [--clients N] [--postgres URL]
Target (issue 6): > 500 decisions/s with p99 < 50 ms on this 2-core machine.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import resource
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

import httpx

REPO = Path(__file__).resolve().parents[1]
CHANNELS = ("web", "email", "in_app", "push")  # the demo tenant's channel types
SECRET = "bench-bridge-secret"


def _env(home: Path, database_url: str | None) -> dict[str, str]:
    keep = {k: v for k, v in os.environ.items() if k in {"PATH", "HOME", "LANG", "PYTHONPATH"}}
    env = {**keep, "KAIREON_HOME": str(home), "KAIREON_SECRET_KEY": SECRET}
    if database_url:
        env["KAIREON_DATABASE_URL"] = database_url
    return env


def _cli(env: dict[str, str], *args: str) -> str:
    out = subprocess.run(
        [sys.executable, "-m", "kaireon_mcp", *args], env=env, cwd=REPO, capture_output=True, text=True
    )
    if out.returncode:
        raise SystemExit(f"kaireon-mcp {' '.join(args)} failed: {out.stderr.strip()}")
    return out.stdout


def _process_cpu(pid: int) -> float:
    """User + system CPU seconds of a process and its children (Linux /proc)."""
    total = 0.0
    for child in [pid, *_children(pid)]:
        try:
            fields = Path(f"/proc/{child}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        total += (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    return total


def _children(pid: int) -> list[int]:
    try:
        found = Path(f"/proc/{pid}/task/{pid}/children").read_text().split()
    except OSError:
        return []
    return [int(c) for c in found]


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


async def _wait_healthy(base: str, proc: subprocess.Popen[bytes]) -> None:
    deadline = time.monotonic() + 60
    async with httpx.AsyncClient() as probe:
        while True:
            try:
                if (await probe.get(f"{base}/healthz")).status_code == 200:
                    return
            except httpx.TransportError:
                pass
            if proc.poll() is not None or time.monotonic() > deadline:
                raise SystemExit("kaireon-mcp serve did not become healthy")
            await asyncio.sleep(0.05)


async def _read_response(reader: asyncio.StreamReader) -> int:
    """Read one HTTP/1.1 response (Content-Length or chunked body); return its status."""
    status = int((await reader.readline()).split()[1])
    length, chunked = 0, False
    while True:
        line = await reader.readline()
        if line in (b"\r\n", b""):
            break
        name, _, value = line.partition(b":")
        name = name.strip().lower()
        if name == b"content-length":
            length = int(value)
        elif name == b"transfer-encoding" and b"chunked" in value.lower():
            chunked = True
    if not chunked:
        await reader.readexactly(length)
        return status
    while True:
        size = int((await reader.readline()).strip(), 16)
        await reader.readexactly(size + 2)
        if size == 0:
            return status


async def _client(
    base: str,
    key: str,
    index: int,
    count: int,
    clients: int,
    customers: int,
    timings: list[float],
    statuses: Counter[int],
) -> None:
    """One keep-alive connection posting recommend requests back to back.

    A minimal HTTP/1.1 client on asyncio streams rather than httpx: the load generator shares
    the machine's two cores with the server, and httpx costs about a millisecond of CPU per
    request, which the server would lose.
    """
    host, port = base.removeprefix("http://").split(":")
    reader, writer = await asyncio.open_connection(host, int(port))
    try:
        for i in range(count):
            n = index + i * clients  # interleaved: the clients never ask for the same customer at once
            body = json.dumps(
                {"customerId": f"C-{(n * 7919) % customers + 1:04d}", "channel": CHANNELS[n % len(CHANNELS)]}
            ).encode()
            head = (
                f"POST /api/v1/recommend HTTP/1.1\r\nHost: {host}:{port}\r\nX-API-Key: {key}\r\n"
                f"Content-Type: application/json\r\nContent-Length: {len(body)}\r\n\r\n"
            ).encode()
            started = time.perf_counter()
            writer.write(head + body)
            status = await _read_response(reader)
            timings.append((time.perf_counter() - started) * 1000)
            statuses[status] += 1
    finally:
        writer.close()


async def _load(
    base: str, keys: list[str], requests: int, customers: int
) -> tuple[float, list[float], Counter[int]]:
    clients = len(keys)
    per_client = requests // clients
    # Warm-up outside the measurement: imports, the catalogue cache, connection pools.
    warm: list[float] = []
    await asyncio.gather(
        *(_client(base, k, i, 5, clients, customers, warm, Counter()) for i, k in enumerate(keys))
    )
    timings: list[float] = []
    statuses: Counter[int] = Counter()
    started = time.perf_counter()
    await asyncio.gather(
        *(
            _client(base, key, i, per_client, clients, customers, timings, statuses)
            for i, key in enumerate(keys)
        )
    )
    return time.perf_counter() - started, timings, statuses


def run(
    label: str,
    database_url: str | None,
    requests: int,
    clients: int,
    customers: int,
    py_spy: str | None,
    workers: int = 1,
) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        env = _env(Path(tmp), database_url)
        _cli(env, "seed", "--customers", str(customers))
        keys = [
            _cli(env, "keys", "create", "--tenant", "demo", "--role", "editor").split()[0]
            for _ in range(clients)
        ]
        port = _free_port()
        base = f"http://127.0.0.1:{port}"
        serve = subprocess.Popen(
            [sys.executable, "-m", "kaireon_mcp", "serve", "--port", str(port), "--workers", str(workers)],
            env=env,
            cwd=REPO,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        try:
            asyncio.run(_wait_healthy(base, serve))
            load_before = os.getloadavg()[0]
            spy = None
            if py_spy:  # sample the server during the whole run (collapsed stacks, for flamegraph.pl)
                spy = subprocess.Popen(
                    [
                        shutil.which("py-spy") or str(Path(sys.executable).parent / "py-spy"),
                        "record",
                        "-p",
                        str(serve.pid),
                        "-o",
                        py_spy,
                        "-f",
                        "raw",
                        "-r",
                        "200",
                        "--nonblocking",
                        "--gil",
                    ],
                    stdout=subprocess.DEVNULL,
                    stderr=subprocess.DEVNULL,
                )
                time.sleep(1)
            own_cpu = resource.getrusage(resource.RUSAGE_SELF)
            server_cpu = _process_cpu(serve.pid)
            seconds, timings, statuses = asyncio.run(_load(base, keys, requests, customers))
            server_cpu = _process_cpu(serve.pid) - server_cpu
            own_after = resource.getrusage(resource.RUSAGE_SELF)
            if spy:
                spy.send_signal(2)
                spy.wait(timeout=30)
        finally:
            serve.terminate()
            serve.wait(timeout=20)
    ok = statuses.get(200, 0)
    q = statistics.quantiles(sorted(timings), n=100, method="inclusive")
    client_cpu = (own_after.ru_utime - own_cpu.ru_utime) + (own_after.ru_stime - own_cpu.ru_stime)
    print(
        f"{label}, {workers} worker(s): {len(timings)} recommend requests, {clients} concurrent clients, "
        f"{seconds:.1f} s: "
        f"{len(timings) / seconds:.0f} decisions/s; p50 {q[49]:.1f} ms, p95 {q[94]:.1f} ms, "
        f"p99 {q[98]:.1f} ms, max {max(timings):.1f} ms; statuses {dict(statuses)} "
        f"(200: {ok}); server CPU {server_cpu:.1f} s ({server_cpu * 1000 / len(timings):.2f} ms per "
        f"decision); load generator CPU {client_cpu:.1f} s of {seconds:.1f} s; "
        f"load average at start {load_before:.2f} on {os.cpu_count()} cores"
    )


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--requests", type=int, default=3200)
    parser.add_argument("--clients", type=int, default=16)
    parser.add_argument("--customers", type=int, default=2000)
    parser.add_argument(
        "--postgres", default=None, help="also run against this PostgreSQL URL (schema reset!)"
    )
    parser.add_argument("--no-sqlite", action="store_true")
    parser.add_argument("--workers", type=int, default=1, help="serve --workers N (server processes)")
    parser.add_argument("--py-spy", metavar="FILE", help="record the server with py-spy (pip install py-spy)")
    args = parser.parse_args()
    if args.requests // args.clients > 550:
        parser.error("keep requests per client at 550 or fewer (600 per 60 s per key), or add --clients")
    if not args.no_sqlite:
        run("SQLite (default)", None, args.requests, args.clients, args.customers, args.py_spy, args.workers)
    if args.postgres:
        run(
            "PostgreSQL",
            args.postgres,
            args.requests,
            args.clients,
            args.customers,
            args.py_spy,
            args.workers,
        )


if __name__ == "__main__":
    main()
