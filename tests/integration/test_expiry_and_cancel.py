"""Holds end: the expiry sweep and cancellation give keys back; closed orders cannot move."""

from __future__ import annotations

import pytest
from factories import make_stocked_product, place, sandbox_notification

from keyrelay import checkout, worker
from keyrelay.checkout import Terms
from keyrelay.kit.db import Database
from keyrelay.kit.errors import IllegalTransition
from keyrelay.kit.outbox import OutboxEvent
from keyrelay.kit.vault import Vault
from keyrelay.orders import rules
from keyrelay.orders import service as orders
from keyrelay.orders.models import Order

from .support import backdate_hold, count, key_ids_of, order_row, stock


def _orders(db: Database, vault: Vault, providers: Terms, *quantities: int, keys: int = 10) -> tuple[int, list[Order]]:
    with db.transaction() as s:
        product_id = make_stocked_product(s, vault, keys).id
        return product_id, [place(s, providers, product_id, q, contact=f"e{i}@example.com") for i, q in enumerate(quantities)]


def test_expire_due_releases_only_overdue_holds(db: Database, vault: Vault, providers: Terms) -> None:
    product_id, (due, fresh) = _orders(db, vault, providers, 3, 2)
    with db.transaction() as s:
        backdate_hold(s, due.id)
    with db.transaction() as s:
        assert checkout.expire_due(s) == 1
    assert order_row(db, due.number).status == rules.EXPIRED
    assert order_row(db, fresh.number).status == rules.PENDING
    assert key_ids_of(db, due.id) == []
    assert len(key_ids_of(db, fresh.id, "reserved")) == 2
    assert stock(db, product_id) == {"available": 8, "reserved": 2, "sold": 0}
    with db.transaction() as s:  # a second sweep finds nothing more to do
        assert checkout.expire_due(s) == 0
    with db.transaction(write=False) as s:
        assert [e.kind for e in orders.timeline(s, due.id)] == ["created", rules.EXPIRED]


def test_cancel_releases_the_keys(db: Database, vault: Vault, providers: Terms) -> None:
    product_id, (order,) = _orders(db, vault, providers, 4)
    with db.transaction() as s:
        checkout.cancel(s, orders.get_by_number(s, order.number), actor="buyer")
    assert order_row(db, order.number).status == rules.CANCELLED
    assert stock(db, product_id) == {"available": 10, "reserved": 0, "sold": 0}
    with pytest.raises(IllegalTransition), db.transaction() as s:
        checkout.cancel(s, orders.get_by_number(s, order.number), actor="buyer")


def test_a_delivered_order_cannot_be_cancelled_or_expired(db: Database, vault: Vault, providers: Terms) -> None:
    product_id, (order,) = _orders(db, vault, providers, 2)
    with db.transaction() as s:
        params = sandbox_notification(providers, order)
        assert checkout.accept_notification(s, provider_name="sandbox", params=params, terms=providers) == "accepted"
    with pytest.raises(IllegalTransition), db.transaction() as s:
        checkout.cancel(s, orders.get_by_number(s, order.number), actor="operator")
    with db.transaction() as s:
        backdate_hold(s, order.id)
    with db.transaction() as s:
        assert checkout.expire_due(s) == 0
    assert order_row(db, order.number).status == rules.DELIVERED
    assert stock(db, product_id) == {"available": 8, "reserved": 0, "sold": 2}


def test_an_expired_order_cannot_be_cancelled(db: Database, vault: Vault, providers: Terms) -> None:
    _, (order,) = _orders(db, vault, providers, 1)
    with db.transaction() as s:
        backdate_hold(s, order.id)
    with db.transaction() as s:
        checkout.expire_due(s)
    with pytest.raises(IllegalTransition), db.transaction() as s:
        checkout.cancel(s, orders.get_by_number(s, order.number), actor="buyer")
    assert order_row(db, order.number).status == rules.EXPIRED


def test_a_stale_order_object_loses_the_race_cleanly(db: Database, vault: Vault, providers: Terms) -> None:
    """Cancel with an order loaded before the sweep expired it: the conditional update refuses."""
    product_id, (order,) = _orders(db, vault, providers, 2)
    with db.transaction() as s:
        backdate_hold(s, order.id)
    with db.transaction() as s:
        checkout.expire_due(s)
    assert order.status == rules.PENDING  # our copy is stale
    with pytest.raises(IllegalTransition), db.transaction() as s:
        checkout.cancel(s, s.merge(order, load=False), actor="buyer")
    assert order_row(db, order.number).status == rules.EXPIRED
    assert stock(db, product_id)["available"] == 10


def test_the_worker_pass_expires_due_orders_and_drains_the_outbox(db: Database, vault: Vault, providers: Terms) -> None:
    product_id, (due, paid) = _orders(db, vault, providers, 2, 1)
    with db.transaction() as s:
        params = sandbox_notification(providers, paid)
        checkout.accept_notification(s, provider_name="sandbox", params=params, terms=providers)
        backdate_hold(s, due.id)
    assert worker.run_once(db) >= 1
    assert order_row(db, due.number).status == rules.EXPIRED
    assert stock(db, product_id) == {"available": 9, "reserved": 0, "sold": 1}
    assert count(db, OutboxEvent, OutboxEvent.processed_at.is_(None)) == 0
    assert worker.run_once(db) == 0  # nothing left: the worker may sleep
    assert count(db, Order, Order.status == rules.EXPIRED) == 1
