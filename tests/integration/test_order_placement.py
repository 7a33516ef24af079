"""Placing orders: exact reservations, stock moves, validation that changes nothing, limits, numbers."""

from __future__ import annotations

import re
from concurrent.futures import ThreadPoolExecutor

import pydantic
import pytest
from factories import make_product, make_stocked_product, place, sandbox_notification
from sqlalchemy import select

from keyrelay import checkout
from keyrelay.catalog.schemas import ProductIn
from keyrelay.checkout import Terms
from keyrelay.inventory.models import CardKey
from keyrelay.kit.db import Database
from keyrelay.kit.errors import NotFound, OutOfStock, ValidationFailed
from keyrelay.kit.money import MAX_AMOUNT_MINOR
from keyrelay.kit.vault import Vault
from keyrelay.orders import rules
from keyrelay.orders import service as orders
from keyrelay.orders.models import Order

from .support import count, key_ids_of, order_row, stock

ORDER_NUMBER = re.compile(r"^KR\d{6}[0-9A-Z]{14}$")


def _stocked(db: Database, vault: Vault, n_keys: int, **product: object) -> int:
    with db.transaction() as s:
        return make_stocked_product(s, vault, n_keys, **product).id


def test_an_order_reserves_exactly_its_keys_and_stock_moves_to_sold(db: Database, vault: Vault, providers: Terms) -> None:
    product_id = _stocked(db, vault, 10, price_minor=1250)
    with db.transaction() as s:
        order = place(s, providers, product_id, 3, contact="  Buyer@Example.COM ")
        number, order_id = order.number, order.id
    placed = order_row(db, number)
    assert (placed.status, placed.quantity, placed.amount_minor, placed.unit_price_minor) == (rules.PENDING, 3, 3750, 1250)
    assert placed.contact == "buyer@example.com"
    assert stock(db, product_id) == {"available": 7, "reserved": 3, "sold": 0}
    reserved = key_ids_of(db, order_id, "reserved")
    assert len(reserved) == 3

    with db.transaction() as s:
        params = sandbox_notification(providers, order)
        assert checkout.accept_notification(s, provider_name="sandbox", params=params, terms=providers) == "accepted"
    assert stock(db, product_id) == {"available": 7, "reserved": 0, "sold": 3}
    assert key_ids_of(db, order_id, "sold") == reserved  # the very keys that were held are the ones sold
    assert order_row(db, number).status == rules.DELIVERED


def test_two_orders_never_share_a_key(db: Database, vault: Vault, providers: Terms) -> None:
    product_id = _stocked(db, vault, 5)
    with db.transaction() as s:
        first, second = place(s, providers, product_id, 2), place(s, providers, product_id, 3)
    one, two = key_ids_of(db, first.id), key_ids_of(db, second.id)
    assert len(one) == 2
    assert len(two) == 3
    assert not set(one) & set(two)
    assert stock(db, product_id) == {"available": 0, "reserved": 5, "sold": 0}


@pytest.mark.parametrize("quantity", [0, -1, 11, True, 2.0])
def test_bad_quantities_are_refused_and_create_nothing(db: Database, vault: Vault, providers: Terms, quantity: object) -> None:
    product_id = _stocked(db, vault, 20, max_per_order=10)
    with pytest.raises(ValidationFailed) as caught, db.transaction() as s:
        place(s, providers, product_id, quantity)  # type: ignore[arg-type]
    assert caught.value.field == "quantity"
    assert count(db, Order) == 0
    assert stock(db, product_id) == {"available": 20, "reserved": 0, "sold": 0}


def test_more_than_in_stock_is_out_of_stock_and_rolls_back(db: Database, vault: Vault, providers: Terms) -> None:
    product_id = _stocked(db, vault, 3)
    with pytest.raises(OutOfStock), db.transaction() as s:
        place(s, providers, product_id, 4)
    assert count(db, Order) == 0
    assert stock(db, product_id) == {"available": 3, "reserved": 0, "sold": 0}
    assert count(db, CardKey, CardKey.order_id.is_not(None)) == 0
    with db.transaction() as s:  # the exact remaining stock can still be bought
        place(s, providers, product_id, 3)
    assert stock(db, product_id)["reserved"] == 3


def test_a_product_without_keys_is_out_of_stock(db: Database, vault: Vault, providers: Terms) -> None:
    with db.transaction() as s:
        product_id = make_product(s, vault).id
    with pytest.raises(OutOfStock), db.transaction() as s:
        place(s, providers, product_id, 1)
    assert count(db, Order) == 0


