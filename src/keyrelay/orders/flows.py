"""Cross-domain order steps: place, pay, deliver, expire, cancel.

Each function runs inside the caller's single transaction, so an order, its
reserved keys, its payment, its ledger transaction and its outbox events
either all exist or none do.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

import structlog
from sqlalchemy.orm import Session

from keyrelay.audit.service import record
from keyrelay.catalog import service as catalog
from keyrelay.catalog.models import Product
from keyrelay.distribution import channels, network, prices
from keyrelay.distribution.models import Channel, Distributor
from keyrelay.identity.service import normalise_email
from keyrelay.inventory import service as inventory
from keyrelay.kit import outbox
from keyrelay.kit.clock import utcnow
from keyrelay.kit.errors import Conflict, IllegalTransition, NotFound, ValidationFailed
from keyrelay.kit.money import MAX_AMOUNT_MINOR
from keyrelay.kit.vault import Vault
from keyrelay.ledger import earnings
from keyrelay.ledger import service as ledger
from keyrelay.ledger.models import Account
from keyrelay.orders import rules
from keyrelay.orders import service as orders
from keyrelay.orders.models import Order
from keyrelay.orders.sealing import manual_content_aad
from keyrelay.payments import service as payments
from keyrelay.payments.providers.base import InvalidNotification, OrderToPay

log = structlog.get_logger(__name__)
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


def place_order(
    session: Session, request: PlaceOrder, *, hold_seconds: int, providers: payments.Providers, commission_hold_days: int = 7
) -> Order:
    """Open an order, freeze its price and split, hold its stock; wallet orders are paid at once."""
    product = catalog.get_product(session, request.product_id, active_only=True)
    contact = normalise_email(request.contact)
    _check_quantity(session, product, request.quantity, contact)
    _check_provider(request)
    seller = _seller(session, request)
    channel = _channel(session, seller, request)
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
        raise ValidationFailed("the order total is too large; order fewer units", field="quantity")
    order = orders.open_order(
        session,
        orders.NewOrder(
            product_id=product.id,
            product_name=product.name,
            quantity=request.quantity,
            unit_price_minor=quote.unit_price,
            currency=product.currency,
            contact=contact,
            query_password=request.query_password or None,
            payment_provider=request.payment_provider,
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
        ),
        hold_seconds=hold_seconds,
    )
    if product.kind == "card_key":
        inventory.reserve_keys(session, product_id=product.id, order_id=order.id, quantity=request.quantity)
    if request.payment_provider == "balance":
        assert request.buyer_user_id is not None  # checked in _check_provider
        payer = ledger.wallet(session, request.buyer_user_id, order.currency)
        _settle(
            session,
            order,
            provider="balance",
            provider_ref=f"BAL-{order.number}",
            payer=payer,
            commission_hold_days=commission_hold_days,
            product=product,
        )
    return order


def _seller(session: Session, request: PlaceOrder) -> Distributor | None:
    if request.seller_id is None:
        if request.wholesale:
            raise ValidationFailed("only distributors buy wholesale", field="wholesale")
        return None
    seller = network.get(session, request.seller_id)
    network.require_active(seller)
    if request.wholesale and (request.buyer_user_id != seller.user_id or request.payment_provider != "balance"):
        raise ValidationFailed("a wholesale purchase is paid from the distributor's own balance", field="payment_provider")
    return seller


def _channel(session: Session, seller: Distributor | None, request: PlaceOrder) -> Channel:
    if seller is None:
        return channels.main_channel(session)
    if request.channel_id is not None:
        return channels.owned(session, seller, request.channel_id)
    return channels.wholesale_channel(session, seller) if request.wholesale else channels.subsite_channel(session, seller)


def _check_quantity(session: Session, product: Product, quantity: int, contact: str) -> None:
    if isinstance(quantity, bool) or not isinstance(quantity, int) or quantity < 1:
        raise ValidationFailed("quantity must be a whole number of at least 1", field="quantity")
    if quantity > product.max_per_order:
        raise ValidationFailed(f"at most {product.max_per_order} per order", field="quantity")
    if product.max_per_contact:
        already = orders.contact_quantity_24h(session, contact=contact, product_id=product.id)
        if already + quantity > product.max_per_contact:
            raise ValidationFailed(f"at most {product.max_per_contact} per buyer per day ({already} already ordered)", field="quantity")


def _check_provider(request: PlaceOrder) -> None:
    if request.payment_provider not in payments.PROVIDERS:
        raise ValidationFailed(f"payment_provider must be one of {', '.join(payments.PROVIDERS)}", field="payment_provider")
    if request.payment_provider == "balance" and request.buyer_user_id is None:
        raise ValidationFailed("sign in to pay from your balance", field="payment_provider")
    if request.query_password and len(request.query_password) > MAX_QUERY_PASSWORD:
        raise ValidationFailed("query password is too long", field="query_password")


def order_to_pay(order: Order) -> OrderToPay:
    return OrderToPay(number=order.number, amount_minor=order.amount_minor, currency=order.currency, subject=order.product_name)


def accept_notification(
    session: Session,
    *,
    provider_name: str,
    params: Mapping[str, str],
    providers: payments.Providers,
    ip: str = "",
    commission_hold_days: int = 7,
) -> str:
    """Verify and apply a gateway callback exactly once; returns the verdict.

    Verdicts: ``accepted`` (paid and delivered now), ``duplicate`` (already
    applied: acknowledge, change nothing), ``late`` (money for an order that
    expired or was cancelled: recorded and flagged, nothing delivered),
    ``rejected`` (forged, mismatched or unknown: logged, nothing changed).
    """
    try:
        note = providers.gateway(provider_name).verify(params)
        order = orders.get_by_number(session, note.order_number)
        if (note.amount_minor, note.currency) != (order.amount_minor, order.currency):
            raise InvalidNotification(f"amount {note.amount_minor} {note.currency} does not match the order")
        if not note.paid:
            raise InvalidNotification("gateway reports the payment as not paid")
    except (InvalidNotification, NotFound, KeyError) as exc:
        reason = str(exc) if not isinstance(exc, KeyError) else "unknown provider"
        payments.log_notification(session, provider=provider_name, params=params, verdict="rejected", reason=reason, ip=ip)
        log.warning("payment_notification_rejected", provider=provider_name, reason=reason)
        return "rejected"
    verdict = _apply_payment(session, order, provider_name, note.provider_ref, commission_hold_days)
    payments.log_notification(session, provider=provider_name, params=params, verdict=verdict, ip=ip)
    return verdict


def _apply_payment(session: Session, order: Order, provider: str, provider_ref: str, hold_days: int) -> str:
    if payments.payment_exists(session, provider=provider, provider_ref=provider_ref):
        return "duplicate"
    if order.status != rules.PENDING:
        return _late_payment(session, order, provider, provider_ref)
    try:
        clearing = ledger.account(session, f"clearing:{provider}", kind="clearing", currency=order.currency)
        _settle(session, order, provider=provider, provider_ref=provider_ref, payer=clearing, commission_hold_days=hold_days)
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
    outbox.emit(session, "order.late_payment", {"order": order.number})
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


def _settle(
    session: Session,
    order: Order,
    *,
    provider: str,
    provider_ref: str,
    payer: Account,
    commission_hold_days: int,
    product: Product | None = None,
) -> None:
    """pending → paid → delivered: payment row, the frozen split booked, keys sold, in one go."""
    orders.move(session, order, rules.PAID, paid_at=utcnow())
    _record_payment(session, order, provider, provider_ref, "succeeded")
    _book_split(session, order, payer, commission_hold_days)
    outbox.emit(session, "order.paid", {"order": order.number, "amount_minor": order.amount_minor, "currency": order.currency})
    product = product or catalog.get_product(session, order.product_id)
    if product.kind == "manual":
        return  # the operator delivers by hand
    if product.kind == "card_key":
        sold = inventory.sell_reserved_keys(session, order_id=order.id)
        if sold != order.quantity:  # an invariant, not an expected failure: abort the whole transaction
            raise RuntimeError(f"order {order.number}: {sold} keys reserved, {order.quantity} expected")
    orders.move(session, order, rules.DELIVERED, delivered_at=utcnow())
    outbox.emit(session, "order.delivered", {"order": order.number, "product_id": order.product_id, "quantity": order.quantity})


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


def refund(session: Session, order: Order, *, actor: str, reason: str) -> None:
    """Give the buyer the money back and reverse the whole split (uplines included).

    Delivered keys are voided (they were handed over and cannot be resold);
    earnings still on hold are cancelled, released ones are clawed back from
    wallets even into debt, which future earnings repay.
    """
    if not reason.strip():
        raise ValidationFailed("say why the order is refunded", field="reason")
    orders.move(session, order, rules.REFUNDED)
    earnings.refund_sale(session, sale_ref=order.number, order_id=order.id, memo=reason[:200])
    voided = inventory.void_order_keys(session, order_id=order.id)
    orders.add_event(session, order.id, "refund", f"{reason[:200]} (by {actor}; {voided} key(s) voided)")
    record(session, actor=actor, action="order.refund", target_type="order", target_id=order.number, reason=reason[:200])
    outbox.emit(session, "order.refunded", {"order": order.number, "amount_minor": order.amount_minor, "currency": order.currency})


def cancel(session: Session, order: Order, *, actor: str) -> None:
    """Buyer or operator abandons an unpaid order; its keys go back to stock."""
    orders.move(session, order, rules.CANCELLED)
    inventory.release_keys(session, [order.id])
    orders.add_event(session, order.id, "released", f"by {actor}")
    record(session, actor=actor, action="order.cancel", target_type="order", target_id=order.number)


def expire_due(session: Session, *, limit: int = 500) -> int:
    """Expire unpaid orders past their hold and release their keys; returns how many."""
    expired = []
    for order in orders.expire_candidates(session, now=utcnow(), limit=limit):
        try:
            orders.move(session, order, rules.EXPIRED)
        except IllegalTransition:
            continue  # paid a moment ago
        expired.append(order.id)
    inventory.release_keys(session, expired)
    return len(expired)


@dataclass(frozen=True)
class DeliveredContent:
    """What the buyer sees: the keys (or the fixed content) of a delivered order."""

    items: list[str]


def delivered_content(session: Session, order: Order, *, vault: Vault, actor: str, ip: str = "") -> DeliveredContent:
    """Decrypt what the order delivered, for its buyer; every reveal is audited."""
    if order.status not in rules.VISIBLE_KEYS:
        return DeliveredContent([])
    if order.manual_content is not None:
        text = vault.decrypt(order.manual_content, manual_content_aad(order.id)).decode()
        return DeliveredContent([line for line in text.splitlines() if line.strip()] or [text])
    product = catalog.get_product(session, order.product_id)
    if product.kind == "fixed" and product.fixed_content:
        text = vault.decrypt(product.fixed_content, catalog.fixed_content_aad(product.id)).decode()
        return DeliveredContent([text] * order.quantity)
    keys = inventory.reveal_order_keys(session, order_id=order.id, product_id=order.product_id, vault=vault, actor=actor, ip=ip)
    return DeliveredContent([key.secret for key in keys])


MAX_MANUAL_CONTENT = 16 * 1024


def deliver_manually(session: Session, order: Order, *, content: str, vault: Vault, actor: str) -> None:
    """The operator hands over a paid ``manual`` order's goods (one item per line)."""
    if not content.strip():
        raise ValidationFailed("enter what the buyer receives", field="content")
    if len(content.encode()) > MAX_MANUAL_CONTENT:
        raise ValidationFailed("content is longer than 16 KiB", field="content")
    if catalog.get_product(session, order.product_id).kind != "manual":
        raise IllegalTransition("only manual-delivery orders are delivered by hand")
    orders.move(
        session, order, rules.DELIVERED, delivered_at=utcnow(), manual_content=vault.encrypt(content.encode(), manual_content_aad(order.id))
    )
    record(session, actor=actor, action="order.deliver_manual", target_type="order", target_id=order.number)
    outbox.emit(session, "order.delivered", {"order": order.number, "product_id": order.product_id, "quantity": order.quantity})
