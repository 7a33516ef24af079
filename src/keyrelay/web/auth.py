"""Who is calling: a bearer JWT (API) or the console session cookie (pages)."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from keyrelay.identity.service import Principal, principal_from_token, require_role
from keyrelay.kit.errors import Unauthorized
from keyrelay.web.state import state_of

SESSION_COOKIE = "kr_session"
bearer = HTTPBearer(auto_error=False, description="Console JWT from POST /api/v1/auth/token")


def optional_principal(request: Request, credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(bearer)]) -> Principal | None:
    """The caller if a valid token came with the request, else None (guests)."""
    token = credentials.credentials if credentials else request.cookies.get(SESSION_COOKIE)
    if not token:
        return None
    return principal_from_token(token, secret=state_of(request).jwt_secret)


def principal(who: Annotated[Principal | None, Depends(optional_principal)]) -> Principal:
    if who is None:
        raise Unauthorized("authentication required: send Authorization: Bearer <token>")
    return who


def operator(who: Annotated[Principal, Depends(principal)]) -> Principal:
    return require_role(who, "operator")


def distributor(who: Annotated[Principal, Depends(principal)]) -> Principal:
    return require_role(who, "distributor")


OptionalUser = Annotated[Principal | None, Depends(optional_principal)]
CurrentUser = Annotated[Principal, Depends(principal)]
Operator = Annotated[Principal, Depends(operator)]
DistributorUser = Annotated[Principal, Depends(distributor)]
