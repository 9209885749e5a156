"""Sliding-window rate limits: a Redis sorted set per key when configured, else in-process.

The Redis variant runs one Lua script per hit (drop members older than the window,
count, reject or add), so replicas behind a load balancer share the same window. The
in-process variant keeps the identical algorithm for a single server.
"""

from __future__ import annotations

import logging
import time
import uuid
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Protocol

import redis.asyncio as redis_asyncio
import redis.exceptions

__all__ = [
    "Decision",
    "Limit",
    "MemoryRateLimiter",
    "RateLimiter",
    "RedisRateLimiter",
    "RedisUnavailable",
    "limiter_for",
]

log = logging.getLogger(__name__)

# KEYS[1] = window key; ARGV = now_ms, window_ms, limit, member.
# Returns {allowed (1/0), count after the call, oldest member's score in ms (0 if none)}.
SLIDING_WINDOW_LUA = """
local key = KEYS[1]
local now = tonumber(ARGV[1])
local window = tonumber(ARGV[2])
local limit = tonumber(ARGV[3])
redis.call('ZREMRANGEBYSCORE', key, '-inf', now - window)
local count = redis.call('ZCARD', key)
local oldest = redis.call('ZRANGE', key, 0, 0, 'WITHSCORES')
local first = 0
if oldest[2] then first = tonumber(oldest[2]) end
if count >= limit then
  return {0, count, first}
end
redis.call('ZADD', key, now, ARGV[4])
redis.call('PEXPIRE', key, window + 1000)
if first == 0 then first = now end
return {1, count + 1, first}
"""


@dataclass(frozen=True)
class Limit:
    """``limit`` requests per ``window`` seconds; ``fail_closed`` refuses when Redis is down."""

    name: str
    limit: int
    window: float
    fail_closed: bool = False


@dataclass(frozen=True)
class Decision:
    allowed: bool
    limit: int
    remaining: int
    retry_after: float
    reset_after: float

    def headers(self) -> dict[str, str]:
        out = {
            "X-RateLimit-Limit": str(self.limit),
            "X-RateLimit-Remaining": str(max(self.remaining, 0)),
            "X-RateLimit-Reset": str(max(1, int(self.reset_after + 0.999))),
        }
        if not self.allowed:
            out["Retry-After"] = str(max(1, int(self.retry_after + 0.999)))
        return out


class RateLimiter(Protocol):
    async def hit(self, key: str, limit: Limit) -> Decision: ...

    async def aclose(self) -> None: ...


def _decision(allowed: bool, count: int, oldest: float, now: float, limit: Limit) -> Decision:
    reset = max(0.0, oldest + limit.window - now) if oldest else limit.window
    return Decision(
        allowed=allowed,
        limit=limit.limit,
        remaining=limit.limit - count,
        retry_after=reset if not allowed else 0.0,
        reset_after=reset,
    )


class MemoryRateLimiter:
    """Per-process windows: correct for one server, or as the fail-open fallback."""

    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self._clock = clock
        self._hits: dict[str, deque[float]] = {}

    async def hit(self, key: str, limit: Limit) -> Decision:
        now = self._clock()
        hits = self._hits.setdefault(key, deque())
        while hits and hits[0] <= now - limit.window:
            hits.popleft()
        if len(hits) >= limit.limit:
            return _decision(False, len(hits), hits[0], now, limit)
        hits.append(now)
        return _decision(True, len(hits), hits[0], now, limit)

    async def aclose(self) -> None:
        self._hits.clear()


class RedisUnavailable(Exception):
    """The limiter could not reach Redis (mapped by the caller per the limit's policy)."""


class RedisRateLimiter:
    """Shared windows in Redis; falls back to in-process windows for fail-open limits."""

    def __init__(self, url: str, client: Any | None = None) -> None:
        self._redis = client or redis_asyncio.from_url(url, socket_timeout=2, socket_connect_timeout=2)
        self._script = self._redis.register_script(SLIDING_WINDOW_LUA)
        self._fallback = MemoryRateLimiter()

    async def hit(self, key: str, limit: Limit) -> Decision:
        now_ms = int(time.time() * 1000)
        try:
            allowed, count, oldest = await self._script(
                keys=[key],
                args=[now_ms, int(limit.window * 1000), limit.limit, f"{now_ms}-{uuid.uuid4().hex}"],
            )
        except (redis.exceptions.RedisError, OSError) as exc:
            if limit.fail_closed:
                raise RedisUnavailable(str(exc)) from exc
            log.warning("rate limiter: Redis unavailable, using the in-process window (%s)", exc)
            return await self._fallback.hit(key, limit)
        return _decision(bool(allowed), int(count), float(oldest) / 1000, now_ms / 1000, limit)

    async def aclose(self) -> None:
        await self._redis.aclose()


def limiter_for(redis_url: str | None) -> RateLimiter:
    """Redis when ``KAIREON_REDIS_URL`` is set, else in-process."""
    return RedisRateLimiter(redis_url) if redis_url else MemoryRateLimiter()
