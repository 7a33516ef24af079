"""What the sync and async clients share: calls, signing of a built request, the retry policy, errors."""

from __future__ import annotations

import json
import random
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime
from email.utils import parsedate_to_datetime
from typing import Any, Generic, TypeVar

import httpx

from keyrelay_client import errors
from keyrelay_client.signing import signed_headers

USER_AGENT = "keyrelay-client-python/0.1"

T = TypeVar("T")
API = "/api/v1"
#: Methods that may be repeated without changing the outcome (RFC 9110 §9.2.2). POST and PATCH are
#: retried only with an Idempotency-Key, which makes the server answer a repeat with the first answer.
IDEMPOTENT_METHODS = frozenset({"GET", "HEAD", "PUT", "DELETE", "OPTIONS"})
RETRY_STATUSES = frozenset({500, 502, 503, 504})
_SEGMENT = re.compile(r"^[A-Za-z0-9._~-]{1,200}$")


def segment(value: object) -> str:
    """A path parameter. Only unreserved characters, so the path signed is the path the server sees."""
    text = str(value)
    if not _SEGMENT.match(text):
        raise ValueError(f"not a valid identifier: {text!r}")
    return text


def query(**params: Any) -> dict[str, str]:
    """Query parameters without the unset ones; datetimes as ISO 8601, booleans as true/false."""
    out: dict[str, str] = {}
    for name, value in params.items():
        if value is None:
            continue
        if isinstance(value, bool):
            out[name] = "true" if value else "false"
        elif isinstance(value, datetime):
            out[name] = value.isoformat()
        else:
            out[name] = str(value)
    return out


@dataclass(frozen=True)
class Call(Generic[T]):
    """One API operation, ready to send (and re-send: the body and idempotency key never change)."""

    method: str
    path: str
    parse: Callable[[httpx.Response], T]
    params: Mapping[str, str] | None = None
    body: bytes = b""
    idempotency_key: str | None = None
    repeatable: bool = False
    """Safe to repeat even though the method is not (a PATCH that sets fields to values)."""

    @property
    def retryable(self) -> bool:
        return self.method in IDEMPOTENT_METHODS or self.idempotency_key is not None or self.repeatable


def json_body(payload: Mapping[str, Any]) -> bytes:
    """Compact JSON without the unset fields; these exact bytes are hashed into the signature."""
    return json.dumps({k: v for k, v in payload.items() if v is not None}, separators=(",", ":")).encode()


def sign(request: httpx.Request, key_id: str, secret: str) -> None:
    """Sign the request as it will go on the wire: raw path and query, body bytes; fresh nonce and time."""
    body = request.content
    request.headers.update(signed_headers(key_id, secret, request.method, request.url.raw_path.decode("ascii"), body))


def build_headers(call: Call[Any]) -> dict[str, str]:
    headers = {"Accept": "application/json"}
    if call.body:
        headers["Content-Type"] = "application/json"
    if call.idempotency_key is not None:
        headers["Idempotency-Key"] = call.idempotency_key
    return headers


@dataclass(frozen=True)
class RetryPolicy:
    """When and how long to wait before sending a call again.

    Retried: connection failures and timeouts, 429 (after ``Retry-After``), 500/502/503/504,
    and 409 ``idempotency_in_progress`` — but only for calls that are safe to repeat
    (``Call.retryable``). Waits grow exponentially with jitter up to ``max_backoff``.
    """

    max_retries: int = 3
    base_backoff: float = 0.25
    max_backoff: float = 8.0
    max_retry_after: float = 60.0
    """A ``Retry-After`` longer than this is not waited for: the error is raised instead."""

    def backoff(self, attempt: int) -> float:
        ceiling = min(self.max_backoff, self.base_backoff * 2**attempt)
        return random.uniform(ceiling / 2, ceiling)  # noqa: S311 - jitter, not cryptography

    def after_exception(self, call: Call[Any], attempt: int) -> float | None:
        if attempt >= self.max_retries or not call.retryable:
            return None
        return self.backoff(attempt)

    def after_response(self, call: Call[Any], attempt: int, response: httpx.Response) -> float | None:
        if attempt >= self.max_retries or not call.retryable:
            return None
        status = response.status_code
        if status == 429:
            wait = retry_after(response)
            if wait is None:
                return self.backoff(attempt)
            return wait if wait <= self.max_retry_after else None
        if status in RETRY_STATUSES:
            return retry_after(response) or self.backoff(attempt)
        if status == 409 and problem(response).get("code") == "idempotency_in_progress":
            return self.backoff(attempt)
        return None


def retry_after(response: httpx.Response) -> float | None:
    """``Retry-After`` in seconds (delta-seconds or an HTTP date), if present and sane."""
    value = response.headers.get("retry-after", "").strip()
    if not value:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    date = response.headers.get("date")
    base = parsedate_to_datetime(date) if date else None
    return max(0.0, (when - base).total_seconds()) if base else None


def problem(response: httpx.Response) -> dict[str, Any]:
    try:
        body = response.json()
    except ValueError:
        return {}
    return body if isinstance(body, dict) else {}


def error_from(response: httpx.Response) -> errors.KeyRelayError:
    """The ``KeyRelayError`` subclass for a problem+json answer (or any other failed answer)."""
    body = problem(response)
    status = response.status_code
    code = str(body.get("code") or ("server_error" if status >= 500 else "http_error"))
    detail = str(body.get("detail") or response.text[:500] or response.reason_phrase)
    kwargs: dict[str, Any] = {
        "code": code,
        "status": status,
        "title": str(body.get("title", "")),
        "body": body,
        "request_id": response.headers.get("x-request-id"),
    }
    cls = errors.error_class(status, code)
    if issubclass(cls, errors.RateLimited):
        return cls(detail, retry_after=retry_after(response), **kwargs)
    return cls(detail, **kwargs)


def transport_error(exc: httpx.TransportError, call: Call[Any]) -> errors.TransportError:
    return errors.TransportError(f"{call.method} {call.path}: {exc!r}", code="transport_error")


def check(response: httpx.Response) -> httpx.Response:
    if response.is_success:
        return response
    raise error_from(response)


__all__ = ["API", "Call", "RetryPolicy", "build_headers", "check", "error_from", "json_body", "query", "segment", "sign"]
