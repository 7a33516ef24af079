"""The fulfilment registry: ``product.kind`` → the module that delivers it.

This is the one place kinds are registered. Registering also declares the
kind's traits to the catalog (``catalog.kinds``), so forms, stock counts and
templates know it without naming it.
"""

from __future__ import annotations

from keyrelay.catalog import kinds
from keyrelay.catalog.service import Product
from keyrelay.checkout import errors
from keyrelay.checkout.fulfilment.base import Fulfilment
from keyrelay.checkout.fulfilment.card_keys import CardKeys
from keyrelay.checkout.fulfilment.fixed_content import FixedContent
from keyrelay.checkout.fulfilment.manual import ManualDelivery

_BY_KIND: dict[str, Fulfilment] = {}


def register(fulfilment: Fulfilment) -> None:
    kinds.register(fulfilment.kind)
    _BY_KIND[fulfilment.kind.name] = fulfilment


def for_kind(name: str) -> Fulfilment:
    kinds.get(name)  # unknown kinds are invalid input, with the known ones listed
    return _BY_KIND[name]


def for_product(product: Product) -> Fulfilment:
    return for_kind(product.kind)


def manual_for(product: Product) -> ManualDelivery:
    """The by-hand delivery of ``product``; any other kind cannot be delivered by hand."""
    fulfilment = for_product(product)
    if not isinstance(fulfilment, ManualDelivery):
        raise errors.NOT_DELIVERED_BY_HAND()
    return fulfilment


for _fulfilment in (CardKeys(), FixedContent(), ManualDelivery()):
    register(_fulfilment)

__all__ = ["Fulfilment", "for_kind", "for_product", "manual_for", "register"]
