"""Typed domain errors with stable codes; the web edge maps them to HTTP once.

A service raises ``DomainError`` subclasses; it never knows about HTTP. The
``status`` attribute is a hint for the API adapter, and ``code`` is the stable
machine-readable value integrators switch on (RFC 9457 ``code`` extension).
"""

from __future__ import annotations

from typing import Any


class DomainError(Exception):
    """Base of all expected, explainable failures."""

    code = "error"
    status = 400
    title = "Request failed"

    def __init__(self, detail: str, *, field: str | None = None, **extra: Any) -> None:
        super().__init__(detail)
        self.detail = detail
        self.field = field
        self.extra = extra


class NotFound(DomainError):
    code, status, title = "not_found", 404, "Not found"


class ValidationFailed(DomainError):
    code, status, title = "validation_failed", 422, "Invalid input"


class Conflict(DomainError):
    code, status, title = "conflict", 409, "Conflict"


class OutOfStock(Conflict):
    code, title = "out_of_stock", "Not enough stock"


class IllegalTransition(Conflict):
    code, title = "illegal_transition", "Not allowed in the current state"


class Unauthorized(DomainError):
    code, status, title = "unauthorized", 401, "Authentication required"


class Forbidden(DomainError):
    code, status, title = "forbidden", 403, "Not allowed"


class InsufficientBalance(Conflict):
    code, title = "insufficient_balance", "Balance too low"


class TooManyRequests(DomainError):
    code, status, title = "rate_limited", 429, "Too many requests"

    def __init__(self, detail: str, *, retry_after: int) -> None:
        super().__init__(detail)
        self.retry_after = retry_after
