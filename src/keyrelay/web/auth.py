"""Who is calling: a bearer JWT (API) or the console session cookie (pages)."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Annotated

from fastapi import Depends, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from starlette.concurrency import run_in_threadpool

from keyrelay.identity import api_keys
from keyrelay.identity.service import Principal, get_user, principal_from_token, require_role
from keyrelay.kit.errors import Unauthorized
from keyrelay.web.state import state_of

SESSION_COOKIE = "kr_session"
bearer = HTTPBearer(auto_error=False, description="Console JWT from POST /api/v1/auth/token")


async def optional_principal(
    request: Request, credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(bearer)]
) -> Principal | None:
    """The caller: a signed API-key request, a bearer JWT, the console cookie, or None (guests)."""
    if request.headers.get("x-key-id"):
        body = await request.body()
        return await run_in_threadpool(_signed_principal, request, body)
    token = credentials.credentials if credentials else request.cookies.get(SESSION_COOKIE)
    if not token:
        return None
    return principal_from_token(token, secret=state_of(request).jwt_secret)


def _signed_principal(request: Request, body: bytes) -> Principal:
    st = state_of(request)
    headers = request.headers
    path = request.url.path + (f"?{request.url.query}" if request.url.query else "")
    signed = api_keys.SignedRequest(
        key_id=headers.get("x-key-id", ""),
        timestamp=headers.get("x-timestamp", ""),
        nonce=headers.get("x-nonce", ""),
        signature=headers.get("x-signature", ""),
        method=request.method,
        path_and_query=path,
        body=body,
    )
    with st.db.transaction() as session:
        key = api_keys.verify(session, signed, vault=st.settings.vault, now=time.time())
        request.app.state.limiter.check_key(key.key_id)
        user = get_user(session, key.user_id)
        if not user.is_active:
            raise api_keys.SignatureRejected("key_revoked", "the key's account is disabled")
        return Principal(
            user_id=user.id,
            role=user.role,
            email=user.email,
            scopes=frozenset(key.scopes.split()),
            key_id=key.key_id,
            channel_id=key.channel_id,
        )


def principal(who: Annotated[Principal | None, Depends(optional_principal)]) -> Principal:
    if who is None:
        raise Unauthorized("authentication required: send Authorization: Bearer <token>")
    return who


def operator(request: Request, who: Annotated[Principal, Depends(principal)]) -> Principal:
    return _scoped(request, require_role(who, "operator"))


def distributor(request: Request, who: Annotated[Principal, Depends(principal)]) -> Principal:
    return _scoped(request, require_role(who, "distributor"))


def required_scope(method: str, path: str) -> str:
    """The scope an API key needs for a request: one rule for every endpoint, so none can forget it.

    Webhook management needs ``webhooks:manage``; other reads need
    ``catalog:read``; anything that changes state needs ``orders:write``.
    """
    if "/webhooks" in path:
        return "webhooks:manage"
    return "catalog:read" if method in ("GET", "HEAD") else "orders:write"


def _scoped(request: Request, who: Principal) -> Principal:
    needed = required_scope(request.method, request.url.path)
    if not who.can(needed):
        raise api_keys.ScopeMissing(f"this API key needs the {needed!r} scope")
    return who


OptionalUser = Annotated[Principal | None, Depends(optional_principal)]
CurrentUser = Annotated[Principal, Depends(principal)]
Operator = Annotated[Principal, Depends(operator)]
DistributorUser = Annotated[Principal, Depends(distributor)]


def scope(name: str) -> Callable[[Principal], Principal]:
    """Dependency factory: the caller must be allowed ``name`` (API keys carry scopes)."""

    def check(who: Annotated[Principal, Depends(principal)]) -> Principal:
        if not who.can(name):
            raise api_keys.ScopeMissing(f"this API key needs the {name!r} scope")
        return who

    return check


CatalogReader = Annotated[Principal, Depends(scope("catalog:read"))]
OrderWriter = Annotated[Principal, Depends(scope("orders:write"))]
WebhookManager = Annotated[Principal, Depends(scope("webhooks:manage"))]
