"""Outbox handlers that fan domain events out to webhook endpoints.

Who hears what:

- ``order.delivered`` / ``order.refunded``: the selling distributor and every
  upline of its chain (the orders of their branch); main-site orders: nobody.
- ``stock.changed`` (at most once per product per worker pass, and only when
  the count moved) and ``stock.low`` (when the count falls to the product's
  threshold): every active distributor.
- ``price.changed``: a level price → distributors of that level and deeper
  (their costs derive from it); a parent's child rule → that parent's downline;
  a product's own prices → everyone. Each gets its own new cost.
- ``product.updated``: every active distributor.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from keyrelay.catalog import kinds
from keyrelay.catalog import service as catalog
from keyrelay.catalog.service import Product
from keyrelay.distribution import network, prices
from keyrelay.distribution.network import Distributor
from keyrelay.inventory import service as inventory
from keyrelay.kit import outbox
from keyrelay.kit.db import insert_or_skip
from keyrelay.kit.errors import NotFound
from keyrelay.orders import events as order_events
from keyrelay.orders import service as orders
from keyrelay.orders.service import Order
from keyrelay.webhooks.fanout import Accept, broadcast, listening, to_distributors
from keyrelay.webhooks.models import WebhookStockMark

_STOCK_SEEN = "webhooks.stock_seen"
"""``session.info`` key: products already announced in this drain (one worker pass)."""


def _iso(value: Any) -> str | None:
    return value.isoformat() if value is not None else None


def order_data(order: Order) -> dict[str, Any]:
    """What order events carry: the order's snapshot (see ``orders.events``)."""
    return order_events.snapshot(order)


def _order_event(session: Session, event_type: str, payload: dict[str, Any]) -> None:
    if not listening(session, event_type):  # nobody to tell: no chain to walk
        return
    data = payload.get("snapshot")
    if data is None:  # an event written before snapshots: read the order as it is now
        try:
            data = order_data(orders.get_by_number(session, str(payload["order"])))
        except NotFound:
            return
    if data.get("distributor_id") is None:
        return
    seller = network.get(session, int(data["distributor_id"]))
    to_distributors(session, event_type, network.chain(session, seller), lambda _d: data)


def _heard(*event_types: str) -> outbox.Wants:
    """A subscriber's ``wants``: some enabled endpoint takes one of these event types (read once per pass)."""
    return lambda session: any(listening(session, event_type) for event_type in event_types)


@outbox.subscribe("webhooks.order_delivered", "order.delivered", wants=_heard("order.delivered"))
def on_order_delivered(session: Session, payload: dict[str, Any]) -> None:
    _order_event(session, "order.delivered", payload)


@outbox.subscribe("webhooks.order_refunded", "order.refunded", wants=_heard("order.refunded"))
def on_order_refunded(session: Session, payload: dict[str, Any]) -> None:
    _order_event(session, "order.refunded", payload)


def _stock_mark(session: Session, product_id: int, available: int, is_low: bool) -> tuple[WebhookStockMark | None, bool]:
    """The product's mark, locked; ``(None, True)`` when this call created it."""
    values = {"product_id": product_id, "available": available, "is_low": is_low}
    if insert_or_skip(session, WebhookStockMark, values, ["product_id"]) is not None:
        return None, True
    query = select(WebhookStockMark).where(WebhookStockMark.product_id == product_id).with_for_update()
    return session.scalars(query).one(), False


@outbox.subscribe("webhooks.stock", "stock.changed", wants=_heard("stock.changed", "stock.low"))
def on_stock_changed(session: Session, payload: dict[str, Any]) -> None:
    """Announce the product's current count, once per pass, and the crossing into low stock."""
    product_id = int(payload["product_id"])
    seen: set[int] = session.info.setdefault(_STOCK_SEEN, set())
    if product_id in seen:
        return
    try:
        product = catalog.get_product(session, product_id)
    except NotFound:
        return
    available = inventory.available_counts(session, [product_id])[product_id]
    is_low = available <= product.low_stock_threshold
    mark, created = _stock_mark(session, product_id, available, is_low)
    moved = created or (mark is not None and mark.available != available)
    became_low = is_low and (created or (mark is not None and not mark.is_low))
    if mark is not None:
        mark.available, mark.is_low = available, is_low
    data = {"product_id": product.id, "name": product.name, "in_stock": available, "low_stock_threshold": product.low_stock_threshold}
    if product.is_active and moved:
        broadcast(session, "stock.changed", lambda _d: True, lambda _d: data)
    if product.is_active and became_low:
        broadcast(session, "stock.low", lambda _d: True, lambda _d: data)
    seen.add(product_id)  # only once announced: a failed handler is retried, and must not be skipped then


def offer_data(session: Session, distributor: Distributor, product: Product) -> dict[str, Any]:
    """The product as this distributor's catalog sync shows it (its own cost and retail)."""
    offer = prices.offers(session, distributor, [product])[0]
    in_stock = inventory.available_counts(session, [product.id])[product.id] if kinds.get(product.kind).tracks_stock else None
    return {
        "product_id": product.id,
        "name": product.name,
        "kind": product.kind,
        "is_active": product.is_active,
        "currency": product.currency,
        "cost_minor": offer.cost,
        "map_minor": product.map_minor,
        "max_retail_minor": offer.max_retail,
        "retail_minor": offer.retail,
        "suggested_retail_minor": offer.suggested_retail,
        "in_stock": in_stock,
        "updated_at": _iso(product.updated_at),
    }


def _price_audience(session: Session, payload: dict[str, Any]) -> Accept:
    source = payload.get("source")
    if source == "level":
        level = int(payload["level"])
        return lambda d: d.level >= level
    if source == "parent":
        parent = network.get(session, int(payload["parent_id"]))
        return lambda d: d.id != parent.id and network.in_branch(parent, d)
    return lambda _d: True


@outbox.subscribe("webhooks.price_changed", "price.changed")
def on_price_changed(session: Session, payload: dict[str, Any]) -> None:
    """Each affected distributor gets its new cost; a default-rule change names no product (resync all)."""
    product_id = payload.get("product_id")
    try:
        product = catalog.get_product(session, int(product_id)) if product_id is not None else None
        accept = _price_audience(session, payload)
    except NotFound:
        return
    scope: dict[str, Any] = {k: payload[k] for k in ("source", "level", "parent_id") if k in payload}

    def data_for(distributor: Distributor) -> dict[str, Any]:
        if product is None:
            return {**scope, "product_id": None}
        return {**scope, **offer_data(session, distributor, product)}

    broadcast(session, "price.changed", accept, data_for)


@outbox.subscribe("webhooks.product_updated", "product.updated")
def on_product_updated(session: Session, payload: dict[str, Any]) -> None:
    try:
        product = catalog.get_product(session, int(payload["product_id"]))
    except NotFound:
        return
    change = str(payload.get("change", "updated"))
    broadcast(session, "product.updated", lambda _d: True, lambda d: {"change": change, **offer_data(session, d, product)})
