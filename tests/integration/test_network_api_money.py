"""Money through the HTTP API: gateway callback → split on hold, operator refund and withdrawal queue."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta

import pytest
from factories import make_providers, make_user
from fastapi.testclient import TestClient
from sqlalchemy import select

from keyrelay.app import create_app
from keyrelay.audit import service as audit
from keyrelay.config import Settings
from keyrelay.identity import service as identity
from keyrelay.identity.models import User
from keyrelay.kit.clock import utcnow
from keyrelay.kit.db import Database
from keyrelay.kit.vault import Vault
from keyrelay.ledger.models import Hold, Transaction
from keyrelay.orders.models import Order

from .network_factories import (
    Money,
    child_price,
    fast_passwords,
    level_price,
    make_chain,
    make_network_product,
    make_operator,
    money,
    place_hosted,
    release_all,
    retail,
    sandbox_notification,
)
from .support import audit_trail

__all__ = ["fast_passwords"]
pytestmark = pytest.mark.usefixtures("fast_passwords")
HOLD_DAYS = 2
API = "/api/v1"


@pytest.fixture
def short_hold(settings: Settings) -> Settings:
    return settings.model_copy(update={"commission_hold_days": HOLD_DAYS})


@pytest.fixture
def client(short_hold: Settings, db: Database) -> Iterator[TestClient]:
    with TestClient(create_app(short_hold)) as test_client:
        yield test_client


def _sale_paid_by_callback(client: TestClient, db: Database, vault: Vault, settings: Settings) -> tuple[Order, list[int], str]:
    providers = make_providers(settings)
    with db.transaction() as s:
        op = make_operator(s)
        chain = make_chain(s, op.id, 2)
        product = make_network_product(s, vault)
        level_price(s, 1, None, "markup_pct", 2500)
        child_price(s, chain[0], None, "markup_fixed", 500)
        retail(s, chain[1], product, 9500)
        order = place_hosted(s, providers, chain[1], product.id, 2)
        token = identity.issue_token(op, secret=client.app.state.keyrelay.jwt_secret, ttl_seconds=600)  # type: ignore[attr-defined]
        users = [d.user_id for d in chain]
    reply = client.post(f"{API}/payments/sandbox/notify", data=sandbox_notification(providers, order))
    assert (reply.status_code, reply.text) == (200, "success")
    with db.transaction(write=False) as s:
        paid = s.get(Order, order.id)
    assert paid is not None
    assert paid.status == "delivered"
    return paid, users, token


def test_callback_books_the_split_on_hold_and_operator_refund_reverses_it(
    client: TestClient, db: Database, vault: Vault, short_hold: Settings
) -> None:
    order, (l1, l2), token = _sale_paid_by_callback(client, db, vault, short_hold)
    assert [money(db, u) for u in (l1, l2)] == [Money(0, 1_000, 0), Money(0, 3_000, 0)]
    admin = {"Authorization": f"Bearer {token}"}
    refunded = client.post(f"{API}/admin/orders/{order.number}/refund", headers=admin, json={"reason": "not delivered"})
    assert refunded.status_code == 200, refunded.text
    assert refunded.json()["status"] == "refunded"
    assert [money(db, u) for u in (l1, l2)] == [Money(0, 0, 0), Money(0, 0, 0)]
    again = client.post(f"{API}/admin/orders/{order.number}/refund", headers=admin, json={"reason": "again"})
    assert (again.status_code, again.json()["code"]) == (409, "illegal_transition")
    assert client.get(f"{API}/admin/ledger/check", headers=admin).json()["ok"]


def test_withdrawal_queue_through_the_api(client: TestClient, db: Database, vault: Vault, short_hold: Settings) -> None:
    _, (_, l2), token = _sale_paid_by_callback(client, db, vault, short_hold)
    release_all(db)
    with db.transaction(write=False) as s:
        seller = s.get(User, l2)
        assert seller is not None
        seller_token = identity.issue_token(seller, secret=client.app.state.keyrelay.jwt_secret, ttl_seconds=600)  # type: ignore[attr-defined]
    mine, admin = {"Authorization": f"Bearer {seller_token}"}, {"Authorization": f"Bearer {token}"}
    asked = client.post(f"{API}/distributor/withdrawals", headers=mine, json={"amount_minor": 3_000, "payee": "alipay:me"})
    assert asked.status_code == 201, asked.text
    ident = asked.json()["id"]
    assert [w["id"] for w in client.get(f"{API}/admin/withdrawals", headers=admin).json()] == [ident]
    assert client.get(f"{API}/distributor/wallet", headers=mine).json()["locked_minor"] == 3_000
    early = client.post(f"{API}/admin/withdrawals/{ident}/paid", headers=admin, json={"reference": "BANK-0"})
    assert (early.status_code, early.json()["code"]) == (409, "illegal_transition")  # must be approved first
    assert client.post(f"{API}/admin/withdrawals/{ident}/approve", headers=admin, json={}).status_code == 200
    no_ref = client.post(f"{API}/admin/withdrawals/{ident}/paid", headers=admin, json={})
    assert (no_ref.status_code, no_ref.json()["code"]) == (422, "payout_reference_missing")
    paid = client.post(f"{API}/admin/withdrawals/{ident}/paid", headers=admin, json={"reference": "BANK-9"})
    assert (paid.status_code, paid.json()["status"], paid.json()["reference"]) == (200, "paid", "BANK-9")
    twice = client.post(f"{API}/admin/withdrawals/{ident}/approve", headers=admin, json={})
    assert (twice.status_code, twice.json()["code"]) == (409, "illegal_transition")
    wallet = client.get(f"{API}/distributor/wallet", headers=mine).json()
    assert (wallet["available_minor"], wallet["pending_minor"], wallet["locked_minor"]) == (0, 0, 0)
    assert client.get(f"{API}/admin/ledger/check", headers=admin).json()["ok"]
    trail = audit_trail(db, "withdrawal", ident)
    assert [(action, ip) for action, _, ip, _ in trail] == [("withdrawal.approve", "testclient"), ("withdrawal.mark_paid", "testclient")]
    operator = identity.principal_from_token(token, secret=client.app.state.keyrelay.jwt_secret)  # type: ignore[attr-defined]
    assert {actor for _, actor, _, _ in trail} == {operator.actor}
    assert trail[1][3] == {"user_id": l2, "amount_minor": 3_000, "currency": "CNY", "reference": "BANK-9"}


def test_operator_wallet_credit_through_the_api_is_audited(client: TestClient, db: Database) -> None:
    with db.transaction() as s:
        op = make_operator(s)
        buyer = make_user(s)
        token = identity.issue_token(op, secret=client.app.state.keyrelay.jwt_secret, ttl_seconds=600)  # type: ignore[attr-defined]
        op_id, buyer_id = op.id, buyer.id
    admin = {"Authorization": f"Bearer {token}"}
    credited = client.post(f"{API}/admin/wallets/{buyer_id}/credit", headers=admin, json={"amount_minor": 4_200, "memo": "welcome"})
    assert credited.status_code == 200, credited.text
    assert credited.json() == {"user_id": buyer_id, "currency": "CNY", "balance_minor": 4_200}
    missing = client.post(f"{API}/admin/wallets/{buyer_id + 1_000}/credit", headers=admin, json={"amount_minor": 1})
    assert (missing.status_code, missing.json()["code"]) == (404, "user_not_found")
    with db.transaction(write=False) as s:
        [entry] = audit.recent(s, action="wallet.credit")
        [topup] = s.scalars(select(Transaction).where(Transaction.kind == "topup"))
    assert (entry.actor, entry.target_id, entry.ip) == (f"user:{op_id}", str(buyer_id), "testclient")
    assert entry.detail == {"amount_minor": 4_200, "currency": "CNY", "ref": topup.ref}
    assert topup.memo == "welcome"


def test_the_settlement_hold_follows_the_configured_days(client: TestClient, db: Database, vault: Vault, short_hold: Settings) -> None:
    order, _, _ = _sale_paid_by_callback(client, db, vault, short_hold)
    with db.transaction(write=False) as s:
        release_at = {h.release_at for h in s.scalars(select(Hold).where(Hold.order_id == order.id))}
    assert len(release_at) == 1
    expected = utcnow() + timedelta(days=HOLD_DAYS)
    assert abs((release_at.pop() - expected).total_seconds()) < 120
