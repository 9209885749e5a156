"""Chat rate limit (30 per 60 s per user): in-process and through Redis shared by two replicas."""

from __future__ import annotations

import os
from typing import Any

import httpx
import pytest

from kaireon_mcp.bridge.ratelimit import Limit, MemoryRateLimiter, RedisRateLimiter
from tests.bridge.conftest import TENANT_A, Bridge, build_app, mint_keys

REDIS_URL = os.environ.get("KAIREON_TEST_REDIS_URL")
CHAT = {"messages": [{"role": "user", "content": "hi"}]}


async def _hammer(client: httpx.AsyncClient, times: int) -> list[int]:
    return [(await client.post("/api/v1/ai/chat", json=CHAT)).status_code for _ in range(times)]


async def test_31st_chat_request_is_429_in_process(bridge: Bridge) -> None:
    async with bridge.client(role="viewer", **{"X-User-Id": "u1"}) as client:
        statuses = await _hammer(client, 31)
        limited = await client.post("/api/v1/ai/chat", json=CHAT)
    assert statuses[:30] == [503] * 30 and statuses[30] == 429
    assert limited.json()["error"]["code"] == "RATE_LIMITED"
    assert 1 <= int(limited.headers["retry-after"]) <= 60
    assert limited.headers["x-ratelimit-remaining"] == "0"
    async with bridge.client(role="viewer", **{"X-User-Id": "u2"}) as other_user:
        assert (await other_user.post("/api/v1/ai/chat", json=CHAT)).status_code == 503


async def test_memory_window_slides() -> None:
    now = [0.0]
    limiter = MemoryRateLimiter(clock=lambda: now[0])
    limit = Limit("t", 2, 10.0)
    assert (await limiter.hit("k", limit)).allowed and (await limiter.hit("k", limit)).allowed
    refused = await limiter.hit("k", limit)
    assert not refused.allowed and refused.retry_after == pytest.approx(10.0)
    now[0] = 10.5
    assert (await limiter.hit("k", limit)).allowed


@pytest.mark.skipif(not REDIS_URL, reason="KAIREON_TEST_REDIS_URL not set")
async def test_31st_chat_request_is_429_across_replicas_with_redis(db: Any) -> None:
    assert REDIS_URL
    import redis.asyncio as redis_asyncio

    admin = redis_asyncio.from_url(REDIS_URL)
    await admin.flushdb()
    await admin.aclose()
    replica_a = build_app(db, limiter=RedisRateLimiter(REDIS_URL))
    replica_b = build_app(db, limiter=RedisRateLimiter(REDIS_URL))
    keys = await mint_keys(db, (TENANT_A,))
    headers = {"X-API-Key": keys[(TENANT_A, "viewer")], "X-User-Id": "u1"}
    clients = [
        httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://t", headers=headers)
        for app in (replica_a, replica_b)
    ]
    try:
        statuses = [(await clients[i % 2].post("/api/v1/ai/chat", json=CHAT)).status_code for i in range(31)]
    finally:
        for client in clients:
            await client.aclose()
        for app in (replica_a, replica_b):
            await app.state.bridge.limiter.aclose()
    assert statuses[:30] == [503] * 30 and statuses[30] == 429


async def test_redis_down_fails_open_for_chat_and_closed_for_mcp() -> None:
    limiter = RedisRateLimiter("redis://127.0.0.1:1/0")
    try:
        assert (await limiter.hit("k", Limit("chat", 30, 60.0))).allowed
        from kaireon_mcp.bridge.ratelimit import RedisUnavailable

        with pytest.raises(RedisUnavailable):
            await limiter.hit("k", Limit("mcp", 60, 60.0, fail_closed=True))
    finally:
        await limiter.aclose()
