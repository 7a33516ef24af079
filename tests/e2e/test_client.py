"""The ``keyrelay-client`` package against a live server on PostgreSQL.

Purchases return keys; a lost answer is retried with the same Idempotency-Key
and makes one order; errors arrive as typed ``KeyRelayError`` subclasses; pages
are followed; the async client does the same. Also measures the latency of a
signed wholesale order at low load (printed; run with ``-s`` to see it).
"""

from __future__ import annotations

import asyncio
import statistics
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import httpx
import pytest
from keyrelay_client import (
    AsyncClient,
    Client,
    InsufficientBalance,
    NotFoundError,
    OutOfStock,
    PermissionDenied,
    ValidationError,
    WebhookDelivery,
    WebhookVerificationError,
    verify_webhook,
)

from .channel_support import ALL_SCOPES, Distributor, Key, new_distributor, new_key, stocked_product
from .harness import Admin, Deployment, deployments

pytestmark = pytest.mark.e2e

LATENCY_SAMPLES = 50


@dataclass
class World:
    deployment: Deployment
    admin: Admin
    who: Distributor
    key: Key
    product_id: int


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory, test_secrets: dict[str, str]) -> Iterator[World]:
    webhooks = {
        "KEYRELAY_WEBHOOKS_ALLOW_PRIVATE": "true",
        "KEYRELAY_WEBHOOKS_BACKOFF_SCALE": "0.01",
        "KEYRELAY_WORKER_INTERVAL_SECONDS": "0.2",
    }
    factory = deployments(tmp_path_factory, {**test_secrets, **webhooks})
    deployment = next(factory)("postgresql")
    admin = deployment.admin()
    product = stocked_product(admin, 120, price_minor=1500)
    who = new_distributor(deployment, admin, credit_minor=5_000_000)
    yield World(deployment, admin, who, new_key(deployment, who, ALL_SCOPES), product["id"])
    factory.close()


@pytest.fixture
def client(world: World) -> Iterator[Client]:
    with Client(world.deployment.url, world.key.key_id, world.key.secret, timeout=30) as made:
        yield made


def test_catalog_stock_and_wallet(client: Client, world: World) -> None:
    offers = client.list_products()
    mine = next(o for o in offers if o.product_id == world.product_id)
    assert mine.currency == "CNY"
    assert mine.in_stock is not None
    assert mine.in_stock > 0
    assert mine.cost_minor > 0
    assert client.get_product(world.product_id) == mine
    assert {s.product_id: s.in_stock for s in client.stock()}[world.product_id] == mine.in_stock
    changed, cursor = client.sync_products()
    assert cursor
    assert world.product_id in {o.product_id for o in changed}
    wallet = client.wallet()
    assert wallet.currency == "CNY"
    assert wallet.available_minor > 0
    assert client.statement()[0].kind


def test_purchase_returns_keys_and_a_repeated_key_makes_one_order(client: Client, world: World) -> None:
    ref = f"shop-{uuid.uuid4().hex[:8]}"
    before = client.wallet().available_minor
    order = client.purchase(world.product_id, 2, buyer_ref=ref, idempotency_key=ref, declared_retail_minor=1999)
    assert order.status == "delivered"
    assert len(order.keys) == 2
    assert all(k.startswith("CH-") for k in order.keys)
    assert order.buyer_ref == ref
    assert order.declared_retail_minor == 1999
    again = client.purchase(world.product_id, 2, buyer_ref=ref, idempotency_key=ref, declared_retail_minor=1999)
    assert again.number == order.number
    assert again.keys == order.keys
    assert [o.number for o in client.iter_orders() if o.buyer_ref == ref] == [order.number]
    assert client.wallet().available_minor == before - order.amount_minor
    fetched = client.get_order(order.number)
    assert fetched.keys == order.keys
    assert fetched.timeline


