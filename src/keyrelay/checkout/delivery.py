"""Delivery to the buyer: what a delivered order shows (audited), and delivery by hand."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy.orm import Session

from keyrelay.catalog import service as catalog
from keyrelay.checkout import fulfilment
from keyrelay.kit.vault import Vault
from keyrelay.orders import rules
from keyrelay.orders.service import Order


@dataclass(frozen=True)
class DeliveredContent:
    """What the buyer sees: the keys (or the content) of a delivered order."""

    items: list[str]


def delivered_content(session: Session, order: Order, *, vault: Vault, actor: str, ip: str = "") -> DeliveredContent:
    """Decrypt what the order delivered, for its buyer; every reveal of a key is audited."""
    if order.status not in rules.VISIBLE_KEYS:
        return DeliveredContent([])
    product = catalog.get_product(session, order.product_id)
    return DeliveredContent(fulfilment.for_product(product).reveal(session, order, product, vault=vault, actor=actor, ip=ip))


def deliver_manually(session: Session, order: Order, *, content: str, vault: Vault, actor: str) -> None:
    """The operator hands over a paid order's goods (one item per line); only for kinds delivered by hand."""
    by_hand = fulfilment.manual_for(catalog.get_product(session, order.product_id))
    by_hand.deliver(session, order, content=content, vault=vault, actor=actor)
