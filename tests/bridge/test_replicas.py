"""Two `kaireon-mcp serve` processes behind one PostgreSQL database and one Redis (issue 6).

A conversation started on replica A continues on replica B (B reads the stored history from the
shared database and sends it to the provider), and the chat limit of 30 requests per 60 s per
user is one window across both replicas (Redis), so the 31st request gets 429 whichever replica
it reaches. The provider is the loopback fake Anthropic server, shared by both processes.

Needs KAIREON_TEST_POSTGRES_URL (the server is used; the test creates and drops its own
database) and KAIREON_TEST_REDIS_URL (e.g. redis://127.0.0.1:6379/15).
"""

from __future__ import annotations

import asyncio
import json
import os
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy.engine import make_url

from kaireon_mcp.storage.db import Database
from kaireon_mcp.storage.keys import create_key
from tests.fakes.fake_providers import FakeAnthropic

PG_URL = os.environ.get("KAIREON_TEST_POSTGRES_URL")
REDIS_URL = os.environ.get("KAIREON_TEST_REDIS_URL")
REPO_ROOT = Path(__file__).resolve().parents[2]
SECRET = "replicas-test-secret"
CHAT_LIMIT = 30
FIRST_ANSWER = "Your best offer today is the Gold Rewards card."

pytestmark = [
    pytest.mark.skipif(
        not PG_URL, reason="KAIREON_TEST_POSTGRES_URL is not set: replicas need a shared PostgreSQL"
    ),
    pytest.mark.skipif(
        not REDIS_URL, reason="KAIREON_TEST_REDIS_URL is not set: replicas need a shared Redis"
    ),
]


def _admin_dsn(url: str) -> str:
    """A plain asyncpg DSN for the server's maintenance database."""
    return (
        make_url(url).set(drivername="postgresql", database="postgres").render_as_string(hide_password=False)
    )


async def _create_database(url: str, name: str) -> str:
    import asyncpg

    conn = await asyncpg.connect(_admin_dsn(url))
    try:
        await conn.execute(f'CREATE DATABASE "{name}"')
    finally:
        await conn.close()
    return make_url(url).set(database=name).render_as_string(hide_password=False)


async def _drop_database(url: str, name: str) -> None:
    import asyncpg

    conn = await asyncpg.connect(_admin_dsn(url))
    try:
        await conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    finally:
        await conn.close()


async def _migrate_and_key(url: str, tenant: str) -> str:
    """Migrate once before the replicas start (two concurrent migrations would race) and mint a key."""
    db = Database(url, SECRET)
    try:
        await db.migrate()
        return (await create_key(db, tenant, "viewer", "replicas")).plaintext
    finally:
        await db.dispose()


@pytest.fixture
def shared_database() -> Iterator[str]:
    assert PG_URL
    name = f"kaireon_replicas_{uuid.uuid4().hex[:10]}"
    url = asyncio.run(_create_database(PG_URL, name))
    try:
        yield url
    finally:
        asyncio.run(_drop_database(PG_URL, name))


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass
class Replica:
    name: str
    proc: subprocess.Popen[bytes]
    base: str
    log: Path

    def output(self) -> str:
        return self.log.read_text(errors="replace")[-2000:]


