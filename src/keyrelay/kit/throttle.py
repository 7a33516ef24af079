"""A small in-process sliding-window throttle (per process; Redis-backed limits come later)."""

from __future__ import annotations

import threading
import time
from collections import defaultdict, deque


class Throttle:
    """Allow at most ``limit`` hits per ``window`` seconds for each key."""

    def __init__(self, limit: int, window: float = 60.0) -> None:
        self.limit = limit
        self.window = window
        self._hits: dict[str, deque[float]] = defaultdict(deque)
        self._lock = threading.Lock()

    def hit(self, key: str) -> int:
        """Record a hit; return 0 if allowed, else seconds until the next one is."""
        now = time.monotonic()
        with self._lock:
            hits = self._hits[key]
            while hits and hits[0] <= now - self.window:
                hits.popleft()
            if len(hits) >= self.limit:
                return max(1, int(hits[0] + self.window - now) + 1)
            hits.append(now)
            if len(self._hits) > 100_000:  # bound memory under a key-spraying attack
                self._hits = defaultdict(deque, {k: v for k, v in self._hits.items() if v})
            return 0
