"""API-key scopes over HTTP (the real app, both backends): each route asks for the scope it declares, and only that.

The matrix: for every scope, a key holding all the *other* scopes gets
``403 missing_scope`` on each route that needs it, and a key holding only that
scope gets past the check. Then the holes that were reported when the scope was
guessed from the URL, the channel binding of keys, and the order of checks: a
signature or a scope is refused before the body is even parsed.
"""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest
from fastapi import FastAPI
from fastapi.routing import APIRoute, iter_route_contexts
from fastapi.testclient import TestClient
from httpx import Response
from sqlalchemy import select

from keyrelay.app import create_app
from keyrelay.config import Settings
from keyrelay.distribution import channels
from keyrelay.distribution.models import Distributor
from keyrelay.identity import api_keys
from keyrelay.identity.scopes import SCOPES, Scope
from keyrelay.kit.db import Database
from keyrelay.kit.vault import Vault
from keyrelay.ledger.models import Withdrawal
from keyrelay.orders.models import Order
from keyrelay.web.auth import guards_of

from .network_factories import fast_passwords, make_distributor, make_network_product, make_operator, money, top_up
from .support import count

__all__ = ["fast_passwords"]
pytestmark = pytest.mark.usefixtures("fast_passwords")
API = "/api/v1"
PURCHASES = f"{API}/distributor/purchases"


@dataclass
class World:
    client: TestClient
    product_id: int
    user_id: int
    keys: dict[str, api_keys.NewKey]
    """``only:<scope>``, ``but:<scope>``, ``all``, ``bound`` (all scopes, bound to ``channel_id``), ``operator``."""
    channel_id: int
    other_channel_id: int

    def key(self, name: str) -> api_keys.NewKey:
        return self.keys[name]


@pytest.fixture
def world(settings: Settings, db: Database, vault: Vault) -> Iterator[World]:
    lifted = settings.model_copy(update={"rate_limit_per_ip": "100000/minute", "rate_limit_per_key": "100000/minute"})
    with db.transaction() as s:
        op = make_operator(s)
        shop = make_distributor(s, None, operator_id=op.id)
        top_up(s, shop.user_id, 1_000_000)
        product = make_network_product(s, vault, keys=30)
        mine = channels.create(s, shop, name="Taobao", kind="taobao")
        other = channels.create(s, shop, name="Telegram", kind="telegram")
        keys = {}
        for scope in SCOPES:
            keys[f"only:{scope}"] = api_keys.create(s, user_id=shop.user_id, name=f"only {scope}", scopes=[scope], vault=vault)
        for scope in SCOPES:
            rest = [other_scope for other_scope in SCOPES if other_scope != scope]
            keys[f"but:{scope}"] = api_keys.create(s, user_id=shop.user_id, name=f"all but {scope}", scopes=rest, vault=vault)
        keys["all"] = api_keys.create(s, user_id=shop.user_id, name="all", scopes=list(SCOPES), vault=vault)
        keys["bound"] = api_keys.create(s, user_id=shop.user_id, name="bound", scopes=list(SCOPES), vault=vault, channel_id=mine.id)
        keys["operator"] = api_keys.create(s, user_id=op.id, name="operator", scopes=list(SCOPES), vault=vault)
        ids = (product.id, shop.user_id, mine.id, other.id)
    with TestClient(create_app(lifted)) as client:
        yield World(client, ids[0], ids[1], keys, ids[2], ids[3])


def signed(
    client: TestClient, key: api_keys.NewKey, method: str, path: str, body: bytes = b"", *, send: bytes | None = None, **headers: str
) -> Response:
    """A request signed over ``body``; ``send`` puts other bytes on the wire under that signature."""
    stamp, nonce = str(int(time.time())), uuid.uuid4().hex
    signature = api_keys.sign(key.secret, api_keys.canonical_request(method, path, stamp, nonce, body))
    auth = {"X-Key-Id": key.key.key_id, "X-Timestamp": stamp, "X-Nonce": nonce, "X-Signature": signature}
    wire = body if send is None else send
    if wire:
        auth["content-type"] = "application/json"
    return client.request(method, path, content=wire, headers={**auth, **headers})


def problem(reply: Response, status: int, code: str) -> dict[str, Any]:
    assert reply.status_code == status, reply.text
    assert reply.headers["content-type"].startswith("application/problem+json")
    body: dict[str, Any] = reply.json()
    assert body["code"] == code, body
    return body


def _guarded_routes(app: FastAPI) -> list[tuple[str, str, Scope | None, tuple[str, ...]]]:
    """(method, path, scope, roles) of every /api/v1 route with a guard."""
    found = []
    for context in iter_route_contexts(app.routes):
        route = context.original_route
        if not isinstance(route, APIRoute) or not (context.path or "").startswith(API):
            continue
        for guard in guards_of(route.dependant):
            found += [(method, context.path or "", guard.scope, guard.roles) for method in sorted(context.methods or ())]
    return found


