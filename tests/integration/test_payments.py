"""Gateway notifications: verified, amount-checked, applied exactly once, late money flagged."""

from __future__ import annotations

import threading
from collections import Counter
from collections.abc import Mapping
from dataclasses import replace

import pytest
from factories import make_stocked_product, place, sandbox_notification, sandbox_of
from sqlalchemy import select

from keyrelay import checkout
from keyrelay.checkout import Terms
from keyrelay.kit.db import Database
from keyrelay.kit.vault import Vault
from keyrelay.ledger.models import Transaction
from keyrelay.orders import rules
from keyrelay.orders.models import Order
from keyrelay.payments import registry
from keyrelay.payments.models import Payment, PaymentNotification

from .support import backdate_hold, books_ok, count, key_ids_of, order_row, stock, topics


def _notify(db: Database, providers: Terms, params: Mapping[str, str]) -> str:
    with db.transaction() as s:
        return checkout.accept_notification(s, provider_name="sandbox", params=params, terms=providers, ip="203.0.113.9")


def _pending(db: Database, vault: Vault, providers: Terms, *, keys: int = 5, quantity: int = 2) -> tuple[int, Order]:
    with db.transaction() as s:
        product_id = make_stocked_product(s, vault, keys, price_minor=999).id
        return product_id, place(s, providers, product_id, quantity)


def _notifications(db: Database) -> list[PaymentNotification]:
    with db.transaction(write=False) as s:
        return list(s.scalars(select(PaymentNotification).order_by(PaymentNotification.id)))


def test_a_valid_notification_delivers_the_keys(db: Database, vault: Vault, providers: Terms) -> None:
    product_id, order = _pending(db, vault, providers)
    assert _notify(db, providers, sandbox_notification(providers, order)) == "accepted"

    paid = order_row(db, order.number)
    assert paid.status == rules.DELIVERED
    assert paid.paid_at is not None
    assert paid.delivered_at is not None
    assert stock(db, product_id) == {"available": 3, "reserved": 0, "sold": 2}
    with db.transaction(write=False) as s:
        [payment] = s.scalars(select(Payment))
        assert (payment.order_id, payment.amount_minor, payment.status) == (order.id, 1998, "succeeded")
        [sale] = s.scalars(select(Transaction).where(Transaction.kind == "sale"))
        assert sale.ref == order.number
        content = checkout.delivered_content(s, paid, vault=vault, actor="buyer")
    assert len(content.items) == 2
    assert topics(db, order.number) == ["order.placed", "order.paid", "order.delivered"]
    [note] = _notifications(db)
    assert (note.verdict, note.order_number, note.remote_ip) == ("accepted", order.number, "203.0.113.9")
    assert books_ok(db)


