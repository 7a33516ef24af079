"""Races made to happen: many buyers, real threads, one or two server processes.

A flash sale must never oversell (each key delivered at most once, stock never
negative) and a wallet must never be overdrawn, whichever process serves whom.
"""

from __future__ import annotations

import threading
import time
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

import httpx
import pytest

from .harness import DeployFactory, Deployment, make_keys, pay_with_sandbox, wait_for_status

pytestmark = pytest.mark.e2e


@dataclass
class Outcome:
    """One buyer's result: the checkout status and, if it went through, the delivered keys."""

    status: int
    code: str | None = None
    keys: list[str] = field(default_factory=list)


def _start_together(count: int) -> threading.Barrier:
    return threading.Barrier(count, timeout=30)


def _flash_buyer(url: str, product_id: int, index: int, barrier: threading.Barrier) -> Outcome:
    with httpx.Client(base_url=url, timeout=60) as http:
        barrier.wait()
        placed = http.post("/api/v1/orders", json={"product_id": product_id, "quantity": 1, "contact": f"fan{index}@example.com"})
        if placed.status_code != 201:
            code = placed.json().get("code") if placed.headers.get("content-type", "").startswith("application/problem+json") else None
            return Outcome(placed.status_code, code)
        body = placed.json()
        pay_with_sandbox(http, body["payment_url"])
        done = wait_for_status(http, body["order"]["number"], body["access_token"], "delivered", timeout=20)
        return Outcome(201, keys=done["keys"])


def run_flash_sale(deployment: Deployment, *, keys: int = 20, buyers: int = 50) -> None:
    admin = deployment.admin()
    imported = make_keys(keys, prefix="FLASH")
    product = admin.create_product(keys=imported, price_minor=500)
    barrier = _start_together(buyers)
    urls = deployment.urls
    started = time.perf_counter()
    with ThreadPoolExecutor(max_workers=buyers) as pool:
        futures = [pool.submit(_flash_buyer, urls[i % len(urls)], product["id"], i, barrier) for i in range(buyers)]
        outcomes = [f.result() for f in futures]
    elapsed = time.perf_counter() - started

    statuses = Counter(o.status for o in outcomes)
    codes = Counter(o.code for o in outcomes if o.status != 201)
    delivered = [k for o in outcomes for k in o.keys]
    print(
        f"\nflash sale [{deployment.backend}, {len(urls)} process(es)]: {buyers} buyers, {keys} keys, "
        f"{elapsed:.2f}s; delivered {statuses[201]}, out_of_stock {codes['out_of_stock']}, statuses {dict(statuses)}"
    )
    assert not [o for o in outcomes if o.status >= 500], outcomes
    assert statuses[201] == keys
    assert codes == Counter({"out_of_stock": buyers - keys}), codes
    assert statuses[409] == buyers - keys
    assert len(delivered) == keys
    assert len(set(delivered)) == keys
    assert set(delivered) == set(imported)
    stock = admin.stock(product["id"])
    assert (stock["available"], stock["reserved"], stock["sold"]) == (0, 0, keys)


def test_flash_sale_postgresql_two_processes(deploy: DeployFactory) -> None:
    run_flash_sale(deploy("postgresql", servers=2))


def test_flash_sale_sqlite(deploy: DeployFactory) -> None:
    run_flash_sale(deploy("sqlite", servers=1))


def _wallet_buyer(url: str, token: str, product_id: int, barrier: threading.Barrier) -> httpx.Response:
    with httpx.Client(base_url=url, timeout=60, headers={"Authorization": f"Bearer {token}"}) as http:
        barrier.wait()
        return http.post(
            "/api/v1/orders",
            json={"product_id": product_id, "quantity": 1, "contact": "spender@example.com", "payment_provider": "balance"},
        )


def test_wallet_never_overdrawn_postgresql_two_processes(deploy: DeployFactory) -> None:
    deployment = deploy("postgresql", servers=2)
    admin = deployment.admin()
    price, attempts, affordable = 700, 10, 4
    product = admin.create_product(keys=make_keys(20, prefix="WAL"), price_minor=price)
    buyer = admin.create_user("spender@example.com", "spender-password-1")
    credit = admin.http.post(f"/api/v1/admin/wallets/{buyer['id']}/credit", json={"amount_minor": affordable * price})
    assert credit.status_code == 200, credit.text
    assert credit.json()["balance_minor"] == affordable * price

    login = httpx.post(f"{deployment.url}/api/v1/auth/token", json={"email": "spender@example.com", "password": "spender-password-1"})
    assert login.status_code == 200, login.text
    token = login.json()["access_token"]

    barrier = _start_together(attempts)
    urls = deployment.urls
    started = time.perf_counter()
    with ThreadPoolExecutor(max_workers=attempts) as pool:
        futures = [pool.submit(_wallet_buyer, urls[i % len(urls)], token, product["id"], barrier) for i in range(attempts)]
        replies = [f.result() for f in futures]
    elapsed = time.perf_counter() - started

    statuses = Counter(r.status_code for r in replies)
    print(
        f"\nwallet race [postgresql, {len(urls)} processes]: {attempts} orders for {affordable}, {elapsed:.2f}s, statuses {dict(statuses)}"
    )
    assert not [r for r in replies if r.status_code >= 500], [r.text for r in replies]
    paid = [r.json() for r in replies if r.status_code == 201]
    refused = [r for r in replies if r.status_code != 201]
    assert len(paid) == affordable
    assert all(body["order"]["status"] == "delivered" and body["payment_url"] is None for body in paid)
    assert len(refused) == attempts - affordable
    for reply in refused:
        assert reply.status_code == 409
        assert reply.headers["content-type"].startswith("application/problem+json")
        assert reply.json()["code"] == "insufficient_balance"

    wallet = httpx.get(f"{deployment.url}/api/v1/me/wallet", headers={"Authorization": f"Bearer {token}"})
    assert wallet.status_code == 200, wallet.text
    assert wallet.json()["balance_minor"] == 0
    stock = admin.stock(product["id"])
    assert (stock["available"], stock["reserved"], stock["sold"]) == (20 - affordable, 0, affordable)
    books: dict[str, Any] = admin.http.get("/api/v1/admin/ledger/check").json()
    assert books["ok"], books
    assert deployment.cli("ledger", "check").returncode == 0

    # Each paid order shows its key to its buyer.
    for body in paid:
        with httpx.Client(base_url=deployment.url) as http:
            assert len(wait_for_status(http, body["order"]["number"], body["access_token"])["keys"]) == 1
