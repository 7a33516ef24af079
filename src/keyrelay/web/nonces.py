"""A shared first look at signed requests' nonces: Redis, when configured, for every server process.

The database stays the source of truth (``api_nonces``' unique key, spent in a
transaction, ``web.auth``): this is a cache in front of it. A nonce Redis has
already seen for the key is a replay, refused without a database round trip —
a flood of one captured request then costs each process a Redis call, not a
transaction. A nonce Redis has not seen still goes to the database, which
decides. Asked only after the signature checked out, so a forged request
cannot burn a client's nonce here either.

When Redis fails, the check is skipped (and retried after ``PAUSE_SECONDS``):
the database alone still refuses every replay.
"""

from __future__ import annotations

import time
from typing import Protocol

import redis
import structlog

from keyrelay.identity.api_keys import NONCE_TTL_SECONDS

log = structlog.get_logger(__name__)

PAUSE_SECONDS = 5.0
"""After a Redis error, how long to go straight to the database."""
TIMEOUT_SECONDS = 0.25
"""Redis answers locally in well under a millisecond; a slow one must not hold requests."""


class SeenNonces(Protocol):
    def first_sight(self, key_id: str, nonce: str) -> bool:
        """False: this key's nonce was seen before (a replay). True: not known here; the database decides."""
        ...


class NoSharedNonces:
    """No Redis: every nonce goes to the database."""

    def first_sight(self, key_id: str, nonce: str) -> bool:
        return True


class RedisNonces:
    """``SET kr:nonce:<key>:<nonce> NX EX <ttl>``: the first caller in any process wins, later ones see it."""

    def __init__(self, url: str, *, prefix: str = "kr:nonce:") -> None:
        self._redis = redis.Redis.from_url(url, socket_timeout=TIMEOUT_SECONDS, socket_connect_timeout=TIMEOUT_SECONDS)
        self._prefix = prefix
        self._paused_until = 0.0

    def first_sight(self, key_id: str, nonce: str) -> bool:
        if time.monotonic() < self._paused_until:
            return True
        try:
            created = self._redis.set(f"{self._prefix}{key_id}:{nonce}", b"1", nx=True, ex=NONCE_TTL_SECONDS)
        except redis.RedisError as exc:
            self._paused_until = time.monotonic() + PAUSE_SECONDS
            log.warning("nonce_cache_unavailable", error=type(exc).__name__, pause_seconds=PAUSE_SECONDS)
            return True
        return bool(created)


def shared_nonces(redis_url: str) -> SeenNonces:
    return RedisNonces(redis_url) if redis_url else NoSharedNonces()
