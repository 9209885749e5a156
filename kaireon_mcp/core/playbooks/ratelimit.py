"""In-process sliding-window limiter, one window per (tenant, playbook).

Playbooks fan out into many primitive calls and can train or replay hundreds of traces,
so one tenant looping on a playbook must not starve the others. The window slides (a
deque of hit times per key) instead of resetting on a boundary, so a burst at the end of
one minute cannot be followed by another at the start of the next.
"""

from __future__ import annotations

import threading
import time
from collections import deque
from collections.abc import Callable, Hashable

DEFAULT_LIMIT = 20
DEFAULT_WINDOW_SECONDS = 60.0


class SlidingWindowLimiter:
    """At most ``limit`` hits per key in any ``window`` seconds."""

    def __init__(
        self,
        limit: int = DEFAULT_LIMIT,
        window: float = DEFAULT_WINDOW_SECONDS,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.limit = limit
        self.window = window
        self._clock = clock
        self._hits: dict[Hashable, deque[float]] = {}
        self._lock = threading.Lock()

    def acquire(self, key: Hashable) -> float | None:
        """Record a hit and return None, or refuse and return the seconds until one frees up."""
        now = self._clock()
        with self._lock:
            hits = self._hits.setdefault(key, deque())
            while hits and hits[0] <= now - self.window:
                hits.popleft()
            if len(hits) >= self.limit:
                return max(0.0, hits[0] + self.window - now)
            hits.append(now)
            return None

    def reset(self) -> None:
        with self._lock:
            self._hits.clear()
