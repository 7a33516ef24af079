"""The synchronous client."""

from __future__ import annotations

import time
from collections.abc import Iterator, Sequence
from datetime import datetime
from types import TracebackType
from typing import Any, TypeVar

import httpx

from keyrelay_client import _api
from keyrelay_client._core import USER_AGENT, Call, RetryPolicy, build_headers, error_from, sign, transport_error
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

T = TypeVar("T")


class Client:
    """A distributor's signed connection to the Channel API.

    Every request is signed with the key; creating POSTs carry an
    ``Idempotency-Key`` (yours or a fresh UUID) that stays the same on every
    retry, so a retried purchase never buys twice. Use as a context manager or
    call ``close()``.
    """

    def __init__(
        self,
        base_url: str,
        key_id: str,
        secret: str,
        *,
        timeout: float = 30.0,
        max_retries: int = 3,
        max_retry_after: float = 60.0,
        transport: httpx.BaseTransport | None = None,
    ) -> None:
        self.key_id, self._secret = key_id, secret
        self.retry = RetryPolicy(max_retries=max_retries, max_retry_after=max_retry_after)
        self._http = httpx.Client(base_url=base_url, timeout=timeout, transport=transport, headers={"User-Agent": USER_AGENT})
        self._sleep = time.sleep

    def close(self) -> None:
        self._http.close()

    def __enter__(self) -> Client:
        return self

    def __exit__(self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None) -> None:
        self.close()

    def send(self, call: Call[T]) -> T:
        """Send one call with the retry policy; a fresh timestamp, nonce and signature per attempt."""
        attempt = 0
        while True:
            headers = build_headers(call)
            request = self._http.build_request(call.method, call.path, params=call.params, content=call.body or None, headers=headers)
            sign(request, self.key_id, self._secret)
            try:
                response = self._http.send(request)
            except httpx.TransportError as exc:
                delay = self.retry.after_exception(call, attempt)
                if delay is None:
                    raise transport_error(exc, call) from exc
            else:
                if response.is_success:
                    return call.parse(response)
                delay = self.retry.after_response(call, attempt, response)
                if delay is None:
                    raise error_from(response)
            attempt += 1
            self._sleep(delay)

    def request(
        self,
        method: str,
        path: str,
        *,
        json: dict[str, Any] | None = None,
        params: dict[str, Any] | None = None,
        idempotency_key: str | None = None,
    ) -> Any:
        """Any other endpoint (``path`` under ``/api/v1``); the parsed JSON answer.

        A POST or PATCH is retried only when you give it an ``idempotency_key``.
        """
        return self.send(_api.raw(method, path, json=json, params=params, idempotency_key=idempotency_key))

    # --- catalog ---------------------------------------------------------------------------
    def list_products(self, updated_since: datetime | str | None = None) -> list[Offer]:
        """Products you may sell, with your cost, MAP, ceiling, retail and stock."""
        return self.send(_api.list_products(updated_since))

    def sync_products(self, updated_since: datetime | str | None = None) -> tuple[list[Offer], str]:
        """Products changed since the cursor, and the cursor to pass next time."""
        return self.send(_api.sync_products(updated_since))

    def get_product(self, product_id: int) -> Offer:
        return self.send(_api.get_product(product_id))

    def stock(self) -> list[StockLevel]:
        """Available keys of every card-key product (cheap to poll)."""
        return self.send(_api.stock())

    # --- orders ----------------------------------------------------------------------------
    def purchase(
        self,
        product_id: int,
        quantity: int = 1,
        channel_id: int | None = None,
        declared_retail_minor: int | None = None,
        buyer_ref: str | None = None,
        idempotency_key: str | None = None,
    ) -> Order:
        """Buy wholesale from your balance; the returned order carries the keys.

        Pass your own ``idempotency_key`` (e.g. your shop's order id) to make the
        purchase safe to repeat across restarts: the same key always yields the same order.
        Needs the ``orders:write`` scope. A key bound to a channel sells only there:
        another ``channel_id`` raises ``PermissionDenied`` (``channel_mismatch``).
        """
        return self.send(
            _api.purchase(
                product_id,
                quantity,
                channel_id=channel_id,
                declared_retail_minor=declared_retail_minor,
                buyer_ref=buyer_ref,
                idempotency_key=idempotency_key,
            )
        )

    def get_order(self, number: str) -> Order:
        return self.send(_api.get_order(number))

    def list_orders(
        self,
        status: str | None = None,
        before_id: int | None = None,
        *,
        limit: int = 50,
        channel_id: int | None = None,
        distributor_id: int | None = None,
    ) -> Page[Order]:
        """One page of your branch's orders, newest first.

        A ``channel_id`` or ``distributor_id`` outside your branch raises ``NotFoundError``, like one that does not exist.
        """
        call = _api.list_orders(status=status, before_id=before_id, limit=limit, channel_id=channel_id, distributor_id=distributor_id)
        return self.send(call)

    def iter_order_pages(self, status: str | None = None, *, limit: int = 50, **filters: int | None) -> Iterator[Page[Order]]:
        """Every page, following the cursor until the last."""
        cursor: int | None = None
        while True:
            page = self.list_orders(status, cursor, limit=limit, **filters)
            yield page
            if page.next_cursor is None:
                return
            cursor = page.next_cursor

    def iter_orders(self, status: str | None = None, *, limit: int = 50, **filters: int | None) -> Iterator[Order]:
        """Every order of your branch, newest first, fetched page by page."""
        for page in self.iter_order_pages(status, limit=limit, **filters):
            yield from page.items

    # --- money -----------------------------------------------------------------------------
    def wallet(self, currency: str = "CNY") -> Wallet:
        return self.send(_api.wallet(currency))

    def statement(self, currency: str = "CNY", account: str = "available") -> list[StatementLine]:
        return self.send(_api.statement(currency, account))

    # --- webhooks --------------------------------------------------------------------------
    def create_webhook(
        self, url: str, events: Sequence[str] = (), *, description: str | None = None, idempotency_key: str | None = None
    ) -> WebhookEndpoint:
        """Register an endpoint (``events`` empty: every type). Keep the returned ``secret`` to verify deliveries."""
        return self.send(_api.create_webhook(url, events, description=description, idempotency_key=idempotency_key))

    def list_webhooks(self) -> list[WebhookEndpoint]:
        return self.send(_api.list_webhooks())

    def get_webhook(self, endpoint_id: str) -> WebhookEndpoint:
        return self.send(_api.get_webhook(endpoint_id))

    def update_webhook(self, endpoint_id: str, **changes: Any) -> WebhookEndpoint:
        """Change ``url``, ``events``, ``description`` or ``enabled`` (only the ones given)."""
        return self.send(_api.update_webhook(endpoint_id, changes))

    def delete_webhook(self, endpoint_id: str) -> None:
        self.send(_api.delete_webhook(endpoint_id))

    def rotate_webhook_secret(self, endpoint_id: str) -> WebhookSecret:
        """A new secret, shown once; deliveries carry signatures by both for a while."""
        return self.send(_api.rotate_webhook_secret(endpoint_id))

    def test_webhook(self, endpoint_id: str) -> WebhookDelivery:
        """Send a ``webhook.test`` event to the endpoint now; the delivery shows what it answered."""
        return self.send(_api.test_webhook(endpoint_id))

    def webhook_deliveries(
        self, endpoint_id: str, *, status: str | None = None, before_id: int | None = None, limit: int = 20
    ) -> Page[WebhookDelivery]:
        """The delivery log of an endpoint, newest first, with every attempt."""
        return self.send(_api.webhook_deliveries(endpoint_id, status=status, before_id=before_id, limit=limit))

    def redeliver(self, delivery_id: int) -> WebhookDelivery:
        """Send a delivery again (any status), with a fresh retry schedule."""
        return self.send(_api.redeliver(delivery_id))
