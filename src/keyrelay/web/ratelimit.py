"""Rate limits per client IP and per API key (the ``limits`` library; Redis when configured).

429 answers carry ``Retry-After``; every API answer carries ``RateLimit-Limit``,
``RateLimit-Remaining`` and ``RateLimit-Reset`` for the IP limit, as the IETF
RateLimit header fields draft describes.

The strategy is the sliding-window counter: two counters per key, O(1) time and
memory per hit. A moving window keeps one entry per request in the window (a
list of up to the limit, searched and spliced on every hit), which cost more
than the purchase it guarded at high limits (``docs/performance.md``).

The per-IP limit is a plain ASGI middleware, not Starlette's
``BaseHTTPMiddleware``: that one runs the rest of the app in a task of its own
and copies the response through a stream, on every request.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

from limits import RateLimitItem, parse
from limits.storage import MemoryStorage, Storage, storage_from_string
from limits.strategies import SlidingWindowCounterRateLimiter
from starlette.datastructures import MutableHeaders
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from keyrelay.kit.errors import TooManyRequests
from keyrelay.web.errors import problem


@dataclass
class Limiter:
    """Both limits and their shared storage."""

    per_ip: RateLimitItem
    per_key: RateLimitItem
    limiter: SlidingWindowCounterRateLimiter

    @classmethod
    def build(cls, *, redis_url: str, per_ip: str, per_key: str) -> Limiter:
        storage = storage_from_string(redis_url) if redis_url else MemoryStorage()
        assert isinstance(storage, Storage), "a synchronous storage (redis://, memory://)"
        return cls(parse(per_ip), parse(per_key), SlidingWindowCounterRateLimiter(storage))

    def check_key(self, key_id: str) -> None:
        """Count one request of an authenticated API key; raise 429 when over."""
        if not self.limiter.hit(self.per_key, "key", key_id):
            reset, _ = self.window(self.per_key, "key", key_id)
            raise TooManyRequests("rate limit for this API key exceeded", retry_after=reset)

    def window(self, item: RateLimitItem, *ids: str) -> tuple[int, int]:
        """Seconds until the window frees a request, and requests left in it."""
        stats = self.limiter.get_window_stats(item, *ids)
        return max(1, int(stats.reset_time - time.time())), stats.remaining


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
        ip = client[0] if client else ""
        allowed = limiter.limiter.hit(limiter.per_ip, "ip", ip)
        reset, remaining = limiter.window(limiter.per_ip, "ip", ip)
        fields = {"RateLimit-Limit": str(limiter.per_ip.amount), "RateLimit-Remaining": str(remaining), "RateLimit-Reset": str(reset)}
        if not allowed:
            refused = problem(429, "rate_limited", "Too many requests", "rate limit for this address exceeded", retry_after=reset)
            refused.headers.update(fields)
            await refused(scope, receive, send)
            return

        async def send_with_fields(message: Message) -> None:
            if message["type"] == "http.response.start":
                MutableHeaders(scope=message).update(fields)
            await send(message)

        await self.app(scope, receive, send_with_fields)
