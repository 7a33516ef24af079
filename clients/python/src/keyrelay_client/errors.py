"""Errors: every failure is a ``KeyRelayError`` carrying the problem+json ``code``, ``status`` and ``detail``.

Switch on ``code`` (stable) rather than on the message. Codes this client does
not know yet still arrive, as the closest class for their HTTP status.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any


class KeyRelayError(Exception):
    """A request that failed. ``status`` is 0 when no HTTP answer arrived."""

    def __init__(
        self,
        detail: str,
        *,
        code: str = "error",
        status: int = 0,
        title: str = "",
        body: Mapping[str, Any] | None = None,
        request_id: str | None = None,
    ) -> None:
        super().__init__(f"{status} {code}: {detail}" if status else f"{code}: {detail}")
        self.detail = detail
        self.code = code
        self.status = status
        self.title = title
        self.body: Mapping[str, Any] = body or {}
        self.request_id = request_id

    @property
    def params(self) -> dict[str, Any]:
        """The problem's parameters, e.g. ``{"available": 3}`` for ``out_of_stock`` (``*_minor`` members are money)."""
        standard = {"type", "title", "status", "detail", "code", "errors", "instance"}
        return {k: v for k, v in self.body.items() if k not in standard}

    @property
    def field_errors(self) -> list[dict[str, str]]:
        """``[{"field": ..., "message": ...}]`` for validation problems."""
        errors = self.body.get("errors")
        return list(errors) if isinstance(errors, list) else []


class TransportError(KeyRelayError):
    """No answer: connection refused, reset, or timed out (after the allowed retries)."""


class AuthenticationError(KeyRelayError):
    """401: unknown or revoked key, bad signature, stale timestamp, replayed nonce."""


class PermissionDenied(KeyRelayError):
    """403: the key lacks the route's scope (``missing_scope``, the problem's ``scope`` names it),
    is bound to another channel (``channel_mismatch``), or the account may not do this (``forbidden``)."""


class NotFoundError(KeyRelayError):
    """404: no such object, or one outside your branch."""


class ConflictError(KeyRelayError):
    """409: the request is valid but the current state refuses it."""


class OutOfStock(ConflictError):
    """409 ``out_of_stock``."""


class InsufficientBalance(ConflictError):
    """409 ``insufficient_balance``: top up the wallet."""


class IdempotencyInProgress(ConflictError):
    """409 ``idempotency_in_progress``: the first request with this key is still running."""


class ValidationError(KeyRelayError):
    """422: invalid input (``field_errors`` says which field)."""


class IdempotencyKeyReused(ValidationError):
    """422 ``idempotency_key_reused``: the same Idempotency-Key was sent with another request."""


class RateLimited(KeyRelayError):
    """429: slow down; ``retry_after`` is in seconds."""

    def __init__(self, detail: str, *, retry_after: float | None = None, **kwargs: Any) -> None:
        super().__init__(detail, **kwargs)
        self.retry_after = retry_after


class ServerError(KeyRelayError):
    """5xx: the server failed; safe requests were already retried."""


class WebhookVerificationError(Exception):
    """An incoming webhook whose signature or timestamp does not verify."""


_BY_CODE: dict[str, type[KeyRelayError]] = {
    "out_of_stock": OutOfStock,
    "insufficient_balance": InsufficientBalance,
    "idempotency_in_progress": IdempotencyInProgress,
    "idempotency_key_reused": IdempotencyKeyReused,
}
_BY_STATUS: dict[int, type[KeyRelayError]] = {
    401: AuthenticationError,
    403: PermissionDenied,
    404: NotFoundError,
    409: ConflictError,
    422: ValidationError,
    429: RateLimited,
}


def error_class(status: int, code: str) -> type[KeyRelayError]:
    if code in _BY_CODE:
        return _BY_CODE[code]
    if status >= 500:
        return ServerError
    return _BY_STATUS.get(status, KeyRelayError)


__all__ = [
    "AuthenticationError",
    "ConflictError",
    "IdempotencyInProgress",
    "IdempotencyKeyReused",
    "InsufficientBalance",
    "KeyRelayError",
    "NotFoundError",
    "OutOfStock",
    "PermissionDenied",
    "RateLimited",
    "ServerError",
    "TransportError",
    "ValidationError",
    "WebhookVerificationError",
    "error_class",
]
