"""Client of the optional ML worker (http-bridge.md 3.16 and 6): health probe, job submit, job poll.

The probe uses a 3 s timeout and caches its outcome per URL for 30 s, so the status
endpoint and automatic tier routing never wait on a dead worker more than once in a while.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from kaireon_mcp.errors import KaireonError, NotFoundError

if TYPE_CHECKING:
    import httpx

__all__ = ["HEALTH_TTL", "Health", "MLWorkerClient", "MLWorkerUnavailable", "worker_url"]

HEALTH_TIMEOUT = 3.0
HEALTH_TTL = 30.0
SUBMIT_TIMEOUT = 10.0


class MLWorkerUnavailable(KaireonError):
    """The worker was asked for work but cannot be reached (503)."""

    code = "ML_WORKER_UNAVAILABLE"

    @property
    def http_status(self) -> int:
        return 503


@dataclass(frozen=True)
class Health:
    connected: bool
    url: str | None
    error: str | None = None
    capabilities: tuple[str, ...] = ()

    def to_dict(self) -> dict[str, Any]:
        body: dict[str, Any] = {"connected": self.connected, "url": self.url}
        if self.connected:
            body["capabilities"] = list(self.capabilities)
        else:
            body["error"] = self.error
        return body


def worker_url(tenant_settings: Mapping[str, Any], default_url: str | None) -> str | None:
    """Tenant ``mlWorker.url`` unless ``enabled`` is false, else the process-wide URL."""
    block = tenant_settings.get("mlWorker")
    if isinstance(block, Mapping):
        if block.get("enabled") is False:
            return None
        url = block.get("url")
        if isinstance(url, str) and url.strip():
            return url.strip().rstrip("/")
    return default_url.rstrip("/") if default_url else None


class MLWorkerClient:
    """One per process: holds the health cache; each call opens a short-lived HTTP client.

    ``transport`` lets tests route calls into an in-process worker app.
    """

    def __init__(
        self,
        default_url: str | None,
        *,
        transport: httpx.AsyncBaseTransport | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.default_url = default_url
        self._transport = transport
        self._clock = clock
        self._cache: dict[str, tuple[float, Health]] = {}

    def _client(self, timeout: float) -> httpx.AsyncClient:
        # httpx (with its CLI's rich/pygments) is imported on first use: every server start
        # loads this module through the tool registry, and most never talk to a worker
        import httpx

        return httpx.AsyncClient(timeout=timeout, transport=self._transport)

    async def health(self, url: str | None) -> Health:
        """Probe ``GET {url}/health``; healthy means HTTP 200."""
        if not url:
            return Health(False, None, "ML Worker URL not configured")
        cached = self._cache.get(url)
        now = self._clock()
        if cached and now - cached[0] < HEALTH_TTL:
            return cached[1]
        health = await self._probe(url)
        self._cache[url] = (now, health)
        return health

    async def _probe(self, url: str) -> Health:
        import httpx

        try:
            async with self._client(HEALTH_TIMEOUT) as client:
                response = await client.get(f"{url}/health")
        except httpx.HTTPError as exc:
            return Health(False, url, f"ML Worker unreachable ({exc.__class__.__name__})")
        if response.status_code != 200:
            return Health(False, url, f"ML Worker health check answered HTTP {response.status_code}")
        body = _json(response)
        caps = body.get("capabilities") if isinstance(body, dict) else None
        return Health(True, url, None, tuple(str(c) for c in caps or ()))

    async def submit(self, url: str, job: dict[str, Any]) -> str:
        """Post a job; returns the worker's job id."""
        import httpx

        try:
            async with self._client(SUBMIT_TIMEOUT) as client:
                response = await client.post(f"{url}/jobs", json=job)
        except httpx.HTTPError as exc:
            raise MLWorkerUnavailable(f"ML Worker unreachable ({exc.__class__.__name__})") from exc
        body = _json(response)
        if response.status_code >= 300 or not isinstance(body, dict) or "jobId" not in body:
            raise MLWorkerUnavailable(f"ML Worker refused the job (HTTP {response.status_code})")
        return str(body["jobId"])

    async def job(self, url: str, job_id: str) -> dict[str, Any]:
        """Poll one job: ``{jobId, status, result?, error?}``."""
        import httpx

        try:
            async with self._client(SUBMIT_TIMEOUT) as client:
                response = await client.get(f"{url}/jobs/{job_id}")
        except httpx.HTTPError as exc:
            raise MLWorkerUnavailable(f"ML Worker unreachable ({exc.__class__.__name__})") from exc
        if response.status_code == 404:
            raise NotFoundError(f"ML Worker job {job_id!r} not found", field="jobId")
        body = _json(response)
        if response.status_code != 200 or not isinstance(body, dict):
            raise MLWorkerUnavailable(f"ML Worker job lookup failed (HTTP {response.status_code})")
        return body


def _json(response: httpx.Response) -> Any:
    try:
        return response.json()
    except ValueError:
        return None