def test_the_same_notification_from_ten_threads_applies_once(db: Database, vault: Vault, providers: Terms) -> None:
    product_id, order = _pending(db, vault, providers, quantity=3)
    params = sandbox_notification(providers, order)
    start = threading.Barrier(10)
    verdicts: list[str] = []
    errors: list[BaseException] = []

    def deliver() -> None:
        start.wait()
        try:
            verdicts.append(_notify(db, providers, params))
        except BaseException as exc:  # collected and re-raised below
            errors.append(exc)

    threads = [threading.Thread(target=deliver) for _ in range(10)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    assert errors == []
    assert Counter(verdicts) == {"accepted": 1, "duplicate": 9}
    assert count(db, Payment) == 1
    assert count(db, Transaction, Transaction.kind == "sale") == 1
    assert stock(db, product_id) == {"available": 2, "reserved": 0, "sold": 3}
    assert len(key_ids_of(db, order.id, "sold")) == 3
    assert topics(db, order.number).count("order.delivered") == 1
    assert Counter(n.verdict for n in _notifications(db)) == {"accepted": 1, "duplicate": 9}
    assert order_row(db, order.number).status == rules.DELIVERED
    assert books_ok(db)


def _flip_last(value: str) -> str:
    return value[:-1] + ("0" if value[-1] != "0" else "1")


def _tamper(params: dict[str, str], how: str) -> dict[str, str]:
    """Change one thing a forger would change, without re-signing."""
    forged = dict(params)
    if how.startswith("drop:"):
        del forged[how.removeprefix("drop:")]
    elif how == "amount":
        forged["amount"] = "1"
    elif how == "status":
        forged["status"] = "PAID"
    else:
        forged[how] = _flip_last(forged[how])
    return forged


@pytest.mark.parametrize("how", ["amount", "order_no", "sign", "status", "drop:trade_no", "drop:sign"])
def test_tampered_notifications_are_rejected_and_change_nothing(db: Database, vault: Vault, providers: Terms, how: str) -> None:
    product_id, order = _pending(db, vault, providers)
    params = sandbox_notification(providers, order)
    forged = _tamper(params, how)
    assert _notify(db, providers, forged) == "rejected"
    [note] = _notifications(db)
    assert note.verdict == "rejected"
    assert note.reason  # says why, e.g. "bad signature" or "missing fields: sign"
    assert order_row(db, order.number).status == rules.PENDING
    assert stock(db, product_id) == {"available": 3, "reserved": 2, "sold": 0}
    assert count(db, Payment) == 0
    assert count(db, Transaction) == 0
    # the genuine notification still works afterwards
    assert _notify(db, providers, params) == "accepted"


def test_rejection_reasons_are_specific(db: Database, vault: Vault, providers: Terms) -> None:
    _, order = _pending(db, vault, providers)
    params = sandbox_notification(providers, order)
    _notify(db, providers, _tamper(params, "sign"))
    _notify(db, providers, {k: v for k, v in params.items() if k not in ("amount", "sign")})
    with db.transaction() as s:
        assert checkout.accept_notification(s, provider_name="paypal", params=params, terms=providers) == "rejected"
    stale = dict(params, timestamp=str(int(params["timestamp"]) - 2 * 24 * 3600))
    stale["sign"] = sandbox_of(providers).sign(stale)  # genuinely signed, but replayed two days later
    _notify(db, providers, stale)
    reasons = [n.reason for n in _notifications(db)]
    assert reasons == ["bad signature", "missing fields: amount, sign", "unknown provider", "notification too old"]


def test_a_correctly_signed_wrong_amount_is_rejected(db: Database, vault: Vault, providers: Terms) -> None:
    product_id, order = _pending(db, vault, providers)
    params = sandbox_notification(providers, order)
    params["amount"] = str(order.amount_minor - 1)
    params["sign"] = sandbox_of(providers).sign(params)
    assert _notify(db, providers, params) == "rejected"
    [note] = _notifications(db)
    assert "does not match" in note.reason
    assert order_row(db, order.number).status == rules.PENDING
    assert stock(db, product_id)["reserved"] == 2
    assert count(db, Payment) == 0


def test_signed_but_unpaid_or_unknown_order_is_rejected(db: Database, vault: Vault, providers: Terms) -> None:
    _, order = _pending(db, vault, providers)
    assert _notify(db, providers, sandbox_notification(providers, order, status="failed")) == "rejected"
    ghost = sandbox_notification(providers, order)
    ghost["order_no"] = "KR000000AAAAAAAAAAAAAA"
    ghost["sign"] = sandbox_of(providers).sign(ghost)
    assert _notify(db, providers, ghost) == "rejected"
    assert [n.verdict for n in _notifications(db)] == ["rejected", "rejected"]
    assert order_row(db, order.number).status == rules.PENDING
    assert count(db, Payment) == 0


def test_a_notification_signed_with_another_secret_is_rejected(db: Database, vault: Vault, providers: Terms) -> None:
    _, order = _pending(db, vault, providers)
    impostor = replace(providers, providers=registry.build([], production=False, secrets=registry.ProviderSecrets(b"x" * 32)))
    assert _notify(db, providers, sandbox_notification(impostor, order)) == "rejected"
    assert order_row(db, order.number).status == rules.PENDING


def test_payment_after_expiry_is_late_and_delivers_nothing(db: Database, vault: Vault, providers: Terms) -> None:
    product_id, order = _pending(db, vault, providers)
    params = sandbox_notification(providers, order)
    with db.transaction() as s:
        backdate_hold(s, order.id)
    with db.transaction() as s:
        assert checkout.expire_due(s) == 1
    assert stock(db, product_id) == {"available": 5, "reserved": 0, "sold": 0}

    assert _notify(db, providers, params) == "late"
    late = order_row(db, order.number)
    assert late.status == rules.EXPIRED
    assert late.needs_attention is True
    assert stock(db, product_id) == {"available": 5, "reserved": 0, "sold": 0}
    assert key_ids_of(db, order.id) == []
    with db.transaction(write=False) as s:
        [payment] = s.scalars(select(Payment))
        assert payment.status == "late"
        assert {t.kind for t in s.scalars(select(Transaction))} == {"late_receipt"}
        assert checkout.delivered_content(s, late, vault=vault, actor="buyer").items == []
    assert "order.late_payment" in topics(db, order.number)
    assert "order.delivered" not in topics(db, order.number)

    assert _notify(db, providers, params) == "duplicate"
    assert count(db, Payment) == 1
    assert [n.verdict for n in _notifications(db)] == ["late", "duplicate"]
    assert books_ok(db)

    with db.transaction() as s:  # the released keys are sold to the next buyer
        other = place(s, providers, product_id, 5, contact="next@example.com")
    assert _notify(db, providers, sandbox_notification(providers, other)) == "accepted"
    assert stock(db, product_id) == {"available": 0, "reserved": 0, "sold": 5}
    assert books_ok(db)


def test_paying_a_delivered_order_twice_is_flagged_not_redelivered(db: Database, vault: Vault, providers: Terms) -> None:
    product_id, order = _pending(db, vault, providers)
    assert _notify(db, providers, sandbox_notification(providers, order)) == "accepted"
    second_trade = sandbox_notification(providers, order)  # the buyer paid again: a new gateway trade
    assert _notify(db, providers, second_trade) == "late"
    paid = order_row(db, order.number)
    assert paid.status == rules.DELIVERED
    assert paid.needs_attention is True
    assert stock(db, product_id)["sold"] == 2
    assert count(db, Payment) == 2
    assert books_ok(db)


def test_payment_racing_the_expiry_sweep_ends_consistent(db: Database, vault: Vault, providers: Terms) -> None:
    """The callback and the sweep race for each overdue order: exactly one wins, money and keys follow."""
    with db.transaction() as s:
        product_id = make_stocked_product(s, vault, 12).id
        placed = [place(s, providers, product_id, 2, contact=f"race{i}@example.com") for i in range(6)]
    notes = {order.number: sandbox_notification(providers, order) for order in placed}
    verdicts: dict[str, str] = {}

    def pay(number: str, start: threading.Barrier) -> None:
        start.wait()
        verdicts[number] = _notify(db, providers, notes[number])

    def sweep(start: threading.Barrier) -> None:
        start.wait()
        with db.transaction() as s:
            checkout.expire_due(s)

    for order in placed:  # one race per order, so both outcomes get a chance
        with db.transaction() as s:
            backdate_hold(s, order.id)
        start = threading.Barrier(2)
        racers = [threading.Thread(target=pay, args=(order.number, start)), threading.Thread(target=sweep, args=(start,))]
        for thread in racers:
            thread.start()
        for thread in racers:
            thread.join(30)

    sold = 0
    for order in placed:
        row = order_row(db, order.number)
        if verdicts[order.number] == "accepted":
            assert row.status == rules.DELIVERED
            assert len(key_ids_of(db, order.id, "sold")) == 2
            sold += 2
        else:
            assert verdicts[order.number] == "late"
            assert (row.status, row.needs_attention) == (rules.EXPIRED, True)
            assert key_ids_of(db, order.id) == []
    assert stock(db, product_id) == {"available": 12 - sold, "reserved": 0, "sold": sold}
    assert count(db, Payment) == 6
    assert books_ok(db)
