"""Typed order events. Each carries a snapshot of the order as it was when the event happened.

Subscribers (webhooks today; the Merkle log, metrics, risk and notifications
later) read the snapshot and never need the order code. The payload keeps the
order number under ``order`` for subscribers that re-read the row.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any, ClassVar

from sqlalchemy.orm import Session

from keyrelay.kit import outbox
from keyrelay.orders import rules
from keyrelay.orders.models import Order


def _iso(value: datetime | None) -> str | None:
    return value.isoformat() if value is not None else None


def snapshot(order: Order) -> dict[str, Any]:
    """The order as the distributor API shows it, minus the buyer's contact and credentials."""
    return {
        "number": order.number,
        "status": order.status,
        "product_id": order.product_id,
        "product_name": order.product_name,
        "quantity": order.quantity,
        "unit_price_minor": order.unit_price_minor,
        "amount_minor": order.amount_minor,
        "currency": order.currency,
        "sale_mode": order.sale_mode,
        "distributor_id": order.distributor_id,
        "channel_id": order.channel_id,
        "channel": order.channel,
        "buyer_ref": order.buyer_ref,
        "declared_retail_minor": order.declared_retail_minor,
        "created_at": _iso(order.created_at),
        "paid_at": _iso(order.paid_at),
        "delivered_at": _iso(order.delivered_at),
    }


@dataclass(frozen=True)
class OrderEvent:
    """Base of the order events: the order's snapshot plus event-specific facts."""

    topic: ClassVar[str] = "order.changed"
    order: dict[str, Any]
    facts: dict[str, Any]

    @classmethod
    def of(cls, order: Order, **facts: Any) -> OrderEvent:
        return cls(order=snapshot(order), facts=facts)

    @classmethod
    def at(cls, order: Order, status: str, **facts: Any) -> OrderEvent:
        """The event as of an earlier ``status`` of an order born past it (paid at checkout)."""
        seen = snapshot(order)
        seen["status"] = status
        if status == rules.PENDING:
            seen["paid_at"] = None
        if status in (rules.PENDING, rules.PAID):
            seen["delivered_at"] = None
        return cls(order=seen, facts=facts)

    def payload(self) -> dict[str, Any]:
        return {"order": self.order["number"], "snapshot": self.order, **self.facts}


class OrderPlaced(OrderEvent):
    topic = "order.placed"


class OrderPaid(OrderEvent):
    topic = "order.paid"


class OrderDelivered(OrderEvent):
    topic = "order.delivered"


class OrderCancelled(OrderEvent):
    topic = "order.cancelled"


class OrderExpired(OrderEvent):
    topic = "order.expired"


class OrderRefunded(OrderEvent):
    topic = "order.refunded"


class OrderLatePayment(OrderEvent):
    topic = "order.late_payment"


TOPICS = tuple(cls.topic for cls in (OrderPlaced, OrderPaid, OrderDelivered, OrderCancelled, OrderExpired, OrderRefunded, OrderLatePayment))


def publish(session: Session, event: OrderEvent) -> None:
    outbox.publish(session, event)
