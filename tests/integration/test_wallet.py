"""Paying from the prepaid balance: delivered at once, exact debits, no overdraft, balanced books."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

import pytest
from factories import make_stocked_product, make_user, place
from sqlalchemy import select

from keyrelay import checkout
from keyrelay.audit import service as audit
from keyrelay.checkout import Terms
from keyrelay.kit.db import Database
from keyrelay.kit.errors import InsufficientBalance, NotFound, ValidationFailed
from keyrelay.kit.vault import Vault
from keyrelay.ledger import service as ledger
from keyrelay.ledger.models import Transaction
from keyrelay.orders import rules
from keyrelay.orders.models import Order
from keyrelay.payments.models import Payment

from .support import books_ok, count, order_row, stock, topics


def _wallet(db: Database, user_id: int) -> tuple[int, int]:
    """(cached balance, balance derived from postings)."""
    with db.transaction(write=False) as s:
        account = ledger.wallet(s, user_id, "CNY")
        return account.balance_minor, ledger.balance(s, account.id)


def _buyer_with(db: Database, amount: int) -> int:
    with db.transaction() as s:
        user = make_user(s)
        if amount:
            ledger.credit_wallet(s, user_id=user.id, amount_minor=amount, currency="CNY", ref=f"topup-{user.id}", memo="test")
        return user.id


def _product(db: Database, vault: Vault, keys: int = 10, price: int = 1500) -> int:
    with db.transaction() as s:
        return make_stocked_product(s, vault, keys, price_minor=price).id


def test_credit_wallet_books_a_balanced_topup(db: Database) -> None:
    user_id = _buyer_with(db, 10_000)
    assert _wallet(db, user_id) == (10_000, 10_000)
    with db.transaction() as s, pytest.raises(ValidationFailed):
        ledger.credit_wallet(s, user_id=user_id, amount_minor=0, currency="CNY", ref="zero")
    assert books_ok(db)


def test_an_operator_credit_books_the_topup_and_its_audit_row_together(db: Database) -> None:
    user_id = _buyer_with(db, 0)
    with db.transaction() as s:
        credit = ledger.credit_by_operator(
            s, user_id=user_id, amount_minor=2_500, currency="CNY", memo="goodwill", actor="user:1", ip="203.0.113.9"
        )
    assert credit.ref.startswith("credit-")
    assert credit.balance_minor == 2_500
    assert _wallet(db, user_id) == (2_500, 2_500)
    with db.transaction(write=False) as s:
        [topup] = s.scalars(select(Transaction).where(Transaction.kind == "topup"))
        [entry] = audit.recent(s, action="wallet.credit")
    assert (topup.ref, topup.memo) == (credit.ref, "goodwill")
    assert (entry.actor, entry.target_type, entry.target_id, entry.ip) == ("user:1", "user", str(user_id), "203.0.113.9")
    assert entry.detail == {"amount_minor": 2_500, "currency": "CNY", "ref": credit.ref}
    with db.transaction() as s:  # a second credit adds up and returns the new balance
        again = ledger.credit_by_operator(s, user_id=user_id, amount_minor=500, currency="CNY", actor="user:1")
    assert (again.balance_minor, again.ref != credit.ref) == (3_000, True)
    assert books_ok(db)


def test_a_refused_operator_credit_leaves_neither_money_nor_audit(db: Database) -> None:
    user_id = _buyer_with(db, 0)
    with pytest.raises(ValidationFailed), db.transaction() as s:
        ledger.credit_by_operator(s, user_id=user_id, amount_minor=0, currency="CNY", actor="user:1")
    with pytest.raises(NotFound), db.transaction() as s:
        ledger.credit_by_operator(s, user_id=user_id + 1_000, amount_minor=100, currency="CNY", actor="user:1")

    def credit_then_fail() -> None:
        with db.transaction() as s:
            ledger.credit_by_operator(s, user_id=user_id, amount_minor=100, currency="CNY", actor="user:1")
            raise RuntimeError("the request failed after the credit")

    with pytest.raises(RuntimeError):  # whatever fails later in the transaction undoes both
        credit_then_fail()
    with db.transaction(write=False) as s:
        assert audit.recent(s, action="wallet.credit") == []
        assert list(s.scalars(select(Transaction).where(Transaction.kind == "topup"))) == []
    assert _wallet(db, user_id) == (0, 0)


def test_paying_from_the_wallet_delivers_at_once(db: Database, vault: Vault, providers: Terms) -> None:
    user_id = _buyer_with(db, 10_000)
    product_id = _product(db, vault)
    with db.transaction() as s:
        order = place(s, providers, product_id, 3, provider="balance", buyer_user_id=user_id)
    done = order_row(db, order.number)
    assert done.status == rules.DELIVERED
    assert done.amount_minor == 4500
    assert stock(db, product_id) == {"available": 7, "reserved": 0, "sold": 3}
    assert _wallet(db, user_id) == (5500, 5500)
    with db.transaction(write=False) as s:
        [payment] = s.scalars(select(Payment))
        assert (payment.provider, payment.provider_ref, payment.amount_minor) == ("balance", f"BAL-{order.number}", 4500)
        [sale] = s.scalars(select(Transaction).where(Transaction.kind == "sale"))
        assert sale.ref == order.number
        assert len(checkout.delivered_content(s, done, vault=vault, actor="buyer").items) == 3
    assert topics(db, order.number) == ["order.placed", "order.paid", "order.delivered"]
    assert books_ok(db)


def test_spending_the_exact_balance_leaves_zero(db: Database, vault: Vault, providers: Terms) -> None:
    user_id = _buyer_with(db, 3000)
    product_id = _product(db, vault)
    with db.transaction() as s:
        place(s, providers, product_id, 2, provider="balance", buyer_user_id=user_id)
    assert _wallet(db, user_id) == (0, 0)
    assert books_ok(db)


@pytest.mark.parametrize("funds", [0, 4499])
def test_insufficient_balance_changes_nothing(db: Database, vault: Vault, providers: Terms, funds: int) -> None:
    user_id = _buyer_with(db, funds)
    product_id = _product(db, vault)
    with pytest.raises(InsufficientBalance), db.transaction() as s:
        place(s, providers, product_id, 3, provider="balance", buyer_user_id=user_id)
    assert count(db, Order) == 0
    assert count(db, Payment) == 0
    assert count(db, Transaction, Transaction.kind == "sale") == 0
    assert stock(db, product_id) == {"available": 10, "reserved": 0, "sold": 0}
    assert _wallet(db, user_id) == (funds, funds)
    assert books_ok(db)


def test_concurrent_wallet_orders_never_overdraw(db: Database, vault: Vault, providers: Terms) -> None:
    """Ten parallel purchases of 1500 against 7500: exactly five succeed."""
    user_id = _buyer_with(db, 7500)
    product_id = _product(db, vault, keys=20)

    def buy(_: int) -> str:
        try:
            with db.transaction() as s:
                return place(s, providers, product_id, 1, provider="balance", buyer_user_id=user_id).status
        except InsufficientBalance:
            return "refused"

    with ThreadPoolExecutor(max_workers=10) as pool:
        results = list(pool.map(buy, range(10)))
    assert sorted(results) == [rules.DELIVERED] * 5 + ["refused"] * 5
    assert _wallet(db, user_id) == (0, 0)
    assert stock(db, product_id) == {"available": 15, "reserved": 0, "sold": 5}
    assert books_ok(db)
