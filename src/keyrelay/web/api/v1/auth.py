"""Sign-in for consoles and API users: short-lived JWTs."""

from __future__ import annotations

from fastapi import APIRouter, Request

from keyrelay.identity import service as identity
from keyrelay.web.api.v1.schemas import RegisterIn, TokenIn, TokenOut, UserOut
from keyrelay.web.auth import GuardedRoute, Reader
from keyrelay.web.state import client_ip, state_of
from keyrelay.web.uow import ReadSession, WriteSession

router = APIRouter(prefix="/auth", tags=["auth"], route_class=GuardedRoute)


@router.post("/token", response_model=TokenOut)
def issue_token(body: TokenIn, request: Request) -> TokenOut:
    """Exchange e-mail and password for a bearer token (``expires_in`` seconds)."""
    st = state_of(request)
    if wait := st.lookup_throttle.hit(f"login:{client_ip(request)}"):
        from keyrelay.kit.errors import TooManyRequests

        raise TooManyRequests("too many sign-in attempts; wait and retry", retry_after=wait)
    with st.db.transaction(write=False) as session:
        user = identity.authenticate(session, email=body.email, password=body.password)
        token = identity.issue_token(user, secret=st.jwt_secret, ttl_seconds=st.settings.jwt_ttl_seconds)
    return TokenOut(access_token=token, expires_in=st.settings.jwt_ttl_seconds)


@router.post("/register", response_model=UserOut, status_code=201)
def register(body: RegisterIn, session: WriteSession) -> UserOut:
    """Create a buyer account (buyers may also check out as guests)."""
    user = identity.create_user(session, email=body.email, password=body.password, role="buyer")
    return UserOut(id=user.id, email=user.email, role=user.role, display_name=user.display_name)


@router.get("/me", response_model=UserOut)
def me(who: Reader, session: ReadSession) -> UserOut:
    """The signed-in user (or the API key's owner): id, e-mail, role."""
    user = identity.get_user(session, who.user_id)
    return UserOut(id=user.id, email=user.email, role=user.role, display_name=user.display_name)
