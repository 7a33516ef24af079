"""Map errors to RFC 9457 problem+json for the API and to readable pages for browsers."""

from __future__ import annotations

from typing import Any

import structlog
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response
from starlette.exceptions import HTTPException as StarletteHTTPException

from keyrelay.kit.errors import DomainError, TooManyRequests

log = structlog.get_logger(__name__)
PROBLEM = "application/problem+json"


def problem(status: int, code: str, title: str, detail: str, **extra: Any) -> JSONResponse:
    body = _body(status, code, title, detail, **extra)
    headers = {"Retry-After": str(extra["retry_after"])} if "retry_after" in extra else None
    return JSONResponse(body, status_code=status, media_type=PROBLEM, headers=headers)


def _body(status: int, code: str, title: str, detail: str, **extra: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "type": f"https://keyrelay.dev/problems/{code}",
        "title": title,
        "status": status,
        "detail": detail,
        "code": code,
    }
    body.update({k: v for k, v in extra.items() if v is not None})
    return body


def domain_extra(exc: DomainError) -> dict[str, Any]:
    extra: dict[str, Any] = dict(exc.extra)
    if isinstance(exc, TooManyRequests):
        extra["retry_after"] = exc.retry_after
    if exc.field:
        extra["errors"] = [{"field": exc.field, "message": exc.detail}]
    return extra


def problem_body(exc: DomainError) -> dict[str, Any]:
    """The problem+json document for a domain error (also stored for idempotent replays)."""
    return _body(exc.status, exc.code, exc.title, exc.detail, **domain_extra(exc))


def wants_html(request: Request) -> bool:
    return not request.url.path.startswith("/api/") and "text/html" in request.headers.get("accept", "")


async def on_domain_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, DomainError)
    extra = domain_extra(exc)
    if wants_html(request):
        from keyrelay.web.pages import render_error

        return render_error(request, exc.status, exc.title, exc.detail, code=exc.code)
    return problem(exc.status, exc.code, exc.title, exc.detail, **extra)


async def on_validation_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, RequestValidationError)
    errors = [
        {"field": ".".join(str(p) for p in err["loc"] if p not in ("body", "query", "path")) or "body", "message": err["msg"]}
        for err in exc.errors()
    ]
    detail = "; ".join(f"{e['field']}: {e['message']}" for e in errors[:5])
    return problem(422, "validation_failed", "Invalid input", detail, errors=errors)


async def on_http_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, StarletteHTTPException)
    code = {404: "not_found", 405: "method_not_allowed", 401: "unauthorized", 403: "forbidden"}.get(exc.status_code, "http_error")
    if wants_html(request):
        from keyrelay.web.pages import render_error

        return render_error(request, exc.status_code, str(exc.detail), "", code=code)
    return problem(exc.status_code, code, str(exc.detail), str(exc.detail))


async def on_overflow(request: Request, exc: Exception) -> Response:
    """A number too large for the database (SQLite binds at most 64-bit integers): the input is out of range, not a crash."""
    log.warning("number_out_of_range", path=request.url.path, error=str(exc))
    return problem(422, "validation_failed", "Invalid input", "a number in the request is out of range")


async def on_unexpected(request: Request, exc: Exception) -> Response:
    log.error("unhandled_error", path=request.url.path, exc_info=exc)
    return problem(500, "internal_error", "Internal error", "something went wrong on our side; it has been logged")


def install(app: FastAPI) -> None:
    """Map every error to problem+json, and say so in the OpenAPI document."""
    from keyrelay.web import openapi

    app.add_exception_handler(DomainError, on_domain_error)
    app.add_exception_handler(RequestValidationError, on_validation_error)
    app.add_exception_handler(StarletteHTTPException, on_http_error)
    app.add_exception_handler(OverflowError, on_overflow)
    app.add_exception_handler(Exception, on_unexpected)
    openapi.install(app)
