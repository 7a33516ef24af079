"""Rendering console pages: the shared context (operator, CSRF token) and the error pages."""

from __future__ import annotations

from typing import Any

from fastapi import Request
from fastapi.responses import HTMLResponse

from keyrelay.kit.errors import DomainError
from keyrelay.web.console.session import ConsoleSession, csrf_token
from keyrelay.web.pages import render
from keyrelay.web.state import state_of

NO_STORE = {"Cache-Control": "no-store"}
"""For pages showing a decrypted secret: the browser must not keep a copy on disk."""


def page(request: Request, template: str, *, status_code: int = 200, secret: bool = False, **context: Any) -> HTMLResponse:
    """Render a console template; every form on it gets this session's CSRF token."""
    console: ConsoleSession | None = getattr(request.state, "console", None)
    context.setdefault("section", "")
    response = render(
        request,
        template,
        status_code=status_code,
        me=console.user if console else None,
        csrf=csrf_token(state_of(request).jwt_secret, console.token) if console else "",
        **context,
    )
    if secret:
        response.headers.update(NO_STORE)
    return response


def render_forbidden(request: Request, reason: str, *, template: str = "console/error.html") -> HTMLResponse:
    """403 with a reason the template explains: ``csrf`` (stale or forged form) or the area's wrong-role code."""
    return page(request, template, status_code=403, code=reason, detail="")


def render_console_error(request: Request, exc: DomainError, *, template: str = "console/error.html") -> HTMLResponse:
    """A domain error as a console page (the template words common codes in the user's language)."""
    return page(request, template, status_code=exc.status, code=exc.code, detail=exc.detail)
