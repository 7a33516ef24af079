"""Order rows: create, move through the status machine, timeline, lookup, listing."""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Select, func, insert, select
from sqlalchemy.orm import Session

from keyrelay.distribution.reach import Reach
from keyrelay.identity.passwords import hash_password, verify_password
from keyrelay.kit.clock import utcnow
from keyrelay.kit.db import add_inserted, memo, table_of
from keyrelay.kit.errors import IllegalTransition
from keyrelay.kit.ids import new_order_number
from keyrelay.kit.states import move_row
from keyrelay.orders import errors, rules
from keyrelay.orders.models import Order as Order  # re-exported: the public type of an order
from keyrelay.orders.models import OrderEvent

LOOKUP_MISS = "no order matches this number and contact or password"


@dataclass(frozen=True)
class NewOrder:
    """Everything needed to open an order; prices are resolved by the caller."""

    product_id: int
    product_name: str
    quantity: int
    unit_price_minor: int
    currency: str
    contact: str
    query_password: str | None
    payment_provider: str
    channel: str = "Main site"
    buyer_user_id: int | None = None
    client_ip: str = ""
    channel_id: int | None = None
    distributor_id: int | None = None
    sale_mode: str = "retail"
    unit_cost_minor: int | None = None
    declared_retail_minor: int | None = None
    pricing: dict[str, Any] | None = None
    buyer_ref: str = ""


BORN_STATES = (rules.PENDING, rules.PAID, rules.DELIVERED)
"""An order is born pending; one paid at checkout (from a wallet) is born paid, or delivered when nobody delivers by hand."""


def open_order(session: Session, new: NewOrder, *, hold_seconds: int, born: str = rules.PENDING) -> Order:
    """Insert the order (the caller holds or hands over its stock in the same transaction).

    ``born`` past pending is for a payment taken in the same transaction as the
    order: one INSERT of the final row instead of an INSERT and two UPDATEs
    (no dead row versions on the hottest table). The timeline still reads
    created → paid → delivered.
    """
    if born not in BORN_STATES:
        raise ValueError(f"an order cannot be born {born}")
    now = utcnow()
    values: dict[str, Any] = dict(
        number=new_order_number(),
        product_id=new.product_id,
        product_name=new.product_name,
        quantity=new.quantity,
        unit_price_minor=new.unit_price_minor,
        amount_minor=new.unit_price_minor * new.quantity,
        currency=new.currency,
        status=born,
        contact=new.contact,
        query_password_hash=hash_password(new.query_password) if new.query_password else None,
        channel=new.channel,
        payment_provider=new.payment_provider,
        buyer_user_id=new.buyer_user_id,
        client_ip=new.client_ip,
        channel_id=new.channel_id,
        distributor_id=new.distributor_id,
        sale_mode=new.sale_mode,
        unit_cost_minor=new.unit_cost_minor,
        declared_retail_minor=new.declared_retail_minor,
        pricing=new.pricing,
        buyer_ref=new.buyer_ref,
        expires_at=now + timedelta(seconds=hold_seconds),
        paid_at=now if born != rules.PENDING else None,
        delivered_at=now if born == rules.DELIVERED else None,
        needs_attention=False,
        created_at=now,
        updated_at=now,
    )
    order = add_inserted(session, Order, values)
    created = ("created", f"{new.quantity} × {new.product_name} via {new.channel}")
    reached = ((state, "") for state in BORN_STATES[1 : BORN_STATES.index(born) + 1])
    add_events(session, order.id, [created, *reached], new_order=True)
    return order


def add_event(session: Session, order_id: int, kind: str, note: str = "") -> None:
    add_events(session, order_id, [(kind, note)])


_TIMELINES = "orders.timelines"
"""Transaction memo: the whole timeline of each order created in this transaction."""


def add_events(session: Session, order_id: int, events: Sequence[tuple[str, str]], *, new_order: bool = False) -> None:
    """Append timeline entries (kind, note) in one INSERT; a ``new_order``'s timeline is remembered whole."""
    now = utcnow()
    rows = [{"order_id": order_id, "kind": kind, "note": note, "created_at": now} for kind, note in events]
    session.connection().execute(_INSERT_EVENT, rows)
    known: dict[int, list[OrderEvent]] = memo(session, _TIMELINES)
    if new_order or order_id in known:  # in order: the response's timeline needs no ids
        known.setdefault(order_id, []).extend(OrderEvent(**row) for row in rows)


