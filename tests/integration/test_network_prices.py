"""Price rules through the services: resolution order, the limits, and frozen order prices."""

from __future__ import annotations

import pytest
from sqlalchemy import func, select

from keyrelay.catalog.models import Product
from keyrelay.checkout import Terms
from keyrelay.distribution import network, prices
from keyrelay.distribution.models import ChildPrice, Distributor, LevelPrice, RetailPrice
from keyrelay.kit.db import Database
from keyrelay.kit.errors import ValidationFailed
from keyrelay.kit.vault import Vault
from keyrelay.orders.models import Order

from .network_factories import (
    child_price,
    expected_postings,
    fast_passwords,
    level_price,
    make_chain,
    make_distributor,
    make_network_product,
    make_operator,
    pay,
    place_hosted,
    postings_of,
    retail,
)

__all__ = ["fast_passwords"]
pytestmark = pytest.mark.usefixtures("fast_passwords")


def _cost(db: Database, distributor: Distributor, product: Product) -> tuple[int, str]:
    with db.transaction(write=False) as s:
        step = prices.cost_steps(s, network.get(s, distributor.id), s.get(Product, product.id))[-1]  # type: ignore[arg-type]
        return step.cost, step.source


def _rows(db: Database, model: type) -> int:
    with db.transaction(write=False) as s:
        return int(s.scalar(select(func.count()).select_from(model)) or 0)


def test_level_list_then_parent_default_then_parent_product_rule(db: Database, vault: Vault) -> None:
    with db.transaction() as s:
        op = make_operator(s).id
        a1, a2 = make_chain(s, op, 2)
        b1 = make_distributor(s, None, operator_id=op)
        b2 = make_distributor(s, b1, operator_id=op)
        ruled = make_network_product(s, vault, supply=6000, price=10000, map_price=9000, keys=0)
        other = make_network_product(s, vault, supply=6000, price=10000, map_price=9000, keys=0)
        level_price(s, 1, None, "markup_pct", 2000)  # level 1 default: supply + 20 % = 7200
        level_price(s, 1, ruled, "fixed", 7000)  # level 1 product rule beats the level default
        level_price(s, 2, None, "markup_pct", 3000)  # level 2 list: supply + 30 % = 7800
    assert _cost(db, a1, ruled) == (7000, "level 1 list product rule: fixed 7000")
    assert _cost(db, a1, other)[0] == 7200
    # No parent rule: the level-2 list applies.
    assert _cost(db, a2, ruled) == (7800, "level 2 list default rule: +30%")
    with db.transaction() as s:
        child_price(s, network.get(s, a1.id), None, "markup_fixed", 150)
    # A parent default rule beats the level list (computed over the parent's own cost).
    assert _cost(db, a2, ruled) == (7150, "parent default rule: +150 minor units")
    assert _cost(db, a2, other) == (7350, "parent default rule: +150 minor units")
    with db.transaction() as s:
        child_price(s, network.get(s, a1.id), ruled, "markup_pct", 1000)
    # A parent product rule beats its default rule; the other product keeps the default.
    assert _cost(db, a2, ruled) == (7700, "parent product rule: +10%")
    assert _cost(db, a2, other)[0] == 7350
    # Another branch is untouched by A1's rules.
    assert _cost(db, b2, ruled)[0] == 7800
    with db.transaction(write=False) as s:
        quote = prices.explain(s, network.get(s, a2.id), s.get(Product, ruled.id))  # type: ignore[arg-type]
    assert [(step.distributor_id, step.cost) for step in quote.steps] == [(a1.id, 7000), (a2.id, 7700)]


def test_a_level_list_below_the_parents_cost_is_clamped_up(db: Database, vault: Vault) -> None:
    with db.transaction() as s:
        op = make_operator(s).id
        _, a2 = make_chain(s, op, 2)
        product = make_network_product(s, vault, keys=0)
        level_price(s, 1, None, "markup_pct", 4000)  # 8400
        level_price(s, 2, None, "markup_pct", 1000)  # 6600 < the parent's 8400
    with db.transaction(write=False) as s:
        steps = prices.cost_steps(s, network.get(s, a2.id), s.get(Product, product.id))  # type: ignore[arg-type]
    assert [(step.cost, step.clamped) for step in steps] == [(8400, False), (8400, True)]


