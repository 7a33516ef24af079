"""Fixed-content and manual-delivery products go through the same order flow as card keys."""

from __future__ import annotations

from dataclasses import replace

import pytest
from factories import make_providers, sandbox_of

from keyrelay import checkout
from keyrelay.catalog import service as catalog
from keyrelay.catalog.schemas import CategoryIn, ProductIn
from keyrelay.config import Settings
from keyrelay.kit.db import Database
from keyrelay.kit.errors import IllegalTransition, ValidationFailed
from keyrelay.orders import service as orders


def _product(db: Database, settings: Settings, kind: str, content: str | None = None) -> int:
    with db.transaction() as s:
        cat = catalog.create_category(s, CategoryIn(name="C", slug="c"), actor="test")
        data = ProductIn(category_id=cat.id, name=kind, slug=kind.replace("_", "-"), price_minor=500, kind=kind, fixed_content=content)
        return catalog.create_product(s, data, actor="test", vault=settings.vault).id


def _paid_order(db: Database, settings: Settings, product_id: int, quantity: int = 2) -> str:
    providers = make_providers(settings)
    with db.transaction() as s:
        place = checkout.PlaceOrder(product_id=product_id, quantity=quantity, contact="k@example.com", payment_provider="sandbox")
        order = checkout.place_order(s, place, terms=replace(providers, hold_seconds=60))
        params = sandbox_of(providers).notification_for(checkout.order_to_pay(order))
    with db.transaction() as s:
        assert checkout.accept_notification(s, provider_name="sandbox", params=params, terms=providers) == "accepted"
    return order.number


def test_fixed_product_delivers_its_content_per_unit(db: Database, settings: Settings) -> None:
    product_id = _product(db, settings, "fixed", "https://example.com/download?code=XYZ")
    number = _paid_order(db, settings, product_id)
    with db.transaction() as s:
        order = orders.get_by_number(s, number)
        assert order.status == "delivered"
        content = checkout.delivered_content(s, order, vault=settings.vault, actor="test")
    assert content.items == ["https://example.com/download?code=XYZ"] * 2


def test_fixed_product_requires_content(db: Database, settings: Settings) -> None:
    with pytest.raises(ValidationFailed):
        _product(db, settings, "fixed")


def test_manual_product_waits_for_the_operator(db: Database, settings: Settings) -> None:
    product_id = _product(db, settings, "manual")
    number = _paid_order(db, settings, product_id)
    with db.transaction() as s:
        order = orders.get_by_number(s, number)
        assert order.status == "paid"
        assert checkout.delivered_content(s, order, vault=settings.vault, actor="test").items == []
        with pytest.raises(ValidationFailed):
            checkout.deliver_manually(s, order, content="   ", vault=settings.vault, actor="user:1")
    with db.transaction() as s:
        order = orders.get_by_number(s, number)
        checkout.deliver_manually(s, order, content="acct-1 / pw-1\nacct-2 / pw-2", vault=settings.vault, actor="user:1")
    with db.transaction() as s:
        order = orders.get_by_number(s, number)
        assert order.status == "delivered"
        assert order.manual_content is not None
        assert b"acct-1" not in order.manual_content
        assert checkout.delivered_content(s, order, vault=settings.vault, actor="test").items == ["acct-1 / pw-1", "acct-2 / pw-2"]
        with pytest.raises(IllegalTransition):
            checkout.deliver_manually(s, order, content="again", vault=settings.vault, actor="user:1")
