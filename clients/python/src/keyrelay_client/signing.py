"""Request signing, byte for byte as the server verifies it.

The signed string is five lines::

    METHOD
    PATH?QUERY          (no "?" when there is no query)
    TIMESTAMP           (unix seconds)
    NONCE               (fresh per request)
    hex(sha256(BODY))

and ``X-Signature`` is the lowercase hex HMAC-SHA256 of it keyed with the secret.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
import time


def canonical_request(method: str, path_and_query: str, timestamp: str, nonce: str, body: bytes) -> bytes:
    """The exact bytes that are signed."""
    digest = hashlib.sha256(body).hexdigest()
    return f"{method.upper()}\n{path_and_query}\n{timestamp}\n{nonce}\n{digest}".encode()


def signature(secret: str, message: bytes) -> str:
    return hmac.new(secret.encode(), message, hashlib.sha256).hexdigest()


def new_nonce() -> str:
    """128 random bits as 32 hex characters (the server accepts 8–64 printable characters)."""
    return secrets.token_hex(16)


def signed_headers(
    key_id: str,
    secret: str,
    method: str,
    path_and_query: str,
    body: bytes = b"",
    *,
    timestamp: int | None = None,
    nonce: str | None = None,
) -> dict[str, str]:
    """The four authentication headers for one request (a new nonce each call unless given)."""
    ts = str(int(time.time()) if timestamp is None else timestamp)
    nonce = nonce or new_nonce()
    return {
        "X-Key-Id": key_id,
        "X-Timestamp": ts,
        "X-Nonce": nonce,
        "X-Signature": signature(secret, canonical_request(method, path_and_query, ts, nonce, body)),
    }


__all__ = ["canonical_request", "new_nonce", "signature", "signed_headers"]
