"""Bad input through the network API: clear problem+json errors, and the database exactly as before."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest
from factories import PASSWORD, unique
from fastapi.testclient import TestClient
from httpx import Response
from sqlalchemy import func, select, update

from keyrelay.app import create_app
from keyrelay.checkout import Terms
from keyrelay.config import Settings
from keyrelay.distribution import channels
from keyrelay.distribution.models import Distributor, Invite
from keyrelay.identity import service as identity
from keyrelay.identity.models import User
from keyrelay.kit.clock import utcnow
from keyrelay.kit.db import Database
from keyrelay.kit.vault import Vault
from keyrelay.ledger.models import Account
from keyrelay.models import metadata

from .network_factories import (
    buy_wholesale,
    child_price,
    fast_passwords,
    invite,
    level_price,
    make_chain,
    make_distributor,
    make_network_product,
    make_operator,
    top_up,
)

__all__ = ["fast_passwords"]
pytestmark = pytest.mark.usefixtures("fast_passwords")
API = "/api/v1"
BAD_NUMBERS: list[Any] = [-5, 0, 10.5, "100", True, None]


@dataclass
class Setup:
    product_id: int
    a1: int
    b1: int
    b1_channel: int
    a1_user: int
    headers: dict[str, dict[str, str]]


@pytest.fixture
def client(settings: Settings, db: Database) -> Iterator[TestClient]:
    with TestClient(create_app(settings)) as test_client:
        yield test_client


@pytest.fixture
def setup(client: TestClient, db: Database, vault: Vault) -> Setup:
    secret = client.app.state.keyrelay.jwt_secret  # type: ignore[attr-defined]
    with db.transaction() as s:
        op = make_operator(s)
        a1, _ = make_chain(s, op.id, 2)
        b1 = make_distributor(s, None, operator_id=op.id)
        product = make_network_product(s, vault, supply=6000, price=10000, map_price=9000, max_markup_bp=2000, keys=10)
        level_price(s, 1, product, "fixed", 9200)  # level-1 cost 92.00 > MAP 90.00
        child_price(s, a1, None, "markup_fixed", 100)
        top_up(s, a1.user_id, 5_000)
        b1_channel = channels.create(s, b1, name="Taobao", kind="taobao").id
        tokens = {
            name: identity.issue_token(s.get(User, uid), secret=secret, ttl_seconds=600)  # type: ignore[arg-type]
            for name, uid in (("op", op.id), ("A1", a1.user_id), ("B1", b1.user_id))
        }
    return Setup(product.id, a1.id, b1.id, b1_channel, a1.user_id, {k: {"Authorization": f"Bearer {t}"} for k, t in tokens.items()})


def snapshot(db: Database) -> dict[str, object]:
    """Row counts of every table and every account's cached balance."""
    with db.transaction(write=False) as s:
        counts: dict[str, object] = {t.name: s.scalar(select(func.count()).select_from(t)) for t in metadata.sorted_tables}
        counts["balances"] = sorted(s.execute(select(Account.code, Account.balance_minor)).tuples().all())
        counts["uses"] = sorted(s.scalars(select(Invite.uses)))
        return counts


def problem(reply: Response, status: int, code: str, field: str | None = None) -> dict[str, Any]:
    assert reply.status_code == status, reply.text
    assert reply.headers["content-type"].startswith("application/problem+json")
    body: dict[str, Any] = reply.json()
    assert body["code"] == code, body
    if field is not None:
        assert field in {e["field"] for e in body.get("errors", [])}, body
    return body


def test_bad_amounts_are_422_and_change_nothing(client: TestClient, setup: Setup, db: Database) -> None:
    before = snapshot(db)
    a1, op = setup.headers["A1"], setup.headers["op"]
    for bad in BAD_NUMBERS:
        calls = [
            ("POST", "/distributor/withdrawals", a1, {"amount_minor": bad, "payee": "bank"}, "amount_minor"),
            ("POST", "/distributor/purchases", a1, {"product_id": setup.product_id, "quantity": bad}, "quantity"),
            ("PUT", f"/distributor/retail/{setup.product_id}", a1, {"price_minor": bad}, "price_minor"),
            ("POST", f"/admin/wallets/{setup.a1_user}/credit", op, {"amount_minor": bad}, "amount_minor"),
        ]
        if bad != 0:  # a zero markup is a valid rule
            calls += [
                ("PUT", "/distributor/child-prices", a1, {"rule": "markup_fixed", "value": bad}, "value"),
                ("PUT", "/admin/level-prices", op, {"level": 2, "rule": "markup_pct", "value": bad}, "value"),
            ]
        for method, path, headers, body, field in calls:
            reply = client.request(method, API + path, headers=headers, json=body)
            problem(reply, 422, "validation_failed", field)
    assert snapshot(db) == before