_INSERT_EVENT = insert(table_of(OrderEvent))


def move(session: Session, order: Order, target: str, **values: object) -> None:
    """Change status only if nobody changed it first (conditional UPDATE), else raise.

    Two callbacks, or a callback and the expiry sweep, may race for the same
    order; the database decides the winner and the loser sees ``IllegalTransition``.
    """
    move_row(session, order, rules.ORDER, target, **{"updated_at": utcnow(), **values})
    add_event(session, order.id, target)


def get_by_number(session: Session, number: str, *, lock: bool = False) -> Order:
    query = select(Order).where(Order.number == number.strip().upper())
    if lock:
        query = query.with_for_update()
    order = session.scalar(query)
    if order is None:
        raise errors.NOT_FOUND(resource="order", id=number)
    return order


def contact_quantity_24h(session: Session, *, contact: str, product_id: int) -> int:
    """Units this contact holds or bought of a product in the last 24 hours."""
    since = utcnow() - timedelta(hours=24)
    query = select(func.coalesce(func.sum(Order.quantity), 0)).where(
        Order.contact == contact, Order.product_id == product_id, Order.status.in_(rules.LIVE), Order.created_at >= since
    )
    return int(session.scalar(query) or 0)


def lookup(session: Session, *, number: str, contact: str | None = None, query_password: str | None = None) -> Order:
    """Central lookup. A wrong credential and a missing order look exactly alike."""
    if not contact and not query_password:
        raise errors.LOOKUP_NEEDS_CREDENTIAL(field="contact")
    order = session.scalar(select(Order).where(Order.number == number.strip().upper()))
    if query_password:
        ok = verify_password(order.query_password_hash if order else None, query_password)
    else:
        # Spend the same argon2 time as a password check so timing tells nothing.
        verify_password(None, "x")
        # Compare bytes: compare_digest refuses non-ASCII str, and contacts may be internationalised.
        ok = order is not None and hmac.compare_digest(order.contact.encode(), (contact or "").strip().lower().encode())
    if order is None or not ok:
        raise errors.LOOKUP_MISS()
    return order


def access_token(number: str, secret: bytes) -> str:
    """The token in a buyer's order link: knowing it proves they placed or looked up the order."""
    return hmac.new(secret, f"order:{number}".encode(), hashlib.sha256).hexdigest()[:32]


def check_access_token(number: str, token: str, secret: bytes) -> bool:
    return hmac.compare_digest(access_token(number, secret).encode(), (token or "").encode())


def timeline(session: Session, order_id: int) -> list[OrderEvent]:
    known = memo(session, _TIMELINES).get(order_id)
    if known is not None:  # created in this transaction: every entry went through add_events
        return list(known)
    return list(session.scalars(select(OrderEvent).where(OrderEvent.order_id == order_id).order_by(OrderEvent.id)))


@dataclass(frozen=True)
class OrderFilter:
    """Console/API order list filters; all optional."""

    status: str | None = None
    product_id: int | None = None
    contact: str | None = None
    number: str | None = None
    needs_attention: bool | None = None
    created_from: datetime | None = None
    created_to: datetime | None = None
    distributor_id: int | None = None
    """Sold by this distributor; one outside the reader's reach is NotFound (see ``readable_by``)."""
    channel_id: int | None = None
    """Sold through this channel; one outside the reader's reach is NotFound."""


NO_FILTER = OrderFilter()


def readable_by(session: Session, reach: Reach, flt: OrderFilter = NO_FILTER) -> Select[tuple[Order]]:
    """The base query of every order read: the orders ``reach`` may see, narrowed by ``flt``.

    The reach is the only branch restriction there is (``OrderFilter`` has no
    branch field to forget). A filter naming a distributor or channel outside
    the reach is NotFound, exactly like an id that does not exist: an empty
    list would confirm that the id exists somewhere else.
    """
    if flt.distributor_id:
        reach.distributor(session, flt.distributor_id)
    if flt.channel_id:
        reach.channel(session, flt.channel_id)
    query = _filtered(flt)
    seller_ids = reach.seller_ids()
    return query if seller_ids is None else query.where(Order.distributor_id.in_(seller_ids))


