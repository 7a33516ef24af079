"""Who is calling and what they may do: a signed API-key request, a bearer JWT or the console cookie.

Every ``/api/v1`` route that takes a caller declares what it needs with a
``Guard`` (the aliases below): a role and the one scope an API key must carry,
or "console sessions only". Nothing is inferred from the URL or the method.
Console sessions are limited by their role alone (``Principal.can``).

``GuardedRoute`` runs the route's guards before FastAPI reads the body, so a
body changed under a valid signature is ``401 bad_signature`` and a key
without the scope is ``403 missing_scope`` — never a 422 about the JSON it sent.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Coroutine
from dataclasses import dataclass
from typing import Annotated, Any, TypeVar

from fastapi import Depends, Request, Response
from fastapi.dependencies.models import Dependant
from fastapi.routing import APIRoute
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from fastapi.security.utils import get_authorization_scheme_param
from sqlalchemy.orm import Session
from starlette.concurrency import run_in_threadpool

from keyrelay.identity import api_keys
from keyrelay.identity import errors as identity_errors
from keyrelay.identity.scopes import Scope
from keyrelay.identity.service import Principal, principal_from_token, require_role
from keyrelay.web.state import state_of

SESSION_COOKIE = "kr_session"
bearer = HTTPBearer(auto_error=False, description="Console JWT from POST /api/v1/auth/token")
_RESOLVED = "keyrelay_principal"
"""``request.state`` attribute holding the resolved caller: a signed request's nonce may be spent only once."""
Endpoint = TypeVar("Endpoint", bound=Callable[..., Any])


async def caller(request: Request, *, defer_nonce: bool = False) -> Principal | None:
    """The caller, resolved once per request: a signed API-key request, a bearer JWT, the console cookie, or None.

    ``defer_nonce`` (routes marked ``spends_nonce_in_work``): a signed request
    whose key this process knows is checked without the database, and its
    nonce is left for the route's own transaction to spend (``PendingNonce``).
    """
    if hasattr(request.state, _RESOLVED):
        resolved: Principal | None = getattr(request.state, _RESOLVED)
        return resolved
    who = await _resolve(request, defer_nonce)
    setattr(request.state, _RESOLVED, who)
    return who


async def _resolve(request: Request, defer_nonce: bool) -> Principal | None:
    if request.headers.get("x-key-id"):
        body = await request.body()
        signed = _signed_request(request, body)
        if defer_nonce:
            deferred = _from_known_key(request, signed)
            if deferred is not None:
                return deferred
        return await run_in_threadpool(_signed_principal, request, signed)
    scheme, token = get_authorization_scheme_param(request.headers.get("authorization"))
    if scheme.lower() != "bearer" or not token:
        token = request.cookies.get(SESSION_COOKIE, "")
    if not token:
        return None
    return principal_from_token(token, secret=state_of(request).jwt_secret)


def _signed_request(request: Request, body: bytes) -> api_keys.SignedRequest:
    headers = request.headers
    path = request.url.path + (f"?{request.url.query}" if request.url.query else "")
    return api_keys.SignedRequest(
        key_id=headers.get("x-key-id", ""),
        timestamp=headers.get("x-timestamp", ""),
        nonce=headers.get("x-nonce", ""),
        signature=headers.get("x-signature", ""),
        method=request.method,
        path_and_query=path,
        body=body,
    )


