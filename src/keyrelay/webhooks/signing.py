"""Standard Webhooks (https://www.standardwebhooks.com) secrets, bodies and signatures.

A secret is ``whsec_`` + base64 of 24 random bytes; the HMAC key is the decoded
bytes. Each request carries ``webhook-id`` (the event's ``msg_…`` id, the same on
every retry), ``webhook-timestamp`` (unix seconds of this attempt) and
``webhook-signature``: ``v1,<base64 HMAC-SHA256(key, "{id}.{timestamp}.{body}")>``,
several space-separated while a rotated-out secret is still honoured.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json
import secrets
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from typing import Any

SECRET_PREFIX = "whsec_"  # noqa: S105 - the public prefix of every secret, not a secret
SECRET_BYTES = 24
TOLERANCE_SECONDS = 300


def new_secret() -> str:
    return SECRET_PREFIX + base64.b64encode(secrets.token_bytes(SECRET_BYTES)).decode("ascii")


def new_event_id() -> str:
    return f"msg_{secrets.token_hex(12)}"


def _key(secret: str) -> bytes:
    if not secret.startswith(SECRET_PREFIX):
        raise ValueError("a webhook secret starts with whsec_")
    try:
        return base64.b64decode(secret.removeprefix(SECRET_PREFIX), validate=True)
    except binascii.Error:
        raise ValueError("a webhook secret is whsec_ followed by base64") from None


def envelope(event_type: str, data: Mapping[str, Any], at: datetime) -> dict[str, Any]:
    """The JSON body of an event: its type, when it happened (ISO 8601, UTC) and its data."""
    stamp = at.astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")
    return {"type": event_type, "timestamp": stamp, "data": dict(data)}


def render(payload: Mapping[str, Any]) -> bytes:
    """The exact body bytes; deterministic, so every retry sends (and signs) the same bytes."""
    return json.dumps(payload, separators=(",", ":"), ensure_ascii=False).encode()


def sign(secret: str, event_id: str, timestamp: int, body: bytes) -> str:
    """One ``v1,<base64>`` signature."""
    digest = hmac.new(_key(secret), f"{event_id}.{timestamp}.".encode() + body, hashlib.sha256).digest()
    return "v1," + base64.b64encode(digest).decode("ascii")


def headers(secrets_in_use: Sequence[str], event_id: str, timestamp: int, body: bytes) -> dict[str, str]:
    """The three Standard Webhooks headers, signed with every secret currently honoured."""
    return {
        "webhook-id": event_id,
        "webhook-timestamp": str(timestamp),
        "webhook-signature": " ".join(sign(s, event_id, timestamp, body) for s in secrets_in_use),
    }


def verify(secret: str, received: Mapping[str, str], body: bytes, *, now: float, tolerance: int = TOLERANCE_SECONDS) -> bool:
    """True if ``received`` headers carry a valid, fresh signature of ``body`` (what a receiver does)."""
    lowered = {k.lower(): v for k, v in received.items()}
    event_id, stamp, signatures = (lowered.get(n, "") for n in ("webhook-id", "webhook-timestamp", "webhook-signature"))
    if not (event_id and stamp.isdigit() and signatures) or abs(now - int(stamp)) > tolerance:
        return False
    expected = sign(secret, event_id, int(stamp), body).encode()
    return any(hmac.compare_digest(expected, candidate.encode()) for candidate in signatures.split())