def test_per_contact_daily_limit_counts_live_orders_case_insensitively(db: Database, vault: Vault, providers: Terms) -> None:
    product_id = _stocked(db, vault, 20, max_per_contact=3)
    with db.transaction() as s:
        first = place(s, providers, product_id, 2, contact="limit@example.com")
    with pytest.raises(ValidationFailed, match="per buyer per day"), db.transaction() as s:
        place(s, providers, product_id, 2, contact="LIMIT@example.com")
    with db.transaction() as s:
        place(s, providers, product_id, 1, contact="Limit@Example.com")
        place(s, providers, product_id, 3, contact="someone-else@example.com")
    with pytest.raises(ValidationFailed), db.transaction() as s:
        place(s, providers, product_id, 1, contact="limit@example.com")
    with db.transaction() as s:  # a cancelled order no longer counts against the buyer
        checkout.cancel(s, s.get(Order, first.id), actor="test")  # type: ignore[arg-type]
    with db.transaction() as s:
        place(s, providers, product_id, 2, contact="limit@example.com")
    assert stock(db, product_id)["reserved"] == 6


def test_unknown_or_inactive_product_is_not_found(db: Database, vault: Vault, providers: Terms) -> None:
    with pytest.raises(NotFound), db.transaction() as s:
        place(s, providers, 999_999, 1)
    product_id = _stocked(db, vault, 2, is_active=False)
    with pytest.raises(NotFound), db.transaction() as s:
        place(s, providers, product_id, 1)
    assert count(db, Order) == 0


@pytest.mark.parametrize(
    ("changes", "field"),
    [
        ({"contact": "not-an-email"}, "email"),
        ({"provider": "bitcoin"}, "payment_provider"),
        ({"provider": "balance"}, "payment_provider"),  # the wallet needs a signed-in buyer
        ({"query_password": "p" * 129}, "query_password"),
    ],
)
def test_bad_checkout_input_creates_nothing(db: Database, vault: Vault, providers: Terms, changes: dict[str, object], field: str) -> None:
    product_id = _stocked(db, vault, 2)
    with pytest.raises(ValidationFailed) as caught, db.transaction() as s:
        place(s, providers, product_id, 1, **changes)  # type: ignore[arg-type]
    assert caught.value.field == field
    assert count(db, Order) == 0
    assert stock(db, product_id)["available"] == 2


def test_order_numbers_are_unique_and_well_formed(db: Database, vault: Vault, providers: Terms) -> None:
    product_id = _stocked(db, vault, 40, max_per_order=1)
    with db.transaction() as s:
        numbers = [place(s, providers, product_id, 1, contact=f"n{i}@example.com").number for i in range(40)]
    assert len(set(numbers)) == 40
    assert all(ORDER_NUMBER.match(number) for number in numbers)


def test_order_timeline_starts_with_created(db: Database, vault: Vault, providers: Terms) -> None:
    product_id = _stocked(db, vault, 1)
    with db.transaction() as s:
        order = place(s, providers, product_id, 1)
    with db.transaction(write=False) as s:
        [event] = orders.timeline(s, order.id)
    assert event.kind == "created"
    assert "Main site" in event.note  # main-site orders are attributed to the main channel


def test_concurrent_buyers_cannot_oversell(db: Database, vault: Vault, providers: Terms) -> None:
    """Twelve threads race for five keys: five orders, seven refusals, no key held twice."""
    product_id = _stocked(db, vault, 5)

    def buy(i: int) -> str:
        try:
            with db.transaction() as s:
                return place(s, providers, product_id, 1, contact=f"race{i}@example.com").number
        except OutOfStock:
            return "out"

    with ThreadPoolExecutor(max_workers=12) as pool:
        results = list(pool.map(buy, range(12)))
    assert results.count("out") == 7
    assert stock(db, product_id) == {"available": 0, "reserved": 5, "sold": 0}
    with db.transaction(write=False) as s:
        holders = list(s.scalars(select(CardKey.order_id).where(CardKey.product_id == product_id)))
    assert len(set(holders)) == 5
    assert count(db, Order) == 5


def test_large_order_totals_are_exact_and_bounded_on_both_engines(db: Database, vault: Vault, providers: Terms) -> None:
    """Totals beyond 32 bits are stored exactly (64-bit columns); beyond MAX_AMOUNT_MINOR they are refused."""
    product_id = _stocked(db, vault, 10, price_minor=300_000_000, max_per_order=10)
    with db.transaction() as s:
        assert place(s, providers, product_id, 10).amount_minor == 3_000_000_000
    dear_id = _stocked(db, vault, 10, price_minor=MAX_AMOUNT_MINOR // 5, max_per_order=10)
    with pytest.raises(ValidationFailed, match="too large") as caught, db.transaction() as s:
        place(s, providers, dear_id, 6)
    assert caught.value.field == "quantity"
    assert count(db, Order) == 1


def test_product_prices_are_capped_at_what_is_stored(db: Database, vault: Vault) -> None:
    with pytest.raises(pydantic.ValidationError):
        ProductIn(category_id=1, name="Too dear", slug="too-dear", price_minor=MAX_AMOUNT_MINOR + 1)
    with db.transaction() as s:
        assert make_product(s, vault, price_minor=MAX_AMOUNT_MINOR).price_minor == MAX_AMOUNT_MINOR