def _start(name: str, home: Path, env: dict[str, str]) -> Replica:
    port = _free_port()
    home.mkdir()
    log = home / "serve.log"
    with log.open("wb") as out:
        proc = subprocess.Popen(
            [sys.executable, "-m", "kaireon_mcp", "serve", "--host", "127.0.0.1", "--port", str(port)],
            env={**env, "KAIREON_HOME": str(home)},
            cwd=REPO_ROOT,
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    return Replica(name, proc, f"http://127.0.0.1:{port}", log)


def _wait_healthy(replicas: list[Replica], timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    pending = list(replicas)
    while pending:
        replica = pending[0]
        if replica.proc.poll() is not None:
            pytest.fail(f"replica {replica.name} exited with {replica.proc.returncode}:\n{replica.output()}")
        try:
            if httpx.get(f"{replica.base}/healthz", timeout=2).status_code == 200:
                pending.pop(0)
                continue
        except httpx.TransportError:
            pass
        if time.monotonic() > deadline:
            pytest.fail(f"replica {replica.name} not healthy after {timeout:.0f} s:\n{replica.output()}")
        time.sleep(0.1)


def _server_env(database_url: str, provider: FakeAnthropic) -> dict[str, str]:
    inherited = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(
            ("KAIREON_", "KAIREONAI_", "ANTHROPIC_", "OPENAI_", "OLLAMA_", "LMSTUDIO_", "ML_WORKER")
        )
    }
    return {
        **inherited,
        "KAIREON_DATABASE_URL": database_url,
        "KAIREON_REDIS_URL": str(REDIS_URL),
        "KAIREON_SECRET_KEY": SECRET,
        "KAIREON_AI_PROVIDER": "anthropic",
        "ANTHROPIC_API_KEY": provider.api_key,
        "ANTHROPIC_BASE_URL": provider.base_url,
    }


@pytest.fixture
def replicas(
    shared_database: str, tmp_path: Path
) -> Iterator[tuple[Replica, Replica, FakeAnthropic, str, str]]:
    # Unique per run so concurrent runs never share a Redis window.
    tenant = f"replicas-{uuid.uuid4().hex[:8]}"
    key = asyncio.run(_migrate_and_key(shared_database, tenant))
    turns = [{"text": FIRST_ANSWER}] + [{"text": f"Answer {i}."} for i in range(2, CHAT_LIMIT + 2)]
    provider = FakeAnthropic(turns)
    with provider:
        env = _server_env(shared_database, provider)
        started = [_start(name, tmp_path / name, env) for name in ("a", "b")]
        try:
            _wait_healthy(started)
            yield started[0], started[1], provider, key, tenant
        finally:
            for replica in started:
                replica.proc.terminate()
            for replica in started:
                try:
                    replica.proc.wait(timeout=10)
                except subprocess.TimeoutExpired:
                    replica.proc.kill()
                    replica.proc.wait(timeout=5)


def _stream_text(response: httpx.Response) -> str:
    frames = [f.removeprefix("data: ") for f in response.text.split("\n\n") if f.startswith("data: ")]
    assert frames and frames[-1] == "[DONE]", response.text[-500:]
    return "".join(json.loads(f).get("delta", "") for f in frames[:-1])


def _chat(
    client: httpx.Client, replica: Replica, text: str, conversation: str | None = None
) -> httpx.Response:
    body: dict[str, Any] = {"messages": [{"role": "user", "content": text}]}
    if conversation:
        body["conversationId"] = conversation
    return client.post(f"{replica.base}/api/v1/ai/chat", json=body)


def test_conversation_and_chat_limit_span_two_replicas(
    replicas: tuple[Replica, Replica, FakeAnthropic, str, str],
) -> None:
    a, b, provider, key, _tenant = replicas
    user = f"u-{uuid.uuid4().hex[:8]}"
    headers = {"X-API-Key": key, "X-User-Id": user}
    with httpx.Client(headers=headers, timeout=30) as client:
        # 1. a conversation started on A ...
        first = _chat(client, a, "Which offer suits me?")
        assert first.status_code == 200, first.text
        conversation = first.headers["x-conversation-id"]
        assert _stream_text(first) == FIRST_ANSWER

        # 2. ... continues on B, which loads the stored history from the shared database
        second = _chat(client, b, "And why that one?", conversation)
        assert second.status_code == 200, second.text
        assert second.headers["x-conversation-id"] == conversation
        assert _stream_text(second) == "Answer 2."
        sent_by_b = json.dumps(provider.requests[-1])
        assert "Which offer suits me?" in sent_by_b and FIRST_ANSWER in sent_by_b

        stored = client.get(f"{a.base}/api/v1/ai/conversations/{conversation}")
        assert stored.status_code == 200, stored.text
        messages = stored.json()["messages"]
        assert [m["role"] for m in messages] == ["user", "assistant", "user", "assistant"]
        assert messages[3]["content"] == "Answer 2."

        # 3. the chat window (30 per 60 s per user) is shared: requests 3..30 alternate replicas
        remaining = []
        for n in range(3, CHAT_LIMIT + 1):
            response = _chat(client, (a, b)[n % 2], f"Question {n}")
            assert response.status_code == 200, (n, response.text)
            _stream_text(response)
            remaining.append(int(response.headers["x-ratelimit-remaining"]))
        assert remaining[-1] == 0 and remaining == sorted(remaining, reverse=True)

        # the 31st request is refused on either replica, though each has served only 15
        for replica in (a, b):
            refused = _chat(client, replica, "One more?")
            assert refused.status_code == 429, (replica.name, refused.text)
            assert refused.json()["error"]["code"] == "RATE_LIMITED"
            assert int(refused.headers["retry-after"]) >= 1

        # another user of the same tenant has a window of their own
        fresh = client.post(
            f"{b.base}/api/v1/ai/chat",
            json={"messages": [{"role": "user", "content": "Hello"}]},
            headers={"X-User-Id": f"{user}-other"},
        )
        assert fresh.status_code == 200, fresh.text
        _stream_text(fresh)

    assert provider.remaining_turns == 0  # refused requests never reached the provider
