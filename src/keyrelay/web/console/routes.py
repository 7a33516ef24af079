"""Operator console under /admin: sign-in here, the pages in the sibling modules.

Only the login page is built without ``ConsoleRoute``; everything else requires
an operator session and, for POSTs, the session's CSRF token.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Form, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from keyrelay.identity import service as identity
from keyrelay.kit.errors import Unauthorized
from keyrelay.web.console import categories, dashboard, keys, orders, people, products, records
from keyrelay.web.console.guard import ConsoleRoute
from keyrelay.web.console.session import LOGIN_PATH, clear_session_cookie, safe_next, set_session_cookie
from keyrelay.web.pages import render
from keyrelay.web.state import client_ip, state_of

MAX_EMAIL, MAX_PASSWORD = 254, 1024
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
    st = state_of(request)
    next_path = safe_next(next)
    wait = st.lookup_throttle.hit(f"login:{client_ip(request)}")
    if wait:
        return _login_page(request, next_path=next_path, email=email, error="rate_limited", status_code=429, retry_after=wait)
    try:
        if len(email) > MAX_EMAIL or len(password) > MAX_PASSWORD:
            raise Unauthorized("wrong e-mail or password")  # do not spend argon2 time on megabyte inputs
        with st.db.transaction(write=False) as session:
            user = identity.authenticate(session, email=email, password=password)
    except Unauthorized:
        return _login_page(request, next_path=next_path, email=email, error="unauthorized", status_code=401)
    if user.role != "operator":
        return _login_page(request, next_path=next_path, email=email, error="not_operator", status_code=403)
    token = identity.issue_token(user, secret=st.jwt_secret, ttl_seconds=st.settings.jwt_ttl_seconds)
    response = RedirectResponse(next_path, status_code=303)
    set_session_cookie(response, request, token)
    return response


@signed_in.post("/logout")
def logout(request: Request) -> Response:
    response = RedirectResponse(LOGIN_PATH, status_code=303)
    clear_session_cookie(response)
    return response


router = APIRouter(include_in_schema=False)
for part in (public, signed_in, *(module.router for module in (dashboard, categories, products, keys, orders, people, records))):
    router.include_router(part, prefix="/admin")
