"""Console sessions: the JWT cookie, its sliding refresh and the CSRF token bound to it."""

from __future__ import annotations

import hashlib
import hmac
from dataclasses import dataclass
from urllib.parse import quote

import jwt
from fastapi import Request, Response
from fastapi.responses import RedirectResponse

from keyrelay.identity import service as identity
from keyrelay.identity.service import Principal
from keyrelay.kit.clock import utcnow
from keyrelay.kit.errors import NotFound, Unauthorized
from keyrelay.web.auth import SESSION_COOKIE
from keyrelay.web.state import state_of


@dataclass(frozen=True)
class Area:
    """One signed-in part of the site: the single role it admits and where its pages live.

    The operator console and the distributor console share the cookie, the
    CSRF binding and the sliding refresh; only these facts differ.
    """

    role: str
    home_path: str
    login_path: str
    error_template: str
    wrong_role: str
    """Code of the 403 page for someone signed in with another role."""


OPERATOR_AREA = Area("operator", "/admin", "/admin/login", "console/error.html", "not_operator")
LOGIN_PATH = OPERATOR_AREA.login_path
HOME_PATH = OPERATOR_AREA.home_path


class LoginRequired(Exception):
    """No usable session: send the browser to the login page."""


class WrongRole(Exception):
    """Signed in, but with a role this area does not admit."""


@dataclass(frozen=True)
class ConsoleSession:
    """The signed-in user of this request and the token their pages must carry."""

    user: Principal
    token: str
    sent_token: str
    """The token the browser sent: this request's forms were signed with it."""

    @property
    def refreshed(self) -> bool:
        """True when ``token`` was re-issued in this request and must go back as the cookie."""
        return self.token != self.sent_token


def csrf_token(secret: bytes, session_token: str) -> str:
    """The form token bound to one session: a page from another site cannot know it."""
    return hmac.new(secret, session_token.encode(), hashlib.sha256).hexdigest()[:32]


def safe_next(path: str | None, area: Area = OPERATOR_AREA) -> str:
    """Where to go after login: only a path on this site, never ``//host`` or ``https://...``."""
    if not path or not path.startswith("/") or path.startswith("//") or "\\" in path or any(ord(c) < 32 for c in path):
        return area.home_path
    return area.home_path if path.startswith(area.login_path) else path  # never back to the login form itself


def login_redirect(request: Request, area: Area = OPERATOR_AREA) -> RedirectResponse:
    """Back to the login page, remembering the page asked for (GET only: a POST cannot be replayed)."""
    target = request.url.path + (f"?{request.url.query}" if request.url.query else "")
    next_path = safe_next(target, area) if request.method == "GET" else area.home_path
    return RedirectResponse(f"{area.login_path}?next={quote(next_path, safe='')}", status_code=303)


def set_session_cookie(response: Response, request: Request, token: str) -> None:
    """HttpOnly and SameSite=Strict: scripts cannot read it and other sites cannot send it."""
    response.set_cookie(
        SESSION_COOKIE,
        token,
        max_age=state_of(request).settings.jwt_ttl_seconds,
        httponly=True,
        samesite="strict",
        secure=request.url.scheme == "https",
        path="/",
    )


def refresh_cookie(response: Response, request: Request, console: ConsoleSession) -> Response:
    """Send a re-issued token back so a working operator is never logged out mid-task."""
    if console.refreshed:
        set_session_cookie(response, request, console.token)
    return response


def clear_session_cookie(response: Response) -> None:
    response.delete_cookie(SESSION_COOKIE, path="/", httponly=True, samesite="strict")


def open_session(request: Request, area: Area = OPERATOR_AREA) -> ConsoleSession:
    """Check the cookie and the account behind it; re-issue the token past half its lifetime.

    The account is read on every request so a deactivated or demoted user
    loses the console at once instead of when their token expires.
    """
    st = state_of(request)
    token = request.cookies.get(SESSION_COOKIE)
    if not token:
        raise LoginRequired
    try:
        claimed = identity.principal_from_token(token, secret=st.jwt_secret)
    except Unauthorized as exc:
        raise LoginRequired from exc
    with st.db.transaction(write=False) as session:
        try:
            user = identity.get_user(session, claimed.user_id)
        except NotFound as exc:
            raise LoginRequired from exc
        if not user.is_active:
            raise LoginRequired
        if user.role != area.role:
            raise WrongRole
        principal = Principal(user_id=user.id, role=user.role, email=user.email)
        # The signature was verified just above; this second read only fetches the expiry.
        expires = int(jwt.decode(token, options={"verify_signature": False})["exp"])
        ttl = st.settings.jwt_ttl_seconds
        if expires - utcnow().timestamp() < ttl / 2:
            return ConsoleSession(principal, identity.issue_token(user, secret=st.jwt_secret, ttl_seconds=ttl), sent_token=token)
    return ConsoleSession(principal, token, sent_token=token)


def current(request: Request) -> ConsoleSession:
    """The session ``ConsoleRoute`` attached to this request."""
    found: ConsoleSession = request.state.console
    return found


def signed_in(request: Request) -> Principal:
    """The signed-in user (of the role the page's area admits)."""
    return current(request).user


def operator(request: Request) -> Principal:
    """Dependency: the signed-in operator."""
    return current(request).user
