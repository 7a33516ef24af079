"""Authorization matrix over the distributor and operator APIs (the real app, both backends).

Two branches: A1 → A2 and B1. A distributor sees itself and its downline,
never another branch (an id from there answers 404 — in a path or a list
filter alike, exactly like an id that does not exist — and lists leave it out); an
upline sees its downline's orders without their keys; a distributor token is
nobody on /admin, a buyer token nobody on /distributor, and no token is a 401.
The route lists come from the app's OpenAPI schema, so a new endpoint that is
not in the matrix fails the coverage test instead of going unchecked.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field

import pytest
from factories import make_user
from fastapi.testclient import TestClient
from httpx import Response
from sqlalchemy import select

from keyrelay.app import create_app
from keyrelay.checkout import Terms
from keyrelay.config import Settings
from keyrelay.distribution.models import Distributor
from keyrelay.identity import service as identity
from keyrelay.identity.models import User
from keyrelay.kit.db import Database
from keyrelay.kit.vault import Vault
from keyrelay.ledger import withdrawals
from keyrelay.orders.models import Order

from .network_factories import (
    buy_wholesale,
    fast_passwords,
    make_chain,
    make_distributor,
    make_network_product,
    make_operator,
    release_all,
    sell_hosted,
    top_up,
)

__all__ = ["fast_passwords"]
pytestmark = pytest.mark.usefixtures("fast_passwords")
API = "/api/v1"

#: Every distributor read endpoint and how this matrix exercises it.
DISTRIBUTOR_READS = {
    "/api/v1/distributor/me": "own profile",
    "/api/v1/distributor/products": "own costs",
    "/api/v1/distributor/products/{product_id}": "own cost; a missing id is 404",
    "/api/v1/distributor/stock": "catalog-wide stock levels",
    "/api/v1/distributor/api-keys": "list + revoke by id",
    "/api/v1/distributor/prices/{product_id}/explain": "id: distributor_id of each branch",
    "/api/v1/distributor/child-prices": "own rules",
    "/api/v1/distributor/downline": "list",
    "/api/v1/distributor/channels": "list",
    "/api/v1/distributor/orders": "list + distributor_id and channel_id of each branch (outside: 404)",
    "/api/v1/distributor/orders/{number}": "id: every order number",
    "/api/v1/distributor/sales": "list",
    "/api/v1/distributor/wallet": "own money",
    "/api/v1/distributor/wallet/statement": "own money",
    "/api/v1/distributor/withdrawals": "list",
    "/api/v1/distributor/webhooks": "own endpoints (test_webhooks_api: other accounts' ids are 404)",
    "/api/v1/distributor/webhooks/{endpoint_id}": "test_webhooks_api: another account's endpoint is 404",
    "/api/v1/distributor/webhooks/{endpoint_id}/deliveries": "test_webhooks_api: another account's log is 404",
}


@dataclass
class Net:
    product_id: int
    tokens: dict[str, str] = field(default_factory=dict)
    ids: dict[str, int] = field(default_factory=dict)
    """Distributor ids by name."""
    orders: dict[str, list[str]] = field(default_factory=dict)
    """Order numbers by the distributor that sold them."""
    withdrawals: dict[str, int] = field(default_factory=dict)

    def auth(self, who: str) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.tokens[who]}"}


@pytest.fixture
def client(settings: Settings, db: Database) -> Iterator[TestClient]:
    with TestClient(create_app(settings)) as test_client:
        yield test_client


@pytest.fixture
def net(client: TestClient, db: Database, vault: Vault, providers: Terms) -> Net:
    secret = client.app.state.keyrelay.jwt_secret  # type: ignore[attr-defined]
    with db.transaction() as s:
        op = make_operator(s)
        a1, a2 = make_chain(s, op.id, 2)
        b1 = make_distributor(s, None, operator_id=op.id)
        buyer = make_user(s, role="buyer")
        product = make_network_product(s, vault, keys=30)
        people: dict[str, User] = {"op": op, "buyer": buyer}
        for name, d in (("A1", a1), ("A2", a2), ("B1", b1)):
            people[name] = s.get(User, d.user_id)  # type: ignore[assignment]
            top_up(s, d.user_id, 100_000)
        made = Net(product.id, ids={"A1": a1.id, "A2": a2.id, "B1": b1.id})
        made.tokens = {k: identity.issue_token(u, secret=secret, ttl_seconds=600) for k, u in people.items()}
    distributors = {"A1": a1, "A2": a2, "B1": b1}
    for name, d in distributors.items():
        with db.transaction() as s:
            own = buy_wholesale(s, providers, s.get(Distributor, d.id), product.id, 2)  # type: ignore[arg-type]
        made.orders[name] = [own.number, sell_hosted(db, providers, d, product.id).number]
    release_all(db)
    for name, d in distributors.items():
        with db.transaction() as s:
            made.withdrawals[name] = withdrawals.request(
                s, user_id=d.user_id, amount_minor=2_000, currency="CNY", payee=f"bank of {name}", minimum=1000
            ).id
    return made


BRANCH = {"A1": {"A1", "A2"}, "A2": {"A2"}, "B1": {"B1"}}


def _get(client: TestClient, net: Net, who: str, path: str, **params: object) -> Response:
    return client.get(API + path, headers=net.auth(who), params=params)


def _not_found(reply: Response) -> None:
    assert reply.status_code == 404, reply.text
    assert reply.json()["code"] == "not_found"


@pytest.mark.parametrize("viewer", ["A1", "A2", "B1"])
def test_orders_by_number_and_in_lists_stay_in_the_branch(client: TestClient, net: Net, viewer: str) -> None:
    listed = {o["number"] for o in _get(client, net, viewer, "/distributor/orders").json()}
    assert listed == {n for seller in BRANCH[viewer] for n in net.orders[seller]}
    for seller, numbers in net.orders.items():
        for number in numbers:
            reply = _get(client, net, viewer, f"/distributor/orders/{number}")
            if seller not in BRANCH[viewer]:
                _not_found(reply)
                continue
            assert reply.status_code == 200, reply.text
            keys = reply.json()["keys"]
            own_purchase = seller == viewer and number == numbers[0]
            assert len(keys) == (2 if own_purchase else 0), (viewer, seller, number)  # an upline never sees the keys
        filtered = _get(client, net, viewer, "/distributor/orders", distributor_id=net.ids[seller])
        if seller not in BRANCH[viewer]:  # an id of another branch is 404, exactly like one that does not exist
            _not_found(filtered)
            continue
        assert filtered.status_code == 200
        assert {o["number"] for o in filtered.json()} == set(numbers)
    _not_found(_get(client, net, viewer, "/distributor/orders", distributor_id=987654))


@pytest.mark.parametrize("viewer", ["A1", "A2", "B1"])
def test_a_channel_filter_outside_the_branch_is_not_found(client: TestClient, net: Net, db: Database, viewer: str) -> None:
    with db.transaction(write=False) as s:
        by_channel: dict[int, tuple[str, set[str]]] = {}
        for seller, numbers in net.orders.items():
            for number in numbers:
                order = s.scalars(select(Order).where(Order.number == number)).one()
                assert order.channel_id is not None
                by_channel.setdefault(order.channel_id, (seller, set()))[1].add(number)
    assert len(by_channel) >= len(net.ids)  # every distributor sold through channels of its own
    for channel_id, (seller, numbers) in by_channel.items():
        reply = _get(client, net, viewer, "/distributor/orders", channel_id=channel_id)
        if seller in BRANCH[viewer]:  # a downline's channel is in reach, like its orders
            assert reply.status_code == 200, reply.text
            assert {o["number"] for o in reply.json()} == numbers
        else:
            _not_found(reply)
    _not_found(_get(client, net, viewer, "/distributor/orders", channel_id=987654))


@pytest.mark.parametrize("viewer", ["A1", "A2", "B1"])
def test_price_explanations_only_for_the_branch(client: TestClient, net: Net, viewer: str) -> None:
    own = _get(client, net, viewer, f"/distributor/prices/{net.product_id}/explain")
    assert own.status_code == 200
    assert own.json()["chain"][-1]["distributor_id"] == net.ids[viewer]
    for target, target_id in net.ids.items():
        reply = _get(client, net, viewer, f"/distributor/prices/{net.product_id}/explain", distributor_id=target_id)
        if target in BRANCH[viewer]:
            assert reply.status_code == 200
            assert reply.json()["chain"][-1]["distributor_id"] == target_id
        else:
            _not_found(reply)
    _not_found(_get(client, net, viewer, "/distributor/prices/987654/explain"))


@pytest.mark.parametrize("viewer", ["A1", "A2", "B1"])
def test_lists_never_show_another_branch(client: TestClient, net: Net, viewer: str) -> None:
    branch_ids = {net.ids[name] for name in BRANCH[viewer]}
    downline = {d["id"] for d in _get(client, net, viewer, "/distributor/downline").json()}
    assert downline == branch_ids - {net.ids[viewer]}
    mine = _get(client, net, viewer, "/distributor/withdrawals").json()
    assert [w["id"] for w in mine] == [net.withdrawals[viewer]]
    by_distributor = {r["key"] for r in _get(client, net, viewer, "/distributor/sales", by="distributor").json()}
    assert by_distributor == branch_ids
    channel_ids = {c["id"] for c in _get(client, net, viewer, "/distributor/channels").json()}
    by_channel = {r["key"] for r in _get(client, net, viewer, "/distributor/sales", by="channel").json()}
    if viewer == "A1":  # A1's sales include A2's, whose channels A1 does not own but may count
        assert channel_ids < by_channel
    else:
        assert by_channel == channel_ids
    statement = _get(client, net, viewer, "/distributor/wallet/statement").json()
    others = {n for seller, numbers in net.orders.items() if seller not in BRANCH[viewer] for n in numbers}
    assert others.isdisjoint({line["ref"] for line in statement})
    me = _get(client, net, viewer, "/distributor/me").json()
    assert me["id"] == net.ids[viewer]
    assert _get(client, net, viewer, f"/distributor/products/{net.product_id}").json()["product_id"] == net.product_id
    _not_found(_get(client, net, viewer, "/distributor/products/987654"))
    assert net.product_id in {row["product_id"] for row in _get(client, net, viewer, "/distributor/stock").json()}


def test_api_keys_are_private_to_their_owner(client: TestClient, net: Net) -> None:
    made = {}
    for who in ("A1", "A2", "B1"):
        reply = client.post(f"{API}/distributor/api-keys", headers=net.auth(who), json={"name": who, "scopes": ["catalog:read"]})
        assert reply.status_code == 201, reply.text
        made[who] = reply.json()["key_id"]
    for who in ("A1", "A2", "B1"):
        assert [k["key_id"] for k in _get(client, net, who, "/distributor/api-keys").json()] == [made[who]]
    for who, other in (("B1", "A1"), ("A1", "A2"), ("A2", "A1")):  # not even an upline revokes a child's key
        _not_found(client.delete(f"{API}/distributor/api-keys/{made[other]}", headers=net.auth(who)))
    assert all(not k["revoked"] for who in made for k in _get(client, net, who, "/distributor/api-keys").json())


def _fill(path: str, net: Net) -> str:
    return (
        path.replace("{product_id}", str(net.product_id))
        .replace("{number}", net.orders["A2"][0])
        .replace("{distributor_id}", str(net.ids["A2"]))
        .replace("{action}", "suspend")
        .replace("{withdrawal_id}", str(net.withdrawals["A2"]))
        .replace("{decision}", "approve")
        .replace("{user_id}", "1")
        .replace("{category_id}", "1")
        .replace("{key_id}", "kr_missing")
    )


def _routes(client: TestClient, prefix: str) -> list[tuple[str, str]]:
    paths = client.app.openapi()["paths"]  # type: ignore[attr-defined]
    return [(method.upper(), path) for path, ops in paths.items() if path.startswith(prefix) for method in ops]


def test_matrix_covers_every_distributor_read_endpoint(client: TestClient) -> None:
    reads = {path for method, path in _routes(client, f"{API}/distributor/") if method == "GET"}
    assert reads == set(DISTRIBUTOR_READS)


def test_wrong_role_or_no_token_is_refused_everywhere(client: TestClient, net: Net, db: Database) -> None:
    def books() -> tuple[int, ...]:
        with db.transaction(write=False) as s:
            from sqlalchemy import func, select

            from keyrelay.ledger.models import Transaction
            from keyrelay.ledger.models import Withdrawal as W

            return (
                s.scalar(select(func.count()).select_from(Transaction)) or 0,
                s.scalar(select(func.count()).select_from(W).where(W.status != "requested")) or 0,
                s.scalar(select(func.count()).select_from(Distributor).where(Distributor.status != "active")) or 0,
            )

    before = books()
    cases = [(f"{API}/admin/", who) for who in ("A1", "A2", "B1")] + [(f"{API}/distributor/", "buyer")]
    checked = 0
    for prefix, who in cases:
        for method, path in _routes(client, prefix):
            url = _fill(path, net)
            reply = client.request(method, url, headers=net.auth(who), json={})
            assert reply.status_code in (403, 404), (who, method, path, reply.status_code, reply.text)
            anonymous = client.request(method, url, json={})
            assert anonymous.status_code == 401, (method, path, anonymous.status_code)
            assert anonymous.json()["code"] == "unauthorized"
            checked += 1
    assert checked > 40
    assert books() == before
    # The operator really can do these (the matrix is not testing dead routes).
    reply = client.get(f"{API}/admin/distributors", headers=net.auth("op"))
    assert {d["id"] for d in reply.json()} == set(net.ids.values())
