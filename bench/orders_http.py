"""Concurrent buyers placing and paying orders against a running KeyRelay.

    keyrelay user create --role operator --email ops@example.com --password ...
    keyrelay serve --port 8000 &
    python bench/orders_http.py --url http://127.0.0.1:8000 --email ops@example.com --password ... \\
        --clients 16 --orders 400

Each client loops: POST /api/v1/orders (quantity 1, sandbox payment), then
presses Pay on the sandbox gateway (POST /pay/sandbox/<number>), which makes the
server send itself a signed notification. With operator credentials the script
first creates a product with enough keys; otherwise pass --product-id. Several
--url values spread the clients over several server processes. It prints
orders/s and p50/p95 latencies, then waits until every paid order is delivered.
"""

from __future__ import annotations

import argparse
import itertools
import statistics
import sys
import threading
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field

import httpx


@dataclass
class Tally:
    """Per-client results; merged at the end (no shared lock on the hot path)."""

    place: list[float] = field(default_factory=list)
    pay: list[float] = field(default_factory=list)
    orders: list[tuple[str, str, str]] = field(default_factory=list)  # (url, number, token)
    errors: dict[str, int] = field(default_factory=dict)


def setup_product(url: str, email: str, password: str, keys: int) -> int:
    with httpx.Client(base_url=url, timeout=120) as http:
        token = http.post("/api/v1/auth/token", json={"email": email, "password": password})
        token.raise_for_status()
        http.headers["Authorization"] = f"Bearer {token.json()['access_token']}"
        tag = uuid.uuid4().hex[:8]
        category = http.post("/api/v1/admin/categories", json={"name": f"Bench {tag}", "slug": f"bench-{tag}"})
        category.raise_for_status()
        product = http.post(
            "/api/v1/admin/products",
            json={"category_id": category.json()["id"], "name": f"Bench {tag}", "slug": f"bench-{tag}", "price_minor": 100},
        )
        product.raise_for_status()
        text = "\n".join(f"BENCH-{tag}-{i:08d}" for i in range(keys))
        imported = http.post(f"/api/v1/admin/products/{product.json()['id']}/keys", json={"text": text})
        imported.raise_for_status()
        return int(product.json()["id"])


def client_loop(url: str, product_id: int, tickets: itertools.count[int], total: int, tally: Tally, start: threading.Barrier) -> None:
    with httpx.Client(base_url=url, timeout=60) as http:
        start.wait()
        while (n := next(tickets)) < total:
            began = time.perf_counter()
            placed = http.post("/api/v1/orders", json={"product_id": product_id, "quantity": 1, "contact": f"bench{n}@example.com"})
            placed_at = time.perf_counter()
            tally.place.append(placed_at - began)
            if placed.status_code != 201:
                key = f"place {placed.status_code} {placed.json().get('code', '') if placed.content else ''}"
                tally.errors[key] = tally.errors.get(key, 0) + 1
                continue
            number = placed.json()["order"]["number"]
            paid = http.post(f"/pay/sandbox/{number}", data={"action": "pay", "return_to": "/"}, follow_redirects=False)
            tally.pay.append(time.perf_counter() - placed_at)
            if paid.status_code != 303:
                key = f"pay {paid.status_code}"
                tally.errors[key] = tally.errors.get(key, 0) + 1
                continue
            tally.orders.append((url, number, placed.json()["access_token"]))


def percentile(values: list[float], q: int) -> float:
    """The q-th percentile (1..99) of ``values``."""
    if len(values) < 2:
        return values[0] if values else float("nan")
    return statistics.quantiles(values, n=100, method="inclusive")[q - 1]


def wait_delivered(orders: list[tuple[str, str, str]], timeout: float) -> tuple[int, float]:
    """How many orders reached ``delivered`` within ``timeout`` seconds, and when the last one did."""
    pending = list(orders)
    began = time.perf_counter()
    with httpx.Client(timeout=30) as http:
        while pending and time.perf_counter() - began < timeout:
            still = []
            for url, number, token in pending:
                status = http.get(f"{url}/api/v1/orders/{number}", params={"token": token}).json()["order"]["status"]
                if status != "delivered":
                    still.append((url, number, token))
            pending = still
            if pending:
                time.sleep(0.5)
    return len(orders) - len(pending), time.perf_counter() - began


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--url", action="append", required=True, help="server base URL; repeat for several processes")
    parser.add_argument("--clients", type=int, default=16)
    parser.add_argument("--orders", type=int, default=400)
    parser.add_argument("--product-id", type=int)
    parser.add_argument("--email", help="operator e-mail, to create a bench product")
    parser.add_argument("--password", help="operator password")
    parser.add_argument("--wait", type=float, default=60, help="seconds to wait for deliveries afterwards (0: do not wait)")
    args = parser.parse_args()

    product_id = args.product_id
    if product_id is None:
        if not (args.email and args.password):
            sys.exit("give --product-id, or --email and --password of an operator to create a bench product")
        product_id = setup_product(args.url[0], args.email, args.password, args.orders)

    tallies = [Tally() for _ in range(args.clients)]
    tickets = itertools.count()
    start = threading.Barrier(args.clients + 1)
    with ThreadPoolExecutor(max_workers=args.clients) as pool:
        futures = [
            pool.submit(client_loop, args.url[i % len(args.url)], product_id, tickets, args.orders, tallies[i], start)
            for i in range(args.clients)
        ]
        start.wait()
        began = time.perf_counter()
        for future in futures:
            future.result()
        elapsed = time.perf_counter() - began

    place = [t for tally in tallies for t in tally.place]
    pay = [t for tally in tallies for t in tally.pay]
    orders = [o for tally in tallies for o in tally.orders]
    errors: dict[str, int] = {}
    for tally in tallies:
        for key, count in tally.errors.items():
            errors[key] = errors.get(key, 0) + count

    def ms(values: list[float], q: int) -> str:
        return f"{1000 * percentile(values, q):.1f}"

    print(f"servers: {len(args.url)}  clients: {args.clients}  orders: {args.orders}  product: {product_id}")
    print(f"placed+paid {len(orders)} in {elapsed:.2f} s = {len(orders) / elapsed:.1f} orders/s (errors: {errors or 'none'})")
    print(f"latency ms  place p50 {ms(place, 50)} p95 {ms(place, 95)}  |  pay p50 {ms(pay, 50)} p95 {ms(pay, 95)}")
    if args.wait > 0 and orders:
        delivered, waited = wait_delivered(orders, args.wait)
        print(f"delivered {delivered}/{len(orders)} (all settled {waited:.1f} s after the last payment)")


if __name__ == "__main__":
    main()
