"""Paying from the prepaid balance: delivered at once, exact debits, no overdraft, balanced books."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

import pytest
from factories import make_stocked_product, make_user, place
from sqlalchemy import select

from keyrelay import checkout
from keyrelay.checkout import Terms
from keyrelay.kit.db import Database
from keyrelay.kit.errors import InsufficientBalance, ValidationFailed
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