def _url(path: str, world: World) -> str:
    return (
        path.replace("{product_id}", str(world.product_id))
        .replace("{number}", "KR000000MISSING")
        .replace("{key_id}", "kr_missing")
        .replace("{endpoint_id}", "we_missing")
        .replace("{delivery_id}", "987654")
        .replace("{distributor_id}", "987654")
        .replace("{action}", "suspend")
        .replace("{withdrawal_id}", "987654")
        .replace("{decision}", "approve")
        .replace("{user_id}", str(world.user_id))
        .replace("{category_id}", "987654")
    )


def _send(world: World, key: str, method: str, path: str) -> Response:
    body = b"{}" if method in ("POST", "PUT", "PATCH") else b""
    return signed(world.client, world.key(key), method, _url(path, world), body)


@pytest.mark.parametrize("scope", list(Scope))
def test_each_scope_is_needed_where_declared_and_enough_there(world: World, scope: Scope, db: Database) -> None:
    routes = [(m, p) for m, p, needed, roles in _guarded_routes(world.client.app) if needed == scope and "operator" not in roles]  # type: ignore[arg-type]
    assert routes, f"no route needs {scope}"
    orders_before = count(db, Order)
    for method, path in routes:
        assert problem(_send(world, f"but:{scope}", method, path), 403, "missing_scope")["scope"] == scope.value
        passed = _send(world, f"only:{scope}", method, path)
        assert passed.status_code not in (401, 403), (scope, method, path, passed.text)
    assert count(db, Order) == orders_before  # {} is never a valid order: nothing was bought on the way


def test_console_only_routes_refuse_every_key(world: World) -> None:
    routes = [(m, p, roles) for m, p, needed, roles in _guarded_routes(world.client.app) if needed is None]  # type: ignore[arg-type]
    assert ("POST", f"{API}/distributor/api-keys", ("distributor",)) in routes
    for method, path, roles in routes:
        key = "operator" if "operator" in roles else "all"
        problem(_send(world, key, method, path), 403, "console_only")
    # A distributor's key on the operator API: not even told the route exists.
    problem(_send(world, "all", "GET", f"{API}/admin/orders"), 404, "not_found")


def test_console_sessions_keep_every_scope(world: World, db: Database) -> None:
    from keyrelay.identity import service as identity
    from keyrelay.identity.models import User

    with db.transaction() as s:
        user = s.get(User, world.user_id)
        assert user is not None
        token = identity.issue_token(user, secret=world.client.app.state.keyrelay.jwt_secret, ttl_seconds=600)  # type: ignore[attr-defined]
    bearer = {"Authorization": f"Bearer {token}"}
    made = world.client.post(f"{API}/distributor/withdrawals", json={"amount_minor": 1000, "payee": "bank"}, headers=bearer)
    assert made.status_code == 201, made.text
    assert world.client.put(f"{API}/distributor/me/site", json={"name": "Console shop"}, headers=bearer).status_code == 200


# --- the reported holes ---------------------------------------------------------------------------


def test_a_read_only_key_cannot_buy_through_the_checkout(world: World, db: Database) -> None:
    wallet = money(db, world.user_id).available
    body = json.dumps({"product_id": world.product_id, "quantity": 1, "contact": "x@example.com", "payment_provider": "balance"}).encode()
    problem(signed(world.client, world.key(f"only:{Scope.CATALOG_READ}"), "POST", f"{API}/orders", body), 403, "missing_scope")
    assert count(db, Order) == 0
    assert money(db, world.user_id).available == wallet
    bought = signed(world.client, world.key(f"only:{Scope.ORDERS_WRITE}"), "POST", f"{API}/orders", body)
    assert bought.status_code == 201, bought.text
    assert bought.json()["order"]["status"] == "delivered"


def test_guests_still_check_out_without_any_credentials(world: World) -> None:
    body = {"product_id": world.product_id, "quantity": 1, "contact": "guest@example.com"}
    assert world.client.post(f"{API}/orders", json=body).status_code == 201