def _signed_principal(request: Request, signed: api_keys.SignedRequest) -> Principal:
    """Verify a signed request and spend its nonce, in a transaction of its own, committed before the route runs.

    Not in the request's unit of work, on purpose: the nonce must stay spent
    when the work fails. Were the claim rolled back with a refused request (a
    payout refused for want of money, say), the captured request could be
    replayed within the 300 s window — after a top-up, successfully. The route's
    unit of work is often a read (a plain ``BEGIN`` on SQLite, which must not
    write), and the caller is resolved before the body is read (``GuardedRoute``),
    before any unit of work exists. Routes marked ``spends_nonce_in_work`` spend
    it in their own transaction instead, once this process knows the key (the
    key is remembered here for that).
    """
    st = state_of(request)
    now = time.time()
    with st.db.transaction() as session:
        known = api_keys.verify_known(session, signed, vault=st.settings.vault, now=now)
        request.app.state.limiter.check_key(known.key_id)
        if not known.active:
            raise identity_errors.KEY_REVOKED(why="the key's account is disabled")
    st.known_keys.put(known, now=now)
    st.seen_nonces.first_sight(known.key_id, signed.nonce)  # spent: tell the other processes too
    return _principal(known)


def _from_known_key(request: Request, signed: api_keys.SignedRequest) -> Principal | None:
    """A signed request of a key this process knows: its signature checked here, its nonce left to the work's transaction."""
    st = state_of(request)
    now = time.time()
    known = st.known_keys.get(signed.key_id, now=now)
    if known is None:
        return None
    api_keys.check_signature(signed, known.secret, now=now)
    if not st.seen_nonces.first_sight(known.key_id, signed.nonce):  # a replay some process has seen: no database needed
        raise identity_errors.REPLAYED_NONCE()
    request.app.state.limiter.check_key(known.key_id)
    request.state.keyrelay_nonce = PendingNonce(known.key_id, signed.nonce, int(signed.timestamp))
    return _principal(known)


def _principal(known: api_keys.KnownKey) -> Principal:
    return Principal(
        user_id=known.user_id,
        role=known.role,
        email=known.email,
        scopes=frozenset(known.scopes.split()),
        key_id=known.key_id,
        channel_id=known.channel_id,
    )


@dataclass
class PendingNonce:
    """A signed request's nonce not yet spent: the route's transaction spends it with the work (or ``GuardedRoute`` after)."""

    key_id: str
    nonce: str
    ts: int
    spent: bool = False
    refused: bool = False
    """The key (revoked, disabled) or the nonce (a replay) was refused: there is nothing left to spend."""

    def spend(self, session: Session, known_keys: api_keys.KeyCache) -> None:
        """Re-check the key (revoked? account disabled?) and spend the nonce, in ``session``'s transaction."""
        try:
            api_keys.spend_if_valid(session, self.key_id, self.nonce, self.ts)
        except identity_errors.SignatureRejected as refusal:
            self.refused = True
            if refusal.code != identity_errors.REPLAYED_NONCE.code:
                known_keys.forget(self.key_id)
            raise
        self.spent = True


def pending_nonce(request: Request) -> PendingNonce | None:
    """The request's nonce still to be spent, if it is a deferred signed request."""
    pending: PendingNonce | None = getattr(request.state, "keyrelay_nonce", None)
    return pending if pending is not None and not (pending.spent or pending.refused) else None


def spends_nonce_in_work(endpoint: Endpoint) -> Endpoint:
    """Mark a route whose one transaction (``run_once``) spends a signed request's nonce along with the work.

    Saves the separate nonce transaction of every signed request (``web.idempotency``
    keeps the nonce spent when the work fails).
    """
    setattr(endpoint, _DEFERS, True)
    return endpoint


_DEFERS = "keyrelay_spends_nonce_in_work"


def _spend_left_over(request: Request) -> None:
    pending = pending_nonce(request)
    if pending is None:
        return
    st = state_of(request)
    with st.db.transaction() as session:
        pending.spend(session, st.known_keys)


async def optional_principal(
    request: Request, credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(bearer)]
) -> Principal | None:
    """The caller or None; ``credentials`` only documents the bearer scheme in OpenAPI."""
    return await caller(request)


