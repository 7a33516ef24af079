"""After-care: cancel and expire unpaid orders (stock goes back), refund paid ones (the split is reversed)."""

from __future__ import annotations

from collections import defaultdict

from sqlalchemy.orm import Session

from keyrelay.audit.service import record
from keyrelay.catalog import service as catalog
from keyrelay.checkout import errors, fulfilment
from keyrelay.checkout.settling import order_to_pay
from keyrelay.checkout.terms import Terms
from keyrelay.kit.clock import utcnow
from keyrelay.kit.errors import IllegalTransition
from keyrelay.ledger import earnings
from keyrelay.orders import events, rules
from keyrelay.orders import service as orders
from keyrelay.orders.service import Order
from keyrelay.payments import service as payments


def refund(session: Session, order: Order, *, actor: str, reason: str, terms: Terms | None = None) -> None:
    """Give the buyer the money back and reverse the whole split (uplines included).

    Delivered keys are voided (they were handed over and cannot be resold);
    earnings still on hold are cancelled, released ones are clawed back from
    wallets even into debt, which future earnings repay. When the instance's
    ``terms`` are given, the order's provider is asked to send the money back.
    """
    if not reason.strip():
        raise errors.REFUND_REASON_MISSING(field="reason")
    orders.move(session, order, rules.REFUNDED)
    if order.amount_minor:  # a free order booked no sale: nothing to reverse
        earnings.refund_sale(session, sale_ref=order.number, order_id=order.id, memo=reason[:200])
    product = catalog.get_product(session, order.product_id)
    taken_back = fulfilment.for_product(product).on_refunded(session, order)
    note = f"{reason[:200]} (by {actor}; {taken_back})"
    if terms is not None and terms.providers.has(order.payment_provider):
        paid = [p for p in payments.payments_for_order(session, order.id) if p.status == "succeeded"]
        if paid:
            outcome = terms.providers.get(order.payment_provider).refund(
                order_to_pay(order), provider_ref=paid[0].provider_ref, amount_minor=order.amount_minor
            )
            note += f"; {outcome.note}" if outcome.done else f"; send the money back by hand: {outcome.note}"
    orders.add_event(session, order.id, "refund", note)
    record(session, actor=actor, action="order.refund", target_type="order", target_id=order.number, reason=reason[:200])
    events.publish(session, events.OrderRefunded.of(order, reason=reason[:200]))


def cancel(session: Session, order: Order, *, actor: str) -> None:
    """Buyer or operator abandons an unpaid order; what it held goes back to stock."""
    orders.move(session, order, rules.CANCELLED)
    fulfilment.for_product(catalog.get_product(session, order.product_id)).on_released(session, [order.id])
    orders.add_event(session, order.id, "released", f"by {actor}")
    record(session, actor=actor, action="order.cancel", target_type="order", target_id=order.number)
    events.publish(session, events.OrderCancelled.of(order, by=actor))


def expire_due(session: Session, *, limit: int = 500) -> int:
    """Expire unpaid orders past their hold and release what they held; returns how many."""
    expired: list[Order] = []
    for order in orders.expire_candidates(session, now=utcnow(), limit=limit):
        try:
            orders.move(session, order, rules.EXPIRED)
        except IllegalTransition:
            continue  # paid a moment ago
        expired.append(order)
    by_kind: dict[str, list[int]] = defaultdict(list)
    kinds = catalog.kinds_of(session, {o.product_id for o in expired})
    for order in expired:
        by_kind[kinds[order.product_id]].append(order.id)
        events.publish(session, events.OrderExpired.of(order))
    for kind, order_ids in by_kind.items():
        fulfilment.for_kind(kind).on_released(session, order_ids)
    return len(expired)