def test_an_orders_key_cannot_withdraw_move_the_site_or_revoke_keys(world: World, db: Database) -> None:
    writer = world.key(f"only:{Scope.ORDERS_WRITE}")
    sibling = world.key("all").key.key_id
    withdrawal = b'{"amount_minor":2000,"currency":"CNY","payee":"Alipay: thief@example.com"}'
    site = b'{"name":"Taken over","host":"evil.example.com"}'
    problem(signed(world.client, writer, "POST", f"{API}/distributor/withdrawals", withdrawal), 403, "missing_scope")
    problem(signed(world.client, writer, "PUT", f"{API}/distributor/me/site", site), 403, "missing_scope")
    problem(signed(world.client, writer, "DELETE", f"{API}/distributor/api-keys/{sibling}"), 403, "missing_scope")
    problem(signed(world.client, writer, "GET", f"{API}/distributor/api-keys"), 403, "missing_scope")
    assert count(db, Withdrawal) == 0
    with db.transaction(write=False) as s:
        shop = s.scalar(select(Distributor).where(Distributor.user_id == world.user_id))
        assert shop is not None
        assert shop.host is None
        assert not s.scalar(select(api_keys.ApiKey.revoked).where(api_keys.ApiKey.key_id == sibling))
    # Each of them works with the scope made for it.
    paid_out = signed(world.client, world.key(f"only:{Scope.MONEY_WRITE}"), "POST", f"{API}/distributor/withdrawals", withdrawal)
    assert paid_out.status_code == 201, paid_out.text
    moved = signed(world.client, world.key(f"only:{Scope.NETWORK_MANAGE}"), "PUT", f"{API}/distributor/me/site", site)
    assert moved.status_code == 200, moved.text
    revoked = signed(world.client, world.key(f"only:{Scope.KEYS_MANAGE}"), "DELETE", f"{API}/distributor/api-keys/{sibling}")
    assert revoked.status_code == 200, revoked.text
    assert revoked.json()["revoked"] is True


def test_old_keys_keep_exactly_their_listed_scopes(world: World) -> None:
    """A key made when orders:write was the only write scope does not gain money:write, network:manage or keys:manage."""
    old = world.key(f"but:{Scope.MONEY_WRITE}")  # everything an old key could list, and more
    listed = signed(world.client, world.key("all"), "GET", f"{API}/distributor/api-keys").json()
    assert {k["key_id"]: k["scopes"] for k in listed}[old.key.key_id] == sorted(set(SCOPES) - {Scope.MONEY_WRITE})
    problem(signed(world.client, old, "POST", f"{API}/distributor/withdrawals", b'{"amount_minor":2000,"payee":"x"}'), 403, "missing_scope")


# --- a key bound to a channel sells there only ----------------------------------------------------


def _purchase(world: World, key: str, **extra: Any) -> Response:
    body = json.dumps({"product_id": world.product_id, "quantity": 1, **extra}).encode()
    return signed(world.client, world.key(key), "POST", PURCHASES, body, **{"Idempotency-Key": uuid.uuid4().hex})


def test_a_bound_key_sells_only_on_its_channel(world: World, db: Database) -> None:
    body = problem(_purchase(world, "bound", channel_id=world.other_channel_id), 403, "channel_mismatch")
    assert body["errors"][0]["field"] == "channel_id"
    assert count(db, Order) == 0
    for extra in ({}, {"channel_id": world.channel_id}):
        reply = _purchase(world, "bound", **extra)
        assert reply.status_code == 201, reply.text
        assert reply.json()["order"]["channel_id"] == world.channel_id
    unbound = _purchase(world, "all", channel_id=world.other_channel_id)
    assert unbound.status_code == 201, unbound.text
    assert unbound.json()["order"]["channel_id"] == world.other_channel_id


# --- signature and scope come before the body -----------------------------------------------------


@pytest.mark.parametrize(
    "wire",
    [b'{"product_id": 1, "quantity":', b"not json at all", b'{"product_id": "one", "quantity": -5}', b'{"surprise": true}', b""],
    ids=["truncated", "garbage", "wrong-types", "unknown-field", "empty"],
)
def test_a_body_changed_under_a_valid_signature_is_a_bad_signature_not_invalid_input(world: World, wire: bytes, db: Database) -> None:
    signed_over = json.dumps({"product_id": world.product_id, "quantity": 1}).encode()
    for key in ("all", f"only:{Scope.CATALOG_READ}"):
        problem(signed(world.client, world.key(key), "POST", PURCHASES, signed_over, send=wire), 401, "bad_signature")
    assert count(db, Order) == 0


@pytest.mark.parametrize(
    ("path", "wire"),
    [
        (PURCHASES, b'{"product_id": 1, "quantity":'),
        (PURCHASES, b'{"quantity": "many"}'),
        (f"{API}/orders", b"[[["),
        (f"{API}/distributor/withdrawals", b'{"amount_minor": 1.5}'),
    ],
)
def test_a_key_without_the_scope_is_refused_before_its_body_is_read(world: World, path: str, wire: bytes) -> None:
    problem(signed(world.client, world.key(f"only:{Scope.WEBHOOKS_MANAGE}"), "POST", path, wire), 403, "missing_scope")
    # With the scope, the same body is what is wrong.
    problem(signed(world.client, world.key("all"), "POST", path, wire), 422, "validation_failed")
