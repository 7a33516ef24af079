"""Scale-out on one PostgreSQL: two API processes and two workers, a flood of purchases, one webhook per sale.

The deployment runs as production would grow it: ``keyrelay serve`` twice
(the first with its in-process worker) and one more ``keyrelay worker``, so
two workers race for the same outbox rows and webhook deliveries. Buyers on
both processes ask for more keys than there are; afterwards every key is sold
exactly once, every sale is answered 201 with its key, every refusal is
``out_of_stock``, and the receiver got each sale's ``order.delivered`` exactly
once (by ``webhook-id`` and by order number).
"""

from __future__ import annotations

import subprocess
import threading
import time
import uuid
from collections import Counter
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor

import httpx
import pytest
from standardwebhooks import Webhook
from webhook_receiver import receiver

from .harness import KEYRELAY, DeployFactory, Deployment, deployments, funded_distributor, make_keys

pytestmark = pytest.mark.e2e
HOOKS = "/api/v1/distributor/webhooks"
PURCHASES = "/api/v1/distributor/purchases"
KEYS, BUYERS = 30, 48
ENV = {"KEYRELAY_WEBHOOKS_ALLOW_PRIVATE": "true", "KEYRELAY_WORKER_INTERVAL_SECONDS": "0.1"}


@pytest.fixture(scope="module")
def deploy(tmp_path_factory: pytest.TempPathFactory, test_secrets: dict[str, str]) -> Iterator[DeployFactory]:
    yield from deployments(tmp_path_factory, {**test_secrets, **ENV})


@pytest.fixture
def second_worker(deploy: DeployFactory) -> Iterator[tuple[Deployment, subprocess.Popen[bytes]]]:
    deployment = deploy("postgresql", servers=2)
    with (deployment.workdir / "worker2.log").open("ab") as log:
        worker = subprocess.Popen(
            [str(KEYRELAY), "worker"], cwd=deployment.workdir, env=deployment.env, stdout=log, stderr=subprocess.STDOUT
        )
    try:
        yield deployment, worker
    finally:
        worker.terminate()
        worker.wait(10)


def _distributor(deployment: Deployment) -> tuple[httpx.Client, httpx.Client, int]:
    """A funded level-1 distributor with a bearer client on each server, and a product of ``KEYS`` keys."""
    admin = deployment.admin()
    product = admin.create_product(keys=make_keys(KEYS, prefix="SCALE"), price_minor=1000, supply_price_minor=600)
    token, _user_id = funded_distributor(deployment, admin, name="Scale shop", amount_minor=1_000_000)
    a, b = (deployment.client(n, headers={"Authorization": f"Bearer {token}"}, timeout=60) for n in (0, 1))
    return a, b, int(product["id"])


def test_two_api_processes_and_two_workers_sell_each_key_once_and_tell_each_sale_once(
    second_worker: tuple[Deployment, subprocess.Popen[bytes]],
) -> None:
    deployment, worker = second_worker
    a, b, product_id = _distributor(deployment)
    with receiver() as rx:
        made = a.post(HOOKS, json={"url": rx.url, "events": ["order.delivered"]}, headers={"Idempotency-Key": uuid.uuid4().hex})
        assert made.status_code == 201, made.text
        secret = made.json()["secret"]
        barrier = threading.Barrier(BUYERS, timeout=30)

        def attempt(n: int) -> httpx.Response:
            client = (a, b)[n % 2]
            body = {"product_id": product_id, "quantity": 1, "buyer_ref": f"flood-{n}"}
            barrier.wait()
            return client.post(PURCHASES, json=body, headers={"Idempotency-Key": uuid.uuid4().hex})

        with ThreadPoolExecutor(BUYERS) as pool:
            replies = list(pool.map(attempt, range(BUYERS)))
        sold = [r.json() for r in replies if r.status_code == 201]
        refused = Counter(r.json()["code"] for r in replies if r.status_code != 201)
        assert len(sold) == KEYS, (len(sold), refused)
        assert refused == {"out_of_stock": BUYERS - KEYS}
        keys = [k for purchase in sold for k in purchase["keys"]]
        assert len(keys) == len(set(keys)) == KEYS, "every key sold exactly once"
        numbers = {purchase["order"]["number"] for purchase in sold}

        got = rx.wait_for(KEYS, timeout=30)
        time.sleep(2.0)  # both workers keep polling: nothing more may arrive
        got = list(rx.received)
    assert worker.poll() is None, "the second worker is still running"
    ids = Counter(r.headers["webhook-id"] for r in got)
    assert len(got) == KEYS, f"{len(got)} deliveries for {KEYS} sales: {[i for i, n in ids.items() if n > 1]}"
    assert set(ids.values()) == {1}
    events = [Webhook(secret).verify(r.body, r.headers) for r in got]
    assert sorted(e["data"]["number"] for e in events) == sorted(numbers)
    assert {e["type"] for e in events} == {"order.delivered"}
    stock = deployment.admin().stock(product_id)  # the operator's view agrees: nothing left, everything sold once
    assert (stock["available"], stock["sold"]) == (0, KEYS), stock
