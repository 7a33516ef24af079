"""Rate limits per client IP and per API key: in this process's memory, or in Redis for all processes.

429 answers carry ``Retry-After``; every API answer carries ``RateLimit-Limit``,
``RateLimit-Remaining`` and ``RateLimit-Reset`` for the IP limit, as the IETF
RateLimit header fields draft describes.

The strategy is the sliding-window counter: two counters per key, O(1) time and
memory per hit. A moving window keeps one entry per request in the window (a
list of up to the limit, searched and spliced on every hit), which cost more
than the purchase it guarded at high limits (``docs/performance.md``).

With Redis configured the ``limits`` library keeps the counters there. Without
it the counters are a dict here (``LocalWindows``) rather than ``limits``'
``MemoryStorage``, which starts a ``threading.Timer`` thread to expire keys
whenever the last one has finished — a new thread every ~10 ms under load.

The per-IP limit is a plain ASGI middleware, not Starlette's
``BaseHTTPMiddleware``: that one runs the rest of the app in a task of its own
and copies the response through a stream, on every request.
"""

from __future__ import annotations

import math
import threading
import time
from dataclasses import dataclass, field
from typing import Protocol

import structlog
from limits import RateLimitItem, parse
from limits.errors import StorageError
from limits.storage import Storage, storage_from_string
from limits.strategies import SlidingWindowCounterRateLimiter
from redis import RedisError
from starlette.datastructures import MutableHeaders
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from keyrelay.kit.errors import TooManyRequests
from keyrelay.web.errors import problem

log = structlog.get_logger(__name__)


@dataclass(frozen=True)
class Verdict:
    """One counted request: let through or not, seconds until the window frees one, requests left."""

    allowed: bool
    reset: int
    remaining: int


class Windows(Protocol):
    def take(self, item: RateLimitItem, *ids: str) -> Verdict: ...


@dataclass
class LocalWindows:
    """Sliding-window counters in memory: per key the current and the previous fixed window's counts.

    The estimate is ``previous × (share of the previous window still inside the
    sliding one) + current``, as ``limits`` computes it. Keys idle for two
    windows are swept every ``sweep_every`` requests, so memory follows the
    number of active callers.
    """

    sweep_every: int = 10_000
    _counts: dict[tuple[str, ...], list[int]] = field(default_factory=dict)
    """key → [window number, count in it, count in the window before]."""
    _lock: threading.Lock = field(default_factory=threading.Lock)
    _hits: int = 0

    def take(self, item: RateLimitItem, *ids: str) -> Verdict:
        period, limit = item.get_expiry(), item.amount
        now = time.time()
        number, into = divmod(now, period)
        key = (item.key_for(*ids),)
        with self._lock:
            self._hits += 1
            if self._hits % self.sweep_every == 0:
                self._sweep(int(number))
            slot = self._counts.get(key)
            if slot is None or slot[0] < number - 1:
                slot = self._counts[key] = [int(number), 0, 0]
            elif slot[0] == number - 1:
                slot[:] = [int(number), 0, slot[1]]
            weight = 1 - into / period
            estimate = slot[2] * weight + slot[1]
            allowed = estimate + 1 <= limit
            if allowed:
                slot[1] += 1
                estimate += 1
            previous = slot[2]
        remaining = max(0, math.floor(limit - estimate))
        reset = period - into
        if not allowed and previous:  # or sooner: when the previous window's share has shrunk by what is over
            reset = min(reset, (estimate + 1 - limit) / previous * period)
        return Verdict(allowed, max(1, math.ceil(reset)), remaining)

    def _sweep(self, number: int) -> None:
        for key in [k for k, slot in self._counts.items() if slot[0] < number - 1]:
            del self._counts[key]


@dataclass
class SharedWindows:
    """The same counters in a ``limits`` storage (Redis), shared by every server process."""

    limiter: SlidingWindowCounterRateLimiter

    def take(self, item: RateLimitItem, *ids: str) -> Verdict:
        try:
            allowed = self.limiter.hit(item, *ids)
            stats = self.limiter.get_window_stats(item, *ids)
        except (RedisError, StorageError) as exc:
            # Fail open: a lost Redis must not turn every API request into a 500. The limits
            # protect capacity; nonces, idempotency and stock stay guarded by the database.
            log.warning("rate_limit_storage_unavailable", error=type(exc).__name__)
            return Verdict(True, 1, item.amount)
        return Verdict(allowed, max(1, int(stats.reset_time - time.time())), stats.remaining)


@dataclass
class Limiter:
    """Both limits and the counters they share."""

    per_ip: RateLimitItem
    per_key: RateLimitItem
    windows: Windows

    @classmethod
    def build(cls, *, redis_url: str, per_ip: str, per_key: str) -> Limiter:
        windows: Windows = LocalWindows()
        if redis_url:
            storage = storage_from_string(redis_url)
            assert isinstance(storage, Storage), "a synchronous storage (redis://)"
            windows = SharedWindows(SlidingWindowCounterRateLimiter(storage))
        return cls(parse(per_ip), parse(per_key), windows)

    def check_key(self, key_id: str) -> None:
        """Count one request of an authenticated API key; raise 429 when over."""
        verdict = self.windows.take(self.per_key, "key", key_id)
        if not verdict.allowed:
            raise TooManyRequests("rate limit for this API key exceeded", retry_after=verdict.reset)


class PerIpLimit:
    """ASGI middleware: the per-IP limit on every ``/api/`` request, with RateLimit headers."""

    def __init__(self, app: ASGIApp, limiter: Limiter) -> None:
        self.app = app
        self.limiter = limiter

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or not scope["path"].startswith("/api/"):
            await self.app(scope, receive, send)
            return
        limiter = self.limiter
        client = scope.get("client")
        verdict = limiter.windows.take(limiter.per_ip, "ip", client[0] if client else "")
        fields = {
            "RateLimit-Limit": str(limiter.per_ip.amount),
            "RateLimit-Remaining": str(verdict.remaining),
            "RateLimit-Reset": str(verdict.reset),
        }
        if not verdict.allowed:
            refused = problem(429, "rate_limited", "Too many requests", "rate limit for this address exceeded", retry_after=verdict.reset)
            refused.headers.update(fields)
            await refused(scope, receive, send)
            return

        async def send_with_fields(message: Message) -> None:
            if message["type"] == "http.response.start":
                MutableHeaders(scope=message).update(fields)
            await send(message)

        await self.app(scope, receive, send_with_fields)