def _filtered(flt: OrderFilter) -> Select[tuple[Order]]:
    query = select(Order)
    if flt.status:
        query = query.where(Order.status == flt.status)
    if flt.product_id:
        query = query.where(Order.product_id == flt.product_id)
    if flt.contact:
        query = query.where(Order.contact == flt.contact.strip().lower())
    if flt.number:
        query = query.where(Order.number == flt.number.strip().upper())
    if flt.needs_attention is not None:
        query = query.where(Order.needs_attention.is_(flt.needs_attention))
    if flt.created_from:
        query = query.where(Order.created_at >= flt.created_from)
    if flt.created_to:
        query = query.where(Order.created_at < flt.created_to)
    if flt.distributor_id:
        query = query.where(Order.distributor_id == flt.distributor_id)
    if flt.channel_id:
        query = query.where(Order.channel_id == flt.channel_id)
    return query


def get_readable(session: Session, reach: Reach, number: str) -> Order:
    """One order, only if ``reach`` may see it; otherwise it does not exist."""
    order = session.scalar(readable_by(session, reach).where(Order.number == number.strip().upper()))
    if order is None:
        raise errors.NOT_FOUND(resource="order", id=number)
    return order


@dataclass(frozen=True)
class SalesRow:
    key: int | None
    orders: int
    units: int
    amount_minor: int
    currency: str


SOLD = (rules.DELIVERED, rules.COMPLETED, rules.PAID)


def sales_by(session: Session, reach: Reach, flt: OrderFilter = NO_FILTER, *, by: str) -> list[SalesRow]:
    """Sold orders in ``reach`` grouped by ``channel_id`` or ``distributor_id`` (dashboards, reports)."""
    column = {"channel": Order.channel_id, "distributor": Order.distributor_id, "product": Order.product_id}[by]
    sub = readable_by(session, reach, flt).where(Order.status.in_(SOLD)).subquery()
    col = sub.c[column.key]
    query = (
        select(col, func.count(), func.sum(sub.c.quantity), func.sum(sub.c.amount_minor), sub.c.currency)
        .group_by(col, sub.c.currency)
        .order_by(func.sum(sub.c.amount_minor).desc())
    )
    return [SalesRow(k, n, int(u or 0), int(a or 0), c) for k, n, u, a, c in session.execute(query).tuples()]


def list_orders(
    session: Session, reach: Reach, flt: OrderFilter = NO_FILTER, *, limit: int = 50, before_id: int | None = None
) -> list[Order]:
    """Orders in ``reach``, newest first, keyset-paginated by id."""
    query = readable_by(session, reach, flt).order_by(Order.id.desc()).limit(limit)
    if before_id:
        query = query.where(Order.id < before_id)
    return list(session.scalars(query))


def expire_candidates(session: Session, *, now: datetime, limit: int = 500) -> list[Order]:
    query = select(Order).where(Order.status == rules.PENDING, Order.expires_at < now).order_by(Order.id).limit(limit)
    return list(session.scalars(query))


__all__ = ["IllegalTransition", "NewOrder", "OrderFilter"]


@dataclass(frozen=True)
class OrderStats:
    """Dashboard figures for orders placed since an instant."""

    placed: int
    """Orders created, whatever became of them."""
    sold: int
    """Of those, orders that were paid (paid, delivered or completed)."""
    gmv: dict[str, int]
    """Money of the sold ones per currency, in minor units (never mixed across currencies)."""
    needs_attention: int
    """Open problems of any age: money arrived that could not be honoured."""


def stats_since(session: Session, since: datetime) -> OrderStats:
    """Count and sum orders placed since ``since`` in two grouped queries (no row loading)."""
    sold_states = (rules.PAID, rules.DELIVERED, rules.COMPLETED)
    placed = session.scalar(select(func.count()).select_from(Order).where(Order.created_at >= since)) or 0
    sold_query = (
        select(Order.currency, func.count(), func.coalesce(func.sum(Order.amount_minor), 0))
        .where(Order.created_at >= since, Order.status.in_(sold_states))
        .group_by(Order.currency)
    )
    rows = session.execute(sold_query).tuples().all()
    attention = session.scalar(select(func.count()).select_from(Order).where(Order.needs_attention.is_(True))) or 0
    return OrderStats(
        placed=int(placed), sold=sum(int(n) for _, n, _ in rows), gmv={c: int(a) for c, _, a in rows}, needs_attention=int(attention)
    )
