"""Settling: apply a verified payment exactly once — payment row, the frozen split booked, goods handed over."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import timedelta
from typing import Any

import structlog
from sqlalchemy.orm import Session

from keyrelay.catalog import service as catalog
from keyrelay.catalog.service import Product
from keyrelay.checkout import fulfilment
from keyrelay.checkout.terms import Terms
from keyrelay.kit.clock import utcnow
from keyrelay.kit.errors import Conflict, IllegalTransition, NotFound
from keyrelay.ledger import earnings
from keyrelay.ledger.service import Account
from keyrelay.orders import events, rules
from keyrelay.orders import service as orders
from keyrelay.orders.service import Order
from keyrelay.payments import service as payments
from keyrelay.payments.providers.base import OrderToPay

log = structlog.get_logger(__name__)

__all__ = ["Terms", "accept_notification", "order_to_pay", "settle", "settle_at_checkout"]


def accept_notification(session: Session, *, provider_name: str, params: Mapping[str, str], terms: Terms, ip: str = "") -> str:
    """Verify and apply a gateway callback exactly once; returns the verdict.

    Verdicts: ``accepted`` (paid and delivered now), ``duplicate`` (already
    applied: acknowledge, change nothing), ``late`` (money for an order that
    expired or was cancelled: recorded and flagged, nothing delivered),
    ``rejected`` (forged, mismatched or unknown: logged, nothing changed).
    """
    found: dict[str, Order] = {}

    def due(number: str) -> OrderToPay | None:
        try:
            order = found[number] = orders.get_by_number(session, number)
        except NotFound:
            return None
        return order_to_pay(order)

    verified = payments.verify_notification(session, terms.providers, provider=provider_name, params=params, due=due, ip=ip)
    if verified is None:
        return "rejected"
    order = found[verified.order_number]
    verdict = _apply_payment(session, order, terms, provider_name, verified.provider_ref)
    payments.log_notification(session, provider=provider_name, params=params, verdict=verdict, ip=ip)
    return verdict


def order_to_pay(order: Order) -> OrderToPay:
    """The fields of an order a payment provider needs."""
    return OrderToPay(number=order.number, amount_minor=order.amount_minor, currency=order.currency, subject=order.product_name)


def _apply_payment(session: Session, order: Order, terms: Terms, provider: str, provider_ref: str) -> str:
    if payments.payment_exists(session, provider=provider, provider_ref=provider_ref):
        return "duplicate"
    if order.status != rules.PENDING:
        return _late_payment(session, order, provider, provider_ref)
    try:
        payer = terms.providers.get(provider).payer(session, currency=order.currency, buyer_user_id=order.buyer_user_id)
        settle(session, order, provider=provider, provider_ref=provider_ref, payer=payer, terms=terms)
    except IllegalTransition:
        # A concurrent copy of this callback (or the expiry sweep) changed the order first.
        if payments.payment_exists(session, provider=provider, provider_ref=provider_ref):
            return "duplicate"
        return _late_payment(session, order, provider, provider_ref)
    return "accepted"


def _late_payment(session: Session, order: Order, provider: str, provider_ref: str) -> str:
    """Money for an order that can no longer take it (expired, cancelled, paid twice): flag for refund."""
    try:
        _record_payment(session, order, provider, provider_ref, "late")
    except Conflict:
        return "duplicate"
    order.needs_attention = True
    orders.add_event(session, order.id, "late_payment", f"payment {provider_ref} arrived after the order closed; refund due")
    payments.book_gateway_receipt(
        session, provider=provider, ref=provider_ref, amount_minor=order.amount_minor, currency=order.currency, kind="late_receipt"
    )
    events.publish(session, events.OrderLatePayment.of(order, provider_ref=provider_ref))
    log.warning("late_payment", order=order.number)
    return "late"


def _record_payment(session: Session, order: Order, provider: str, provider_ref: str, status: str) -> None:
    payments.record_payment(
        session,
        order_id=order.id,
        provider=provider,
        provider_ref=provider_ref,
        amount_minor=order.amount_minor,
        currency=order.currency,
        status=status,
    )


def settle(
    session: Session, order: Order, *, provider: str, provider_ref: str, payer: Account, terms: Terms, product: Product | None = None
) -> None:
    """pending → paid → (delivered, unless a person delivers): payment row, the frozen split booked, goods handed over."""
    orders.move(session, order, rules.PAID, paid_at=utcnow())
    _take_payment(session, order, provider, provider_ref, payer, terms)
    events.publish(session, events.OrderPaid.of(order))
    product = product or catalog.get_product(session, order.product_id)
    if not fulfilment.for_product(product).on_paid(session, order, product):
        return  # delivered later, by hand
    orders.move(session, order, rules.DELIVERED, delivered_at=utcnow())
    events.publish(session, events.OrderDelivered.of(order))


def settle_at_checkout(session: Session, order: Order, *, provider: str, provider_ref: str, payer: Account, terms: Terms) -> None:
    """The payment of an order born paid (``place_order``): payment row and split; each step's event, as ``settle`` publishes them."""
    events.publish(session, events.OrderPlaced.at(order, rules.PENDING))
    _take_payment(session, order, provider, provider_ref, payer, terms)
    events.publish(session, events.OrderPaid.at(order, rules.PAID))
    if order.status == rules.DELIVERED:
        events.publish(session, events.OrderDelivered.of(order))


def _take_payment(session: Session, order: Order, provider: str, provider_ref: str, payer: Account, terms: Terms) -> None:
    _record_payment(session, order, provider, provider_ref, "succeeded")
    _book_split(session, order, payer, terms.commission_hold_days)


def _book_split(session: Session, order: Order, payer: Account, hold_days: int) -> None:
    """Book the split frozen on the order at placement (later price changes never reach it)."""
    # Orders placed before pricing was frozen on them belong wholly to the platform.
    shares = order.pricing["shares"] if order.pricing else [{"party": "platform", "amount": order.amount_minor}]
    payouts = [_payout(share) for share in shares]
    earnings.book_sale(
        session,
        ref=order.number,
        order_id=order.id,
        currency=order.currency,
        payer=payer,
        payouts=payouts,
        release_at=utcnow() + timedelta(days=hold_days),
        memo=f"{order.quantity} × {order.product_name}",
    )


def _payout(share: dict[str, Any]) -> earnings.Payout:
    party = str(share["party"])
    if party == "platform":
        return earnings.Payout("platform", int(share["amount"]))
    kind = "supplier" if party.startswith("supplier:") else "earner"
    return earnings.Payout(kind, int(share["amount"]), user_id=int(share["user_id"]), role=str(share["role"]))