def test_prices_below_cost_or_map_are_422_naming_the_field(client: TestClient, setup: Setup, db: Database) -> None:
    before = snapshot(db)
    a1 = setup.headers["A1"]
    retail = f"{API}/distributor/retail/{setup.product_id}"
    below_map = problem(client.put(retail, headers=a1, json={"price_minor": 8999}), 422, "below_map", "price_minor")
    assert "minimum advertised price" in below_map["detail"]
    below_cost = problem(client.put(retail, headers=a1, json={"price_minor": 9100}), 422, "below_cost", "price_minor")
    assert "cost" in below_cost["detail"]
    problem(client.put(retail, headers=a1, json={"price_minor": 10_801}), 422, "above_max_retail", "price_minor")
    child = {"product_id": setup.product_id, "rule": "fixed", "value": 9199}
    problem(client.put(f"{API}/distributor/child-prices", headers=a1, json=child), 422, "child_price_below_own_cost", "value")
    default_fixed = {"rule": "fixed", "value": 9500}
    problem(client.put(f"{API}/distributor/child-prices", headers=a1, json=default_fixed), 422, "default_rule_fixed", "rule")
    level = {"level": 1, "product_id": setup.product_id, "rule": "fixed", "value": 5999}
    problem(client.put(f"{API}/admin/level-prices", headers=setup.headers["op"], json=level), 422, "level_price_below_supply", "value")
    assert snapshot(db) == before
    ok = client.put(retail, headers=a1, json={"price_minor": 9200})
    assert ok.status_code == 200, ok.text
    assert ok.json()["retail_minor"] == 9200


def test_invite_used_twice_or_expired_is_409(client: TestClient, setup: Setup, db: Database) -> None:
    with db.transaction() as s:
        code = invite(s, s.get(Distributor, setup.a1), operator_id=0)
        stale = invite(s, s.get(Distributor, setup.b1), operator_id=0)
        s.execute(update(Invite).where(Invite.code == stale).values(expires_at=utcnow()))

    def join(code: str, slug: str | None = None) -> Response:
        tag = unique("j")
        body = {"code": code, "email": f"{tag}@example.com", "password": PASSWORD, "name": "New shop", "slug": slug or tag}
        return client.post(f"{API}/join", json=body)

    first = join(code)
    assert first.status_code == 201, first.text
    assert (first.json()["level"], first.json()["parent_id"]) == (2, setup.a1)
    before = snapshot(db)
    problem(join(code), 409, "invite_used_or_expired", "code")
    problem(join(stale), 409, "invite_used_or_expired", "code")
    problem(join("no-such-code"), 404, "not_found")
    problem(join(stale, slug="admin"), 422, "shop_address_invalid", "slug")
    assert snapshot(db) == before


def test_withdrawal_above_available_is_409_insufficient_balance(client: TestClient, setup: Setup, db: Database) -> None:
    before = snapshot(db)
    a1 = setup.headers["A1"]
    url = f"{API}/distributor/withdrawals"
    problem(client.post(url, headers=a1, json={"amount_minor": 5_001, "payee": "bank"}), 409, "insufficient_balance")
    problem(client.post(url, headers=a1, json={"amount_minor": 999, "payee": "bank"}), 422, "below_minimum_withdrawal")
    problem(client.post(url, headers=a1, json={"amount_minor": 1000, "payee": ""}), 422, "validation_failed")  # the schema: min_length
    # A wholesale purchase the wallet cannot cover: 2 × 92.00 > 50.00.
    problem(
        client.post(f"{API}/distributor/purchases", headers=a1, json={"product_id": setup.product_id, "quantity": 2}),
        409,
        "insufficient_balance",
    )
    assert snapshot(db) == before
    ok = client.post(f"{API}/distributor/withdrawals", headers=a1, json={"amount_minor": 5_000, "payee": "bank"})
    assert ok.status_code == 201, ok.text
    wallet = client.get(f"{API}/distributor/wallet", headers=a1).json()
    assert (wallet["available_minor"], wallet["locked_minor"]) == (0, 5_000)


def test_another_branchs_ids_are_404_and_change_nothing(client: TestClient, setup: Setup, db: Database, providers: Terms) -> None:
    with db.transaction() as s:
        top_up(s, setup.a1_user, 20_000)
        b1 = s.get(Distributor, setup.b1)
        assert b1 is not None
        top_up(s, b1.user_id, 20_000)
        b1_order = buy_wholesale(s, providers, b1, setup.product_id).number
    before = snapshot(db)
    a1 = setup.headers["A1"]
    explain = f"{API}/distributor/prices/{setup.product_id}/explain"
    problem(client.get(explain, headers=a1, params={"distributor_id": setup.b1}), 404, "not_found")
    problem(client.get(f"{API}/distributor/orders/{b1_order}", headers=a1), 404, "not_found")
    # A filter naming another branch's distributor or channel is 404 too: an empty list would say the id exists.
    problem(client.get(f"{API}/distributor/orders", headers=a1, params={"distributor_id": setup.b1}), 404, "not_found")
    problem(client.get(f"{API}/distributor/orders", headers=a1, params={"channel_id": setup.b1_channel}), 404, "not_found")
    purchase = {"product_id": setup.product_id, "quantity": 1, "channel_id": setup.b1_channel}
    problem(client.post(f"{API}/distributor/purchases", headers=a1, json=purchase), 404, "not_found")
    problem(client.get(f"{API}/distributor/orders/NOPE123", headers=a1), 404, "not_found")
    problem(client.post(f"{API}/distributor/purchases", headers=a1, json={"product_id": 987654, "quantity": 1}), 404, "not_found")
    assert snapshot(db) == before
