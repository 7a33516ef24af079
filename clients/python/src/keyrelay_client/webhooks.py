"""Verify incoming webhooks (Standard Webhooks, https://www.standardwebhooks.com) without dependencies.

A delivery carries ``webhook-id``, ``webhook-timestamp`` (unix seconds) and
``webhook-signature``: space-separated ``v1,<base64 HMAC-SHA256>`` entries over
``{id}.{timestamp}.{body}``, keyed with the base64 part of the ``whsec_`` secret.
Several entries appear while a secret is being rotated; one match is enough.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json
import time
from collections.abc import Mapping
from typing import Any

from keyrelay_client.errors import WebhookVerificationError

PREFIX = "whsec_"


def _key(secret: str) -> bytes:
    raw = secret.removeprefix(PREFIX)
    try:
        return base64.b64decode(raw, validate=True)
    except (binascii.Error, ValueError) as exc:
        raise ValueError("webhook secret must be whsec_ followed by base64") from exc


def sign_webhook(secret: str, msg_id: str, timestamp: int, body: bytes | str) -> str:
    """The ``webhook-signature`` value for one delivery (useful to test your receiver)."""
    payload = body.encode() if isinstance(body, str) else body
    digest = hmac.new(_key(secret), f"{msg_id}.{timestamp}.".encode() + payload, hashlib.sha256).digest()
    return "v1," + base64.b64encode(digest).decode()


def verify_webhook(secret: str, headers: Mapping[str, str], body: bytes | str, tolerance: int = 300, *, now: float | None = None) -> Any:
    """Check the signature and the timestamp; return the parsed JSON payload.

    ``body`` must be the raw request body, before any JSON parsing. Raises
    ``WebhookVerificationError`` when a header is missing, the timestamp is more
    than ``tolerance`` seconds away from now (either way), or no ``v1``
    signature matches. De-duplicate on ``webhook-id``: delivery is at-least-once.
    """
    lower = {k.lower(): v for k, v in headers.items()}
    msg_id, stamp, signatures = (lower.get(h, "") for h in ("webhook-id", "webhook-timestamp", "webhook-signature"))
    if not (msg_id and stamp and signatures):
        raise WebhookVerificationError("missing webhook-id, webhook-timestamp or webhook-signature header")
    try:
        timestamp = int(stamp)
    except ValueError as exc:
        raise WebhookVerificationError("webhook-timestamp is not an integer") from exc
    current = time.time() if now is None else now
    if abs(current - timestamp) > tolerance:
        raise WebhookVerificationError("webhook-timestamp is outside the tolerance (replayed or clock skew)")
    payload = body.encode() if isinstance(body, str) else body
    expected = sign_webhook(secret, msg_id, timestamp, payload).encode()
    for candidate in signatures.split():
        version, _, _ = candidate.partition(",")
        if version == "v1" and hmac.compare_digest(candidate.encode(), expected):
            return json.loads(payload) if payload else None
    raise WebhookVerificationError("no matching v1 signature")


__all__ = ["sign_webhook", "verify_webhook"]
