"""The Channel API operations, each described once as a ``Call``; both clients send them."""

from __future__ import annotations

import json as _json
import uuid
from collections.abc import Sequence
from datetime import datetime
from typing import Any

import httpx

from keyrelay_client._core import API, Call, json_body, query, segment
from keyrelay_client.models import (
    Offer,
    Order,
    Page,
    StatementLine,
    StockLevel,
    Wallet,
    WebhookDelivery,
    WebhookEndpoint,
    WebhookSecret,
)

D = f"{API}/distributor"


def _new_key() -> str:
    return str(uuid.uuid4())


def raw(method: str, path: str, *, json: dict[str, Any] | None, params: dict[str, Any] | None, idempotency_key: str | None) -> Call[Any]:
    body = _json.dumps(json, separators=(",", ":")).encode() if json is not None else b""
    return Call(method.upper(), API + path, lambda r: r.json() if r.content else None, query(**(params or {})), body, idempotency_key)


def _offers(response: httpx.Response) -> list[Offer]:
    return [Offer.from_dict(item) for item in response.json()]


def list_products(updated_since: datetime | str | None = None) -> Call[list[Offer]]:
    return Call("GET", f"{D}/products", _offers, query(updated_since=updated_since))


def sync_products(updated_since: datetime | str | None = None) -> Call[tuple[list[Offer], str]]:
    def parse(response: httpx.Response) -> tuple[list[Offer], str]:
        return _offers(response), response.headers.get("x-sync-cursor", "")

    return Call("GET", f"{D}/products", parse, query(updated_since=updated_since))


def get_product(product_id: int) -> Call[Offer]:
    return Call("GET", f"{D}/products/{segment(product_id)}", lambda r: Offer.from_dict(r.json()))


def stock() -> Call[list[StockLevel]]:
    return Call("GET", f"{D}/stock", lambda r: [StockLevel.from_dict(i) for i in r.json()])


def purchase(
    product_id: int,
    quantity: int,
    *,
    channel_id: int | None,
    declared_retail_minor: int | None,
    buyer_ref: str | None,
    idempotency_key: str | None,
) -> Call[Order]:
    body = json_body(
        {
            "product_id": product_id,
            "quantity": quantity,
            "channel_id": channel_id,
            "declared_retail_minor": declared_retail_minor,
            "buyer_ref": buyer_ref,
        }
    )
    return Call("POST", f"{D}/purchases", lambda r: Order.from_detail(r.json()), body=body, idempotency_key=idempotency_key or _new_key())


def get_order(number: str) -> Call[Order]:
    return Call("GET", f"{D}/orders/{segment(number)}", lambda r: Order.from_detail(r.json()))


def list_orders(
    *, status: str | None, before_id: int | None, limit: int, channel_id: int | None, distributor_id: int | None
) -> Call[Page[Order]]:
    def parse(response: httpx.Response) -> Page[Order]:
        cursor = response.headers.get("x-next-cursor")
        return Page([Order.from_dict(o) for o in response.json()], int(cursor) if cursor else None)

    params = query(status=status, before_id=before_id, limit=limit, channel_id=channel_id, distributor_id=distributor_id)
    return Call("GET", f"{D}/orders", parse, params)


def wallet(currency: str) -> Call[Wallet]:
    return Call("GET", f"{D}/wallet", lambda r: Wallet.from_dict(r.json()), query(currency=currency))


def statement(currency: str, account: str) -> Call[list[StatementLine]]:
    params = query(currency=currency, account=account)
    return Call("GET", f"{D}/wallet/statement", lambda r: [StatementLine.from_dict(i) for i in r.json()], params)


# --- webhooks -------------------------------------------------------------------------------

W = f"{D}/webhooks"


def _endpoint(response: httpx.Response) -> WebhookEndpoint:
    return WebhookEndpoint.from_dict(response.json())


def _delivery(response: httpx.Response) -> WebhookDelivery:
    return WebhookDelivery.from_json(response.json())


def create_webhook(url: str, events: Sequence[str], *, description: str | None, idempotency_key: str | None) -> Call[WebhookEndpoint]:
    body = json_body({"url": url, "events": list(events), "description": description})
    return Call("POST", W, _endpoint, body=body, idempotency_key=idempotency_key or _new_key())


def list_webhooks() -> Call[list[WebhookEndpoint]]:
    return Call("GET", W, lambda r: [WebhookEndpoint.from_dict(i) for i in r.json()])


def get_webhook(endpoint_id: str) -> Call[WebhookEndpoint]:
    return Call("GET", f"{W}/{segment(endpoint_id)}", _endpoint)


def update_webhook(endpoint_id: str, changes: dict[str, Any]) -> Call[WebhookEndpoint]:
    # The PATCH sets fields to values, so repeating it is harmless: it may be retried.
    return Call("PATCH", f"{W}/{segment(endpoint_id)}", _endpoint, body=json_body(changes), repeatable=True)


def delete_webhook(endpoint_id: str) -> Call[None]:
    return Call("DELETE", f"{W}/{segment(endpoint_id)}", lambda r: None)


def rotate_webhook_secret(endpoint_id: str) -> Call[WebhookSecret]:
    return Call("POST", f"{W}/{segment(endpoint_id)}/rotate-secret", lambda r: WebhookSecret.from_dict(r.json()))


def test_webhook(endpoint_id: str) -> Call[WebhookDelivery]:
    return Call("POST", f"{W}/{segment(endpoint_id)}/test", _delivery)


def webhook_deliveries(endpoint_id: str, *, status: str | None, before_id: int | None, limit: int) -> Call[Page[WebhookDelivery]]:
    def parse(response: httpx.Response) -> Page[WebhookDelivery]:
        cursor = response.headers.get("x-next-cursor")
        return Page([WebhookDelivery.from_json(d) for d in response.json()], int(cursor) if cursor else None)

    params = query(status=status, before_id=before_id, limit=limit)
    return Call("GET", f"{W}/{segment(endpoint_id)}/deliveries", parse, params)


def redeliver(delivery_id: int) -> Call[WebhookDelivery]:
    # Redelivery puts the delivery back to "due now": doing it twice leaves the same state, so it may be retried.
    return Call("POST", f"{W}/deliveries/{segment(delivery_id)}/redeliver", _delivery, repeatable=True)