class LoseFirstAnswer(httpx.BaseTransport):
    """Deliver the first POST to the server, then drop its answer, as a network cut would."""

    def __init__(self) -> None:
        self.inner = httpx.HTTPTransport()
        self.seen: list[httpx.Request] = []

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        response = self.inner.handle_request(request)
        if request.method == "POST":
            self.seen.append(request)
            if len(self.seen) == 1:
                response.read()
                response.close()
                raise httpx.ReadError("connection reset after the server answered", request=request)
        return response

    def close(self) -> None:
        self.inner.close()


def test_a_lost_answer_is_retried_with_the_same_idempotency_key(world: World) -> None:
    ref = f"lost-{uuid.uuid4().hex[:8]}"
    transport = LoseFirstAnswer()
    with Client(world.deployment.url, world.key.key_id, world.key.secret, transport=transport) as flaky:
        flaky._sleep = lambda _s: None
        order = flaky.purchase(world.product_id, 1, buyer_ref=ref)
        assert len(order.keys) == 1
        assert len(transport.seen) == 2
        first, second = transport.seen
        assert first.headers["Idempotency-Key"] == second.headers["Idempotency-Key"]
        assert first.headers["X-Nonce"] != second.headers["X-Nonce"], "each attempt is signed afresh"
        assert [o.number for o in flaky.iter_orders() if o.buyer_ref == ref] == [order.number]


def test_errors_carry_their_code(client: Client, world: World) -> None:
    with pytest.raises(NotFoundError) as missing:
        client.get_order("KR00000000NOPE")
    assert missing.value.code == "not_found"
    assert missing.value.status == 404
    with pytest.raises(ValidationError) as invalid:
        client.purchase(world.product_id, 0)
    assert invalid.value.code == "validation_failed"
    assert invalid.value.field_errors[0]["field"] == "quantity"
    scarce = stocked_product(world.admin, 2)
    with pytest.raises(OutOfStock) as sold_out:
        client.purchase(scarce["id"], 3)
    assert sold_out.value.code == "out_of_stock"
    assert sold_out.value.params == {"available": 2}
    poor = new_distributor(world.deployment, world.admin)
    poor_key = new_key(world.deployment, poor)
    with Client(world.deployment.url, poor_key.key_id, poor_key.secret) as broke, pytest.raises(InsufficientBalance) as caught:
        broke.purchase(world.product_id, 1)
    assert caught.value.status == 409
    reader = new_key(world.deployment, world.who, ("catalog:read",), name="reader")
    with Client(world.deployment.url, reader.key_id, reader.secret) as read_only, pytest.raises(PermissionDenied) as denied:
        read_only.purchase(world.product_id, 1)
    assert denied.value.code == "missing_scope"


def test_pages_are_followed_to_the_end(client: Client, world: World) -> None:
    refs = [f"page-{uuid.uuid4().hex[:6]}" for _ in range(5)]
    numbers = [client.purchase(world.product_id, 1, buyer_ref=ref).number for ref in refs]
    page = client.list_orders(limit=2)
    assert len(page) == 2
    assert page.next_cursor is not None
    assert [o.number for o in page] == numbers[::-1][:2]
    walked = [o.number for o in client.iter_orders(limit=2)]
    assert walked[:5] == numbers[::-1]
    assert len(walked) == len(set(walked))
    assert all(o.status == "delivered" for o in client.iter_orders(status="delivered", limit=3))
    assert sum(1 for _ in client.iter_order_pages(limit=2)) >= 3


def test_the_async_client(world: World) -> None:
    async def run() -> tuple[list[str], int, list[str]]:
        async with AsyncClient(world.deployment.url, world.key.key_id, world.key.secret) as kr:
            orders = await asyncio.gather(*(kr.purchase(world.product_id, 1, buyer_ref=f"async-{i}") for i in range(3)))
            wallet = await kr.wallet()
            listed = [o.number async for o in kr.iter_orders(limit=2)]
            return [o.number for o in orders if o.keys], wallet.available_minor, listed

    numbers, available, listed = asyncio.run(run())
    assert len(set(numbers)) == 3
    assert available > 0
    assert set(numbers) <= set(listed)


