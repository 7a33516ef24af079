"""Placing an order: validate, run the policies, freeze price and split, hold stock, settle wallet payments."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy.orm import Session

from keyrelay.catalog import service as catalog
from keyrelay.checkout import errors, fulfilment, policies
from keyrelay.checkout.settling import order_to_pay, settle_at_checkout
from keyrelay.checkout.terms import Terms
from keyrelay.distribution import channels, network, prices
from keyrelay.distribution.channels import Channel
from keyrelay.distribution.network import Distributor
from keyrelay.identity.service import normalise_email
from keyrelay.kit.money import MAX_AMOUNT_MINOR
from keyrelay.orders import events, rules
from keyrelay.orders import service as orders
from keyrelay.orders.service import Order
from keyrelay.payments import errors as payment_errors
from keyrelay.payments.providers.base import PaymentProvider

MAX_QUERY_PASSWORD = 128


@dataclass(frozen=True)
class PlaceOrder:
    """A checkout or wholesale purchase request, as validated input."""

    product_id: int
    quantity: int
    contact: str
    payment_provider: str
    query_password: str | None = None
    buyer_user_id: int | None = None
    client_ip: str = ""
    seller_id: int | None = None
    """The selling distributor (its sub-site, channel or API); None = the main site."""
    channel_id: int | None = None
    """One of the seller's channels; default: its sub-site (retail) or "Wholesale"."""
    wholesale: bool = False
    """The seller buys for itself at cost from its balance; keys come back at once."""
    declared_retail_minor: int | None = None
    buyer_ref: str = ""
    """The channel's own reference for the end buyer; stored, shown, never interpreted."""


def place_order(session: Session, request: PlaceOrder, *, terms: Terms) -> Order:
    """Open an order, freeze its price and split, hold its stock; checkout-settled payments are taken at once."""
    product = catalog.get_product(session, request.product_id, active_only=True)
    contact = normalise_email(request.contact)
    _check_input(request)
    provider = _provider(request, terms)
    seller = _seller(session, request, provider)
    channel = _channel(session, seller, request)
    attempt = policies.OrderAttempt(
        product=product,
        quantity=request.quantity,
        contact=contact,
        seller=seller,
        wholesale=request.wholesale,
        buyer_user_id=request.buyer_user_id,
        client_ip=request.client_ip,
        channel_id=channel.id,
    )
    policies.check_all(session, attempt)
    quote = prices.quote(
        session,
        product,
        request.quantity,
        seller=seller,
        wholesale=request.wholesale,
        buyer_user_id=request.buyer_user_id,
        buyer_contact=contact,
    )
    if quote.unit_price * request.quantity > MAX_AMOUNT_MINOR:
        raise errors.TOTAL_TOO_LARGE(field="quantity")
    new = orders.NewOrder(
        product_id=product.id,
        product_name=product.name,
        quantity=request.quantity,
        unit_price_minor=quote.unit_price,
        currency=product.currency,
        contact=contact,
        query_password=request.query_password or None,
        payment_provider=provider.name,
        channel=channel.name,
        channel_id=channel.id,
        distributor_id=seller.id if seller else None,
        sale_mode="wholesale" if request.wholesale else "retail",
        unit_cost_minor=quote.unit_cost,
        declared_retail_minor=request.declared_retail_minor,
        pricing=quote.as_json(),
        buyer_user_id=request.buyer_user_id,
        client_ip=request.client_ip,
        buyer_ref=request.buyer_ref[:120],
    )
    kind = fulfilment.for_product(product)
    if not provider.settles_at_checkout:
        order = orders.open_order(session, new, hold_seconds=terms.hold_seconds)
        kind.on_placed(session, order, product)
        events.publish(session, events.OrderPlaced.of(order))
        return order
    # Paid in this transaction (a wallet): the order is born paid, or delivered, with its goods handed over.
    payer = provider.payer(session, currency=product.currency, buyer_user_id=request.buyer_user_id)
    born = rules.PAID if kind.kind.delivered_by_hand else rules.DELIVERED
    order = orders.open_order(session, new, hold_seconds=terms.hold_seconds, born=born)
    kind.on_paid_at_checkout(session, order, product)
    reference = provider.checkout_reference(order_to_pay(order))
    settle_at_checkout(session, order, provider=provider.name, provider_ref=reference, payer=payer, terms=terms)
    return order


def _check_input(request: PlaceOrder) -> None:
    quantity = request.quantity
    if isinstance(quantity, bool) or not isinstance(quantity, int) or quantity < 1:
        raise errors.BAD_QUANTITY(field="quantity")
    if request.query_password and len(request.query_password) > MAX_QUERY_PASSWORD:
        raise errors.QUERY_PASSWORD_TOO_LONG(field="query_password")


def _provider(request: PlaceOrder, terms: Terms) -> PaymentProvider:
    provider = terms.providers.get(request.payment_provider)
    if provider.requires_account and request.buyer_user_id is None:
        raise payment_errors.SIGN_IN_TO_USE(field="payment_provider")
    return provider


def _seller(session: Session, request: PlaceOrder, provider: PaymentProvider) -> Distributor | None:
    if request.seller_id is None:
        if request.wholesale:
            raise errors.ONLY_DISTRIBUTORS_BUY_WHOLESALE(field="wholesale")
        return None
    seller = network.get(session, request.seller_id)
    network.require_active(seller)
    if request.wholesale and (request.buyer_user_id != seller.user_id or not provider.pays_from_wallet):
        raise errors.WHOLESALE_FROM_OWN_WALLET(field="payment_provider")
    return seller


def _channel(session: Session, seller: Distributor | None, request: PlaceOrder) -> Channel:
    if seller is None:
        return channels.main_channel(session)
    if request.channel_id is not None:
        return channels.owned(session, seller, request.channel_id)
    return channels.wholesale_channel(session, seller) if request.wholesale else channels.subsite_channel(session, seller)
