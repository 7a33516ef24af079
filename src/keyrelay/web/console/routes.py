"""Operator console under /admin: sign-in here, the pages in the sibling modules.

Only the login page is built without ``ConsoleRoute``; everything else requires
an operator session and, for POSTs, the session's CSRF token.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Form, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from keyrelay.web.console import categories, dashboard, keys, money, network, orders, people, products, records
from keyrelay.web.console.guard import ConsoleRoute
from keyrelay.web.console.session import LOGIN_PATH, OPERATOR_AREA, clear_session_cookie, safe_next
from keyrelay.web.console.signin import sign_in
from keyrelay.web.pages import render

public = APIRouter()
signed_in = APIRouter(route_class=ConsoleRoute)


def _login_page(
    request: Request, *, next_path: str, email: str = "", error: str = "", status_code: int = 200, **extra: int
) -> HTMLResponse:
    return render(
        request, "console/login.html", status_code=status_code, next_path=next_path, email=email, error=error, me=None, csrf="", **extra
    )


@public.get("/login", response_class=HTMLResponse)
def login_form(request: Request, next: str = "") -> HTMLResponse:
    return _login_page(request, next_path=safe_next(next))


@public.post("/login")
def login(
    request: Request,
    email: Annotated[str, Form()] = "",
    password: Annotated[str, Form()] = "",
    next: Annotated[str, Form()] = "",
) -> Response:
    """Check the password (throttled per IP), then hand the browser an HttpOnly session cookie."""
    return sign_in(request, OPERATOR_AREA, _login_page, email=email, password=password, next_path=next)


@signed_in.post("/logout")
def logout(request: Request) -> Response:
    response = RedirectResponse(LOGIN_PATH, status_code=303)
    clear_session_cookie(response)
    return response


PAGES = (dashboard, categories, products, keys, orders, people, records, network, money)
router = APIRouter(include_in_schema=False)
for part in (public, signed_in, *(module.router for module in PAGES)):
    router.include_router(part, prefix="/admin")
