"""Payment use cases that do not need the order: verifying callbacks, the notification log, payment rows.

The order pipeline asks ``verify_notification`` whether a callback is genuine
and matches what is due, then applies the verified payment and logs its verdict.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass

import structlog
from sqlalchemy import select
from sqlalchemy.orm import Session

from keyrelay.kit.clock import utcnow
from keyrelay.kit.db import insert_or_skip
from keyrelay.ledger import service as ledger
from keyrelay.payments import errors
from keyrelay.payments.models import Payment, PaymentNotification
from keyrelay.payments.providers.base import InvalidNotification, OrderToPay
from keyrelay.payments.registry import Registry

log = structlog.get_logger(__name__)
AmountDue = Callable[[str], OrderToPay | None]
"""Looks an order number up: what is due for it, or None when there is no such order."""


@dataclass(frozen=True)
class VerifiedPayment:
    """A callback that is genuine, says "paid", and matches the order's amount and currency."""

    provider: str
    provider_ref: str
    order_number: str


def verify_notification(
    session: Session, registry: Registry, *, provider: str, params: Mapping[str, str], due: AmountDue, ip: str = ""
) -> VerifiedPayment | None:
    """Check signature, order, amount and status; a failure is logged as ``rejected`` and answers None."""
    try:
        note = registry.gateway(provider).verify(params)
        order = due(note.order_number)
        if order is None:
            raise InvalidNotification(f"order {note.order_number} does not exist")
        if (note.amount_minor, note.currency) != (order.amount_minor, order.currency):
            raise InvalidNotification(f"amount {note.amount_minor} {note.currency} does not match the order")
        if not note.paid:
            raise InvalidNotification("gateway reports the payment as not paid")
    except (InvalidNotification, KeyError) as exc:
        reason = str(exc) if not isinstance(exc, KeyError) else "unknown provider"
        log_notification(session, provider=provider, params=params, verdict="rejected", reason=reason, ip=ip)
        log.warning("payment_notification_rejected", provider=provider, reason=reason)
        return None
    return VerifiedPayment(provider=provider, provider_ref=note.provider_ref, order_number=note.order_number)


def log_notification(session: Session, *, provider: str, params: Mapping[str, str], verdict: str, reason: str = "", ip: str = "") -> None:
    """Keep every callback with our verdict (the signature is kept: it is not a secret)."""
    session.add(
        PaymentNotification(
            provider=provider,
            order_number=str(params.get("order_no", ""))[:64],
            verdict=verdict,
            reason=reason,
            payload=json.dumps(dict(params), ensure_ascii=False, sort_keys=True)[:4000],
            remote_ip=ip,
        )
    )


def record_payment(
    session: Session, *, order_id: int, provider: str, provider_ref: str, amount_minor: int, currency: str, status: str
) -> int:
    """Insert a payment; the same gateway reference twice raises ``Conflict``."""
    values = {
        "order_id": order_id,
        "provider": provider,
        "provider_ref": provider_ref,
        "amount_minor": amount_minor,
        "currency": currency,
        "status": status,
        "created_at": utcnow(),
    }
    payment_id = insert_or_skip(session, Payment, values, ["provider", "provider_ref"])
    if payment_id is None:
        raise errors.PAYMENT_RECORDED(provider_ref=provider_ref)
    return payment_id


def payment_exists(session: Session, *, provider: str, provider_ref: str) -> bool:
    query = select(Payment.id).where(Payment.provider == provider, Payment.provider_ref == provider_ref)
    return session.scalar(query) is not None


def book_gateway_receipt(session: Session, *, provider: str, ref: str, amount_minor: int, currency: str, kind: str) -> None:
    """Money the gateway collected for an order that cannot take it: owed back to the payer."""
    clearing = ledger.account(session, f"clearing:{provider}", kind="clearing", currency=currency)
    target = ledger.account(session, "liability:refunds-due", kind="liability", currency=currency)
    ledger.post(session, kind=kind, ref=ref, legs=[ledger.Leg(clearing, -amount_minor), ledger.Leg(target, amount_minor)])


def payments_for_order(session: Session, order_id: int) -> list[Payment]:
    """Every payment booked against an order, oldest first (a late second payment shows up too)."""
    return list(session.scalars(select(Payment).where(Payment.order_id == order_id).order_by(Payment.id)))
