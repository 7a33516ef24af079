"""Webhooks over real HTTP: a ``keyrelay serve`` process (with its worker) and real receivers on loopback.

The server runs with ``KEYRELAY_WEBHOOKS_ALLOW_PRIVATE=true`` (the receivers
live on 127.0.0.1) and a retry schedule shrunk a hundredfold, so the test sees
in seconds what takes a day in production.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import httpx
import pytest
from standardwebhooks import Webhook
from webhook_receiver import receiver

from .harness import DeployFactory, Deployment, deployments, funded_distributor, make_keys

pytestmark = pytest.mark.e2e
HOOKS = "/api/v1/distributor/webhooks"
WEBHOOK_ENV = {
    "KEYRELAY_WEBHOOKS_ALLOW_PRIVATE": "true",
    "KEYRELAY_WEBHOOKS_BACKOFF_SCALE": "0.01",
    "KEYRELAY_WORKER_INTERVAL_SECONDS": "0.1",
}


@pytest.fixture(scope="module")
def deploy(tmp_path_factory: pytest.TempPathFactory, test_secrets: dict[str, str]) -> Iterator[DeployFactory]:
    """Like the shared fixture, with the webhook settings above."""
    yield from deployments(tmp_path_factory, {**test_secrets, **WEBHOOK_ENV})


@dataclass
class Seller:
    deployment: Deployment
    http: httpx.Client
    """The distributor's bearer-authenticated client."""
    product_id: int


@pytest.fixture(scope="module", params=["sqlite", "postgresql"])
def seller(request: pytest.FixtureRequest, deploy: DeployFactory) -> Seller:
    """A level-1 distributor with money in its wallet and a stocked product it may buy wholesale."""
    deployment = deploy(request.param)
    admin = deployment.admin()
    product = admin.create_product(keys=make_keys(20, prefix="WH"), price_minor=1000, supply_price_minor=600, map_minor=900)
    token, _user_id = funded_distributor(deployment, admin, name="Hook shop", amount_minor=100_000)
    http = deployment.client(headers={"Authorization": f"Bearer {token}"})
    return Seller(deployment, http, product["id"])


def subscribe(seller: Seller, url: str) -> dict[str, Any]:
    made = seller.http.post(HOOKS, json={"url": url, "events": ["order.delivered"]}, headers={"Idempotency-Key": uuid.uuid4().hex})
    assert made.status_code == 201, made.text
    endpoint: dict[str, Any] = made.json()
    return endpoint


def buy(seller: Seller) -> str:
    bought = seller.http.post("/api/v1/distributor/purchases", json={"product_id": seller.product_id, "quantity": 1})
    assert bought.status_code == 201, bought.text
    number: str = bought.json()["order"]["number"]
    return number


def deliveries(seller: Seller, endpoint_id: str) -> list[dict[str, Any]]:
    reply = seller.http.get(f"{HOOKS}/{endpoint_id}/deliveries")
    assert reply.status_code == 200, reply.text
    found: list[dict[str, Any]] = reply.json()
    return found


def test_a_wholesale_purchase_arrives_signed(seller: Seller) -> None:
    with receiver() as rx:
        endpoint = subscribe(seller, rx.url)
        number = buy(seller)
        (got,) = rx.wait_for(1)
        payload = Webhook(endpoint["secret"]).verify(got.body, got.headers)
    assert payload["type"] == "order.delivered"
    assert payload["data"]["number"] == number
    assert payload["data"]["sale_mode"] == "wholesale"
    assert got.headers["webhook-id"].startswith("msg_")
    seller.http.delete(f"{HOOKS}/{endpoint['id']}")


def test_a_receiver_failing_three_times_gets_the_event_exactly_once_more(seller: Seller) -> None:
    with receiver([500, 500, 500]) as rx:
        endpoint = subscribe(seller, rx.url)
        number = buy(seller)
        got = rx.wait_for(4, timeout=30)
        time.sleep(1.5)  # a few more worker passes: nothing else may arrive
        assert len(rx.received) == 4
        log = deliveries(seller, endpoint["id"])

    assert [r.answered for r in got] == [500, 500, 500, 200]
    assert len({r.headers["webhook-id"] for r in got}) == 1
    assert len({r.body for r in got}) == 1
    for request in got:
        assert Webhook(endpoint["secret"]).verify(request.body, request.headers)["data"]["number"] == number
    (delivery,) = log
    assert (delivery["status"], delivery["attempt_count"], delivery["next_attempt_at"]) == ("succeeded", 4, None)
    assert [a["status_code"] for a in delivery["attempts"]] == [500, 500, 500, 200]
    assert [a["succeeded"] for a in delivery["attempts"]] == [False, False, False, True]
    assert delivery["attempts"][0]["response_excerpt"] == "receiver says no"
    assert all(a["latency_ms"] >= 0 for a in delivery["attempts"])
    seller.http.delete(f"{HOOKS}/{endpoint['id']}")


def test_test_event_and_redelivery_from_the_api(seller: Seller) -> None:
    with receiver() as rx:
        endpoint = subscribe(seller, rx.url)
        tested = seller.http.post(f"{HOOKS}/{endpoint['id']}/test")
        assert tested.status_code == 201, tested.text
        assert tested.json()["status"] == "succeeded"
        again = seller.http.post(f"{HOOKS}/deliveries/{tested.json()['id']}/redeliver")
        assert again.status_code == 202, again.text
        first, second = rx.wait_for(2)
    assert first.headers["webhook-id"] == second.headers["webhook-id"]
    assert Webhook(endpoint["secret"]).verify(second.body, second.headers)["type"] == "webhook.test"
    seller.http.delete(f"{HOOKS}/{endpoint['id']}")