def test_latency_of_a_signed_wholesale_order(client: Client, world: World) -> None:
    """Median and p95 of sequential signed purchases (one key each) at low load; printed for the record."""
    client.purchase(world.product_id, 1, buyer_ref="warm-up")
    samples = []
    for i in range(LATENCY_SAMPLES):
        started = time.perf_counter()
        order = client.purchase(world.product_id, 1, buyer_ref=f"latency-{i}")
        samples.append((time.perf_counter() - started) * 1000)
        assert len(order.keys) == 1
    samples.sort()
    median, p95 = statistics.median(samples), samples[int(len(samples) * 0.95) - 1]
    print(f"\nsigned wholesale order via keyrelay-client, PostgreSQL, n={len(samples)}: median {median:.1f} ms, p95 {p95:.1f} ms")
    assert median < 1000, samples


class Receiver:
    """A local webhook receiver recording every request (headers, raw body)."""

    def __init__(self) -> None:
        self.got: list[tuple[dict[str, str], bytes]] = []
        received = self.got

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("content-length") or 0))
                received.append(({k.lower(): v for k, v in self.headers.items()}, body))
                self.send_response(204)
                self.end_headers()

            def log_message(self, *args: object) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/hooks"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()


def wait_until(check: Callable[[], bool], timeout: float = 20.0) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.1)


def _delivery(client: Client, endpoint_id: str, delivery_id: int) -> WebhookDelivery:
    return next(d for d in client.webhook_deliveries(endpoint_id) if d.id == delivery_id)


def test_webhook_endpoints_and_deliveries(client: Client, world: World) -> None:
    if httpx.get(f"{world.deployment.url}/api/v1/distributor/webhooks", headers=world.who.bearer).status_code == 404:
        pytest.skip("this build has no /api/v1/distributor/webhooks yet")
    receiver = Receiver()
    try:
        made = client.create_webhook(receiver.url, ["webhook.test", "stock.changed"], description="client test")
        assert made.secret is not None
        assert made.secret.startswith("whsec_")
        assert set(made.events) == {"stock.changed", "webhook.test"}
        assert made.id in {e.id for e in client.list_webhooks()}
        assert client.get_webhook(made.id).secret is None, "the secret is shown once"
        assert client.update_webhook(made.id, description="renamed").description == "renamed"

        sent = client.test_webhook(made.id)
        assert sent.event_type == "webhook.test"
        # Sent inline, or by the worker when it claimed the delivery first: wait for the log to say so.
        wait_until(lambda: _delivery(client, made.id, sent.id).status == "succeeded")
        assert _delivery(client, made.id, sent.id).attempts[0].status_code == 204
        headers, body = next((h, b) for h, b in receiver.got if h["webhook-id"] == sent.event_id)
        event = verify_webhook(made.secret, headers, body)
        assert event["type"] == "webhook.test"
        with pytest.raises(WebhookVerificationError):
            verify_webhook(made.secret, headers, body + b" ")

        log = client.webhook_deliveries(made.id)
        assert sent.id in {d.id for d in log}
        again = client.redeliver(sent.id)
        assert again.id == sent.id
        wait_until(lambda: sum(1 for h, _ in receiver.got if h["webhook-id"] == sent.event_id) >= 2)
        assert sum(1 for h, _ in receiver.got if h["webhook-id"] == sent.event_id) == 2, "redelivered with the same webhook-id"

        rotated = client.rotate_webhook_secret(made.id)
        assert rotated.secret.startswith("whsec_")
        assert rotated.secret != made.secret
        client.delete_webhook(made.id)
        with pytest.raises(NotFoundError):
            client.get_webhook(made.id)
    finally:
        receiver.server.shutdown()
