"""The wholesale purchase: a distributor buys at its cost from its own wallet and gets the goods at once.

One use case for the Channel API and the distributor console alike.
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy.orm import Session

from keyrelay.checkout.placing import PlaceOrder, place_order
from keyrelay.checkout.terms import Terms
from keyrelay.distribution import network
from keyrelay.orders.service import Order


@dataclass(frozen=True)
class WholesalePurchase:
    """Who buys what, and for which of its channels."""

    user_id: int
    email: str
    product_id: int
    quantity: int
    channel_id: int | None = None
    """One of the buyer's channels; default: its "Wholesale" channel."""
    declared_retail_minor: int | None = None
    """What the buyer says it resells at (checked against MAP by the network-order rules)."""
    buyer_ref: str = ""
    client_ip: str = ""


def buy_wholesale(session: Session, purchase: WholesalePurchase, *, terms: Terms) -> Order:
    """Place and settle the purchase from the distributor's wallet; the order comes back delivered (or paid, for by-hand kinds)."""
    shop = network.for_user(session, purchase.user_id)
    request = PlaceOrder(
        product_id=purchase.product_id,
        quantity=purchase.quantity,
        contact=purchase.email,
        payment_provider=terms.providers.wallet().name,
        buyer_user_id=purchase.user_id,
        client_ip=purchase.client_ip,
        seller_id=shop.id,
        channel_id=purchase.channel_id,
        wholesale=True,
        declared_retail_minor=purchase.declared_retail_minor,
        buyer_ref=purchase.buyer_ref,
    )
    return place_order(session, request, terms=terms)
