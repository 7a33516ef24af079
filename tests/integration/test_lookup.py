"""Central after-sales lookup: number + contact or query password; every miss looks the same."""

from __future__ import annotations

import pytest
from factories import make_stocked_product, place

from keyrelay.checkout import Terms
from keyrelay.kit.db import Database
from keyrelay.kit.errors import NotFound, ValidationFailed
from keyrelay.kit.vault import Vault
from keyrelay.orders import service as orders
from keyrelay.orders.models import Order

PASSWORD = "tea-and-biscuits"


@pytest.fixture
def order(db: Database, vault: Vault, providers: Terms) -> Order:
    with db.transaction() as s:
        product_id = make_stocked_product(s, vault, 3).id
        return place(s, providers, product_id, 1, contact="Mixed.Case@Example.com", query_password=PASSWORD)


def _lookup(db: Database, number: str, **credential: str) -> Order:
    with db.transaction(write=False) as s:
        return orders.lookup(s, number=number, **credential)


@pytest.mark.parametrize("contact", ["mixed.case@example.com", "MIXED.CASE@EXAMPLE.COM", "  Mixed.Case@Example.com  "])
def test_lookup_by_contact_ignores_case_and_spaces(db: Database, order: Order, contact: str) -> None:
    assert _lookup(db, order.number, contact=contact).id == order.id


def test_lookup_number_is_case_insensitive(db: Database, order: Order) -> None:
    assert _lookup(db, f" {order.number.lower()} ", contact="mixed.case@example.com").id == order.id


def test_lookup_by_query_password(db: Database, order: Order) -> None:
    assert _lookup(db, order.number, query_password=PASSWORD).id == order.id


def _miss(db: Database, number: str, **credential: str) -> str:
    with pytest.raises(NotFound) as caught:
        _lookup(db, number, **credential)
    return str(caught.value)


def test_every_miss_is_the_same_not_found(db: Database, order: Order) -> None:
    missing = "KR000000AAAAAAAAAAAAAA"
    messages = {
        _miss(db, order.number, contact="someone@example.com"),
        _miss(db, order.number, query_password="wrong-password"),
        _miss(db, order.number, query_password=PASSWORD.upper()),
        _miss(db, missing, contact="mixed.case@example.com"),
        _miss(db, missing, query_password=PASSWORD),
        _miss(db, order.number, contact="müller@example.com"),
    }
    assert messages == {orders.LOOKUP_MISS}
    assert order.number not in orders.LOOKUP_MISS


def test_an_order_without_query_password_cannot_be_found_by_one(db: Database, vault: Vault, providers: Terms) -> None:
    with db.transaction() as s:
        product_id = make_stocked_product(s, vault, 1).id
        plain = place(s, providers, product_id, 1, contact="plain@example.com")
    assert _miss(db, plain.number, query_password="anything") == orders.LOOKUP_MISS


def test_a_non_ascii_contact_finds_its_order(db: Database, vault: Vault, providers: Terms) -> None:
    with db.transaction() as s:
        product_id = make_stocked_product(s, vault, 1).id
        placed = place(s, providers, product_id, 1, contact="José.Müller@Example.com")
    assert _lookup(db, placed.number, contact="josé.müller@example.com").id == placed.id
    assert _miss(db, placed.number, contact="jose.muller@example.com") == orders.LOOKUP_MISS


def test_lookup_needs_a_credential(db: Database, order: Order) -> None:
    with pytest.raises(ValidationFailed):
        _lookup(db, order.number)
