"""The load generator: C keep-alive clients sending signed wholesale purchases for T seconds.

Run as its own process (``python -m keyrelay.bench.load PLAN URL --clients C
--seconds T --out FILE``) so its CPU is never the server's. Every request is
signed afresh (timestamp, nonce, body hash) with its own Idempotency-Key, as
a channel integration sends it. It writes one JSON document: successes,
errors by problem code, keys received and latency percentiles.
"""

from __future__ import annotations

import argparse
import asyncio
import hashlib
import hmac
import json
import random
import secrets
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aiohttp

from keyrelay.bench.scenario import SCENARIOS, Buyer, Plan

PATH = "/api/v1/distributor/purchases"


@dataclass
class Outcome:
    ok: int = 0
    keys: int = 0
    errors: Counter[str] = field(default_factory=Counter)
    latencies: list[float] = field(default_factory=list)

    def summary(self, elapsed: float) -> dict[str, Any]:
        ordered = sorted(self.latencies)
        return {
            "ok": self.ok,
            "keys": self.keys,
            "errors": dict(self.errors),
            "elapsed_s": elapsed,
            "per_s": self.ok / elapsed if elapsed else 0.0,
            **{f"p{q}_ms": _quantile(ordered, q / 100) * 1000 for q in (50, 95, 99)},
        }


def _quantile(ordered: list[float], q: float) -> float:
    if not ordered:
        return 0.0
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def signed_headers(buyer: Buyer, body: bytes) -> dict[str, str]:
    """The Channel API signature (docs/channel-api.md): HMAC-SHA256 over method, path, timestamp, nonce and body hash."""
    timestamp, nonce = str(int(time.time())), secrets.token_hex(16)
    message = "\n".join(["POST", PATH, timestamp, nonce, hashlib.sha256(body).hexdigest()]).encode()
    signature = hmac.new(buyer.secret.encode(), message, hashlib.sha256).hexdigest()
    return {
        "X-Key-Id": buyer.key_id,
        "X-Timestamp": timestamp,
        "X-Nonce": nonce,
        "X-Signature": signature,
        "Idempotency-Key": secrets.token_hex(16),
        "Content-Type": "application/json",
    }


async def _client(http: aiohttp.ClientSession, url: str, buyers: list[Buyer], products: list[int], deadline: float, out: Outcome) -> None:
    draw = random.Random()  # noqa: S311 - picks a buyer and a product, nothing secret
    while time.perf_counter() < deadline:
        buyer = draw.choice(buyers)
        body = json.dumps({"product_id": draw.choice(products), "quantity": 1}).encode()
        start = time.perf_counter()
        try:
            async with http.post(url + PATH, data=body, headers=signed_headers(buyer, body)) as reply:
                answer = await reply.json(content_type=None)
                status = reply.status
        except (TimeoutError, aiohttp.ClientError, ValueError) as exc:
            out.errors[f"transport:{type(exc).__name__}"] += 1
            continue
        out.latencies.append(time.perf_counter() - start)
        if status == 201:
            out.ok += 1
            out.keys += len(answer.get("keys") or [])
        else:
            out.errors[str(answer.get("code") if isinstance(answer, dict) else status)] += 1


async def drive(plan: Plan, urls: list[str], *, clients: int, seconds: float) -> dict[str, Any]:
    buyers, products = plan.chosen(SCENARIOS.get(plan.scenario, SCENARIOS["spread"]))
    out = Outcome()
    timeout = aiohttp.ClientTimeout(total=60)
    connector = aiohttp.TCPConnector(limit=clients, limit_per_host=clients)
    async with aiohttp.ClientSession(connector=connector, timeout=timeout) as http:
        started = time.perf_counter()
        deadline = started + seconds
        await asyncio.gather(*(_client(http, urls[n % len(urls)], buyers, products, deadline, out) for n in range(clients)))
        elapsed = time.perf_counter() - started
    return out.summary(elapsed)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("plan", type=Path)
    parser.add_argument("url", nargs="+")
    parser.add_argument("--clients", type=int, default=8)
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--out", type=Path, required=True)
    args = parser.parse_args()
    plan = Plan.load(args.plan)
    result = asyncio.run(drive(plan, args.url, clients=args.clients, seconds=args.seconds))
    args.out.write_text(json.dumps(result))


if __name__ == "__main__":
    main()

__all__ = ["Outcome", "drive", "signed_headers"]
