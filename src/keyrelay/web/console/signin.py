"""Signing in to a console area: one password check for the operator and distributor consoles."""

from __future__ import annotations

from typing import Protocol

from fastapi import Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from keyrelay.identity import errors as identity_errors
from keyrelay.identity import service as identity
from keyrelay.kit.errors import Unauthorized
from keyrelay.web.console.session import Area, safe_next, set_session_cookie
from keyrelay.web.state import client_ip, state_of

MAX_EMAIL, MAX_PASSWORD = 254, 1024


class LoginPage(Protocol):
    """Renders an area's sign-in form again, with a problem code and the status to answer with."""

    def __call__(
        self, request: Request, *, next_path: str, email: str = "", error: str = "", status_code: int = 200, **extra: int
    ) -> HTMLResponse: ...


def sign_in(request: Request, area: Area, login_page: LoginPage, *, email: str, password: str, next_path: str) -> Response:
    """Check the password (throttled per IP), then hand the browser an HttpOnly session cookie."""
    st = state_of(request)
    next_path = safe_next(next_path, area)
    wait = st.lookup_throttle.hit(f"login:{client_ip(request)}")
    if wait:
        return login_page(request, next_path=next_path, email=email, error="rate_limited", status_code=429, retry_after=wait)
    try:
        if len(email) > MAX_EMAIL or len(password) > MAX_PASSWORD:
            raise identity_errors.WRONG_CREDENTIALS()  # do not spend argon2 time on megabyte inputs
        with st.db.transaction(write=False) as session:
            user = identity.authenticate(session, email=email, password=password)
    except Unauthorized:
        return login_page(request, next_path=next_path, email=email, error="unauthorized", status_code=401)
    if user.role != area.role:
        return login_page(request, next_path=next_path, email=email, error=area.wrong_role, status_code=403)
    token = identity.issue_token(user, secret=st.jwt_secret, ttl_seconds=st.settings.jwt_ttl_seconds)
    response = RedirectResponse(next_path, status_code=303)
    set_session_cookie(response, request, token)
    return response
