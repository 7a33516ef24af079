"""Typed domain errors with stable codes and parameters; the web edge maps them to HTTP once.

A service raises a ``DomainError``; it never knows about HTTP. Each failure a
domain can report is an ``ErrorCode`` listed in that domain's ``errors``
module: a stable machine ``code`` (the RFC 9457 ``code`` extension integrators
switch on), the error class (which fixes the HTTP status), the English
``detail`` with ``%(param)s`` placeholders, and ``say``, the sentence a person
reads in the consoles (a translatable msgid over the same parameters). Raising
``CODE(field=..., **params)`` fills both; the parameters travel as problem
extension members, and a parameter named ``*_minor`` is money.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any


def N_(message: str) -> str:
    """Mark a sentence for translation; it is translated when a reader's language is known."""
    return message


class DomainError(Exception):
    """Base of all expected, explainable failures."""

    code = "error"
    status = 400
    title = "Request failed"

    say = ""
    """The consoles' wording (a msgid over ``params``); empty: show ``detail``."""

    def __init__(self, detail: str, *, field: str | None = None, code: str | None = None, say: str = "", **extra: Any) -> None:
        super().__init__(detail)
        self.detail = detail
        self.field = field
        if code is not None:
            self.code = code
        if say:
            self.say = say
        self.extra = extra

    @property
    def params(self) -> dict[str, Any]:
        """The machine-readable facts of this failure (e.g. ``{"available": 3}``)."""
        return self.extra


@dataclass(frozen=True)
class ErrorCode:
    """One failure a domain can report, listed once in the domain's ``errors`` module."""

    code: str
    kind: type[DomainError]
    detail: str
    """English, with ``%(param)s`` placeholders: the API's ``detail``."""
    say: str = ""
    """What the consoles show, a msgid over the same parameters (empty: the detail)."""

    def __call__(self, *, field: str | None = None, **params: Any) -> DomainError:
        shown = {k: ", ".join(map(str, v)) if isinstance(v, list | tuple) else v for k, v in params.items()}
        detail = self.detail % shown if "%(" in self.detail else self.detail
        return self.kind(detail, field=field, code=self.code, say=self.say, **params)

    @property
    def status(self) -> int:
        return self.kind.status


_CODES: dict[str, list[ErrorCode]] = {}


def define(code: str, kind: type[DomainError], detail: str, say: str = "") -> ErrorCode:
    """Declare an error code. A code may have several wordings (e.g. ``not_found`` for each
    resource) but always one HTTP status: a second declaration with another class is a bug."""
    spec = ErrorCode(code, kind, detail, say)
    variants = _CODES.setdefault(code, [])
    if variants and variants[0].kind.status != kind.status:
        raise ValueError(f"error code {code!r} is declared with two HTTP statuses")
    if spec not in variants:
        variants.append(spec)
    return spec


def all_codes() -> dict[str, list[ErrorCode]]:
    """Every declared code with its wordings (import the domains' ``errors`` modules first)."""
    return {code: list(specs) for code, specs in _CODES.items()}


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


NOT_FOUND = define("not_found", NotFound, "%(resource)s %(id)s does not exist", N_("Not found."))
"""Missing things share one code; ``resource`` and ``id`` say which."""
BAD_IDEMPOTENCY_KEY = define(
    "invalid_idempotency_key",
    ValidationFailed,
    "Idempotency-Key must be 1–255 printable characters",
    N_("The Idempotency-Key is not valid."),
)