@dataclass(frozen=True)
class Guard:
    """What a route requires of its caller; a dependency, and the declaration ``GuardedRoute`` and the tests read."""

    scope: Scope | None
    """The scope an API key needs here; None: console sessions only, every API key is refused."""
    roles: tuple[str, ...] = ()
    """Roles allowed (empty: any signed-in role); another role answers 404, as if the route did not exist."""
    guests: bool = False
    """Anonymous callers pass (as None): the scope binds only those who sign in."""

    def check(self, who: Principal | None) -> Principal | None:
        if who is None:
            if self.guests:
                return None
            raise identity_errors.SIGN_IN_FIRST(
                hint="authentication required: send Authorization: Bearer <token> or sign the request with an API key"
            )
        if self.roles:
            require_role(who, *self.roles)
        if who.key_id is not None and self.scope is None:
            raise identity_errors.CONSOLE_ONLY()
        if self.scope is not None and not who.can(self.scope):
            raise identity_errors.MISSING_SCOPE(scope=self.scope.value)
        return who

    async def __call__(self, who: Annotated[Principal | None, Depends(optional_principal)]) -> Principal | None:
        return self.check(who)


def requires(scope: Scope | None, *roles: str, guests: bool = False) -> Guard:
    """Declare a route's requirement: ``Depends(requires(Scope.MONEY_WRITE, "distributor"))``."""
    return Guard(scope, roles, guests)


def guards_of(dependant: Dependant) -> list[Guard]:
    """Every guard in a route's dependency tree."""
    found = [dependant.call] if isinstance(dependant.call, Guard) else []
    return found + [g for sub in dependant.dependencies for g in guards_of(sub)]


class GuardedRoute(APIRoute):
    """A route whose guards run before the body is read, parsed and validated."""

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        handle = super().get_route_handler()
        guards = guards_of(self.dependant)
        if not guards:
            return handle

        defer = bool(getattr(self.endpoint, _DEFERS, False))

        async def guarded(request: Request) -> Response:
            try:
                who = await caller(request, defer_nonce=defer)
                for guard in guards:
                    guard.check(who)
                return await handle(request)
            finally:
                if defer and pending_nonce(request) is not None:  # refused before its work ran: spend it all the same
                    await run_in_threadpool(_spend_left_over, request)

        return guarded


DISTRIBUTOR, OPERATOR = "distributor", "operator"

Reader = Annotated[Principal, Depends(requires(Scope.CATALOG_READ))]
"""Any signed-in caller reading its own things (``/auth/me``, ``/me/wallet``)."""
OptionalReader = Annotated[Principal | None, Depends(requires(Scope.CATALOG_READ, guests=True))]
"""A public read that answers a signed-in caller differently (e.g. the payment methods it may use)."""
OptionalOrderWriter = Annotated[Principal | None, Depends(requires(Scope.ORDERS_WRITE, guests=True))]
"""A checkout: guests pass; a signed-in caller (and so its wallet) must be allowed to place orders."""
DistributorReader = Annotated[Principal, Depends(requires(Scope.CATALOG_READ, DISTRIBUTOR))]
OrderWriter = Annotated[Principal, Depends(requires(Scope.ORDERS_WRITE, DISTRIBUTOR))]
MoneyWriter = Annotated[Principal, Depends(requires(Scope.MONEY_WRITE, DISTRIBUTOR))]
NetworkManager = Annotated[Principal, Depends(requires(Scope.NETWORK_MANAGE, DISTRIBUTOR))]
WebhookManager = Annotated[Principal, Depends(requires(Scope.WEBHOOKS_MANAGE, DISTRIBUTOR))]
KeyManager = Annotated[Principal, Depends(requires(Scope.KEYS_MANAGE, DISTRIBUTOR))]
ConsoleDistributor = Annotated[Principal, Depends(requires(None, DISTRIBUTOR))]
"""A distributor's console session; API keys are refused (e.g. a key cannot create keys)."""
Operator = Annotated[Principal, Depends(requires(None, OPERATOR))]
"""The operator API takes console sessions only: no operator API keys are issued, so none is honoured."""