def test_parent_cannot_price_a_child_below_its_own_cost(db: Database, vault: Vault) -> None:
    with db.transaction() as s:
        op = make_operator(s).id
        a1, _ = make_chain(s, op, 2)
        product = make_network_product(s, vault, keys=0)
        level_price(s, 1, product, "fixed", 7500)
    with pytest.raises(ValidationFailed) as refused, db.transaction() as s:
        child_price(s, network.get(s, a1.id), product, "fixed", 7499)
    assert refused.value.field == "value"
    assert "7500" in refused.value.detail
    assert _rows(db, ChildPrice) == 0
    with db.transaction() as s:  # exactly the own cost is allowed
        child_price(s, network.get(s, a1.id), product, "fixed", 7500)
    assert _rows(db, ChildPrice) == 1


@pytest.mark.parametrize(
    ("price", "fragment"),
    [(8999, "minimum advertised price"), (9100, "your cost"), (10_801, "maximum markup"), (0, "positive"), (-5, "positive")],
)
def test_retail_limits(db: Database, vault: Vault, price: int, fragment: str) -> None:
    with db.transaction() as s:
        op = make_operator(s).id
        (a1,) = make_chain(s, op, 1)
        # MAP 90.00, ceiling MAP + 20 % = 108.00; a1's cost 92.00 is above MAP.
        product = make_network_product(s, vault, supply=6000, price=10000, map_price=9000, max_markup_bp=2000, keys=0)
        level_price(s, 1, product, "fixed", 9200)
        retail(s, network.get(s, a1.id), product, 10000)
    with pytest.raises(ValidationFailed) as refused, db.transaction() as s:
        retail(s, network.get(s, a1.id), product, price)
    assert refused.value.field == "price_minor"
    assert fragment in refused.value.detail
    with db.transaction(write=False) as s:
        assert list(s.scalars(select(RetailPrice.price_minor))) == [10000]
    with db.transaction() as s:  # both ends of the window are allowed
        retail(s, network.get(s, a1.id), product, 9200)
        retail(s, network.get(s, a1.id), product, 10_800)


def test_default_rules_cannot_be_fixed_prices(db: Database) -> None:
    with db.transaction() as s:
        op = make_operator(s).id
        (a1,) = make_chain(s, op, 1)
    with pytest.raises(ValidationFailed) as level, db.transaction() as s:
        level_price(s, 1, None, "fixed", 5000)
    with pytest.raises(ValidationFailed) as child, db.transaction() as s:
        child_price(s, network.get(s, a1.id), None, "fixed", 5000)
    assert level.value.field == child.value.field == "rule"
    with pytest.raises(ValidationFailed), db.transaction() as s:
        level_price(s, 4, None, "markup_pct", 100)  # deeper than the network
    assert _rows(db, LevelPrice) == _rows(db, ChildPrice) == 0


def test_price_changes_never_reach_a_placed_order(db: Database, vault: Vault, providers: Terms) -> None:
    with db.transaction() as s:
        op = make_operator(s).id
        a1, a2 = make_chain(s, op, 2)
        product = make_network_product(s, vault)
        level_price(s, 1, product, "markup_pct", 2500)  # 7500
        child_price(s, a1, product, "markup_fixed", 300)  # 7800
        retail(s, a2, product, 9500)
        order = place_hosted(s, providers, a2, product.id, 2)
    frozen = order.pricing
    assert order.amount_minor == 19_000
    with db.transaction() as s:  # every price on the chain moves before the buyer pays
        level_price(s, 1, product, "markup_pct", 3000)
        child_price(s, network.get(s, a1.id), product, "markup_fixed", 500)
        retail(s, network.get(s, a2.id), product, 9900)
    with db.transaction() as s:
        assert pay(s, providers, s.get(Order, order.id)) == "accepted"  # type: ignore[arg-type]
        paid = s.get(Order, order.id)
        assert paid is not None
        assert (paid.pricing, paid.amount_minor, paid.status) == (frozen, 19_000, "delivered")
    booked = postings_of(db, "sale", order.number)
    assert booked == expected_postings(paid, "clearing:sandbox")
    assert booked == {
        "clearing:sandbox": -19_000,
        f"payable:supplier:{product.supplier_id}": 12_000,
        "platform:revenue": 3_000,
        f"pending:user:{a1.user_id}": 600,
        f"pending:user:{a2.user_id}": 3_400,
    }
    with db.transaction(write=False) as s:  # a new order would be priced differently
        now = prices.quote(s, s.get(Product, product.id), 2, seller=network.get(s, a2.id), wholesale=False)  # type: ignore[arg-type]
    assert (now.unit_price, now.unit_cost) == (9900, 8300)
