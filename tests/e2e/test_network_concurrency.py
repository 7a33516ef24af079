"""50 concurrent wholesale purchases by one distributor whose wallet covers exactly 17.

Two ``keyrelay serve`` processes on one PostgreSQL database; the requests are
spread over both. Exactly 17 succeed with their key, the other 33 are 409
``insufficient_balance``, the wallet ends at 0 and never reads negative
(a poller reads it throughout), and the books check out.
"""

from __future__ import annotations

import threading
import time
import uuid
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import httpx
import pytest

from .harness import DeployFactory, Deployment, make_keys

pytestmark = pytest.mark.e2e

ATTEMPTS, AFFORDABLE, STOCK = 50, 17, 60
SUPPLY, PRICE = 600, 1000
UNIT_COST = 750  # level-1 list: supply + 25 %


def _distributor(deployment: Deployment, admin_http: httpx.Client) -> tuple[str, int]:
    """Invite + join through the API; returns the distributor's bearer token and user id."""
    invite = admin_http.post("/api/v1/admin/invites", json={})
    assert invite.status_code == 201, invite.text
    tag = uuid.uuid4().hex[:8]
    email, password = f"dist-{tag}@example.com", "distributor-pass-1"
    joined = httpx.post(
        f"{deployment.url}/api/v1/join",
        json={"code": invite.json()["code"], "email": email, "password": password, "name": "Race shop", "slug": f"race-{tag}"},
    )
    assert joined.status_code == 201, joined.text
    login = httpx.post(f"{deployment.url}/api/v1/auth/token", json={"email": email, "password": password})
    assert login.status_code == 200, login.text
    token = login.json()["access_token"]
    me = httpx.get(f"{deployment.url}/api/v1/me/wallet", headers={"Authorization": f"Bearer {token}"})
    assert me.status_code == 200, me.text
    return token, int(me.json()["user_id"])


def _buy(url: str, token: str, product_id: int, barrier: threading.Barrier) -> httpx.Response:
    with httpx.Client(base_url=url, timeout=60, headers={"Authorization": f"Bearer {token}"}) as http:
        barrier.wait()
        return http.post("/api/v1/distributor/purchases", json={"product_id": product_id, "quantity": 1})


def _poll_wallet(url: str, token: str, stop: threading.Event, seen: list[int]) -> None:
    with httpx.Client(base_url=url, timeout=30, headers={"Authorization": f"Bearer {token}"}) as http:
        while not stop.is_set():
            reply = http.get("/api/v1/distributor/wallet")
            assert reply.status_code == 200, reply.text
            seen.append(int(reply.json()["available_minor"]))


def test_wholesale_race_postgresql_two_processes(deploy: DeployFactory) -> None:
    deployment = deploy("postgresql", servers=2)
    admin = deployment.admin()
    product = admin.create_product(
        keys=make_keys(STOCK, prefix="WHS"), price_minor=PRICE, supply_price_minor=SUPPLY, map_minor=900, max_per_order=10
    )
    rule = {"level": 1, "product_id": product["id"], "rule": "markup_pct", "value": 2500}
    assert admin.http.put("/api/v1/admin/level-prices", json=rule).status_code == 200
    token, user_id = _distributor(deployment, admin.http)
    credit = admin.http.post(f"/api/v1/admin/wallets/{user_id}/credit", json={"amount_minor": AFFORDABLE * UNIT_COST})
    assert credit.status_code == 200, credit.text
    assert credit.json()["balance_minor"] == AFFORDABLE * UNIT_COST

    urls = deployment.urls
    seen: list[int] = []
    stop = threading.Event()
    poller = threading.Thread(target=_poll_wallet, args=(urls[1], token, stop, seen), daemon=True)
    barrier = threading.Barrier(ATTEMPTS, timeout=30)
    poller.start()
    started = time.perf_counter()
    with ThreadPoolExecutor(max_workers=ATTEMPTS) as pool:
        futures = [pool.submit(_buy, urls[i % len(urls)], token, product["id"], barrier) for i in range(ATTEMPTS)]
        replies = [f.result() for f in futures]
    elapsed = time.perf_counter() - started
    stop.set()
    poller.join(10)

    statuses = Counter(r.status_code for r in replies)
    codes = Counter(r.json().get("code") for r in replies if r.status_code != 201)
    bought = [r.json() for r in replies if r.status_code == 201]
    print(
        f"\nwholesale race [postgresql, {len(urls)} processes]: {ATTEMPTS} purchases for {AFFORDABLE}, {elapsed:.2f}s; "
        f"successes {statuses[201]}, failures {ATTEMPTS - statuses[201]} {dict(codes)}, "
        f"min balance seen {min(seen) if seen else 'n/a'} over {len(seen)} reads"
    )
    assert not [r.text for r in replies if r.status_code >= 500]
    assert statuses == Counter({201: AFFORDABLE, 409: ATTEMPTS - AFFORDABLE})
    assert codes == Counter({"insufficient_balance": ATTEMPTS - AFFORDABLE})
    assert all(body["order"]["status"] == "delivered" and len(body["keys"]) == 1 for body in bought)
    assert all(body["order"]["amount_minor"] == UNIT_COST for body in bought)
    assert len({key for body in bought for key in body["keys"]}) == AFFORDABLE
    assert seen
    assert min(seen) >= 0

    final = httpx.get(f"{deployment.url}/api/v1/distributor/wallet", headers={"Authorization": f"Bearer {token}"}).json()
    assert (final["available_minor"], final["pending_minor"], final["locked_minor"]) == (0, 0, 0)
    stock = admin.stock(product["id"])
    assert (stock["available"], stock["reserved"], stock["sold"]) == (STOCK - AFFORDABLE, 0, AFFORDABLE)
    books: dict[str, Any] = admin.http.get("/api/v1/admin/ledger/check").json()
    assert books["ok"], books
