"""Rate limits per client IP and per API key (the ``limits`` library; Redis when configured).

429 answers carry ``Retry-After``; every API answer carries ``RateLimit-Limit``,
``RateLimit-Remaining`` and ``RateLimit-Reset`` for the IP limit, as the IETF
RateLimit header fields draft describes.
"""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from fastapi import Request, Response
from limits import RateLimitItem, parse
from limits.storage import MemoryStorage, Storage, storage_from_string
from limits.strategies import MovingWindowRateLimiter

from keyrelay.kit.errors import TooManyRequests
from keyrelay.web.errors import problem
from keyrelay.web.state import client_ip


@dataclass
class Limiter:
    """Both limits and their shared storage."""

    per_ip: RateLimitItem
    per_key: RateLimitItem
    limiter: MovingWindowRateLimiter

    @classmethod
    def build(cls, *, redis_url: str, per_ip: str, per_key: str) -> Limiter:
        storage = storage_from_string(redis_url) if redis_url else MemoryStorage()
        assert isinstance(storage, Storage), "a synchronous storage (redis://, memory://)"
        return cls(parse(per_ip), parse(per_key), MovingWindowRateLimiter(storage))

    def check_key(self, key_id: str) -> None:
        """Count one request of an authenticated API key; raise 429 when over."""
        if not self.limiter.hit(self.per_key, "key", key_id):
            reset, _ = self._window(self.per_key, "key", key_id)
            raise TooManyRequests("rate limit for this API key exceeded", retry_after=reset)

    def _window(self, item: RateLimitItem, *ids: str) -> tuple[int, int]:
        stats = self.limiter.get_window_stats(item, *ids)
        return max(1, int(stats.reset_time - time.time())), stats.remaining


async def middleware(request: Request, call_next: Callable[[Request], Awaitable[Response]]) -> Response:
    """Per-IP limit on every API request, with RateLimit headers."""
    if not request.url.path.startswith("/api/"):
        return await call_next(request)
    limiter: Limiter = request.app.state.limiter
    ip = client_ip(request)
    allowed = limiter.limiter.hit(limiter.per_ip, "ip", ip)
    reset, remaining = limiter._window(limiter.per_ip, "ip", ip)
    if not allowed:
        response: Response = problem(429, "rate_limited", "Too many requests", "rate limit for this address exceeded", retry_after=reset)
    else:
        response = await call_next(request)
    response.headers["RateLimit-Limit"] = str(limiter.per_ip.amount)
    response.headers["RateLimit-Remaining"] = str(remaining)
    response.headers["RateLimit-Reset"] = str(reset)
    return response
