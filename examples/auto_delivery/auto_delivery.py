"""Auto-delivery for an outside shop: paid shop orders in, card keys out, catalog kept in sync.

For every paid order of the shop, buy the keys wholesale from KeyRelay (the
shop's order id is the ``buyer_ref`` and the idempotency key, so a crash or a
retry can never buy twice), hand them to the buyer (here: a line in
``outbox.jsonl`` and a masked log line), and remember the order as fulfilled.
With ``--webhook-port`` it also runs a webhook endpoint that keeps
``catalog.json`` in sync from ``stock.changed`` / ``price.changed`` events.

    KEYRELAY_URL=http://127.0.0.1:8000 KEYRELAY_KEY_ID=kr_… KEYRELAY_SECRET=krsk_… \\
        python auto_delivery.py --orders orders.json --state state/ --webhook-port 8765
"""

from __future__ import annotations

import argparse
import logging
import os
import signal
import sys
import threading
import time
from datetime import UTC, datetime
from pathlib import Path
from types import FrameType

from catalog import Catalog
from keyrelay_client import (
    Client,
    ConflictError,
    IdempotencyInProgress,
    KeyRelayError,
    NotFoundError,
    PermissionDenied,
    ValidationError,
)
from receiver import make_server
from shop import ShopOrder, paid_orders
from store import append_line, read_json, write_json

log = logging.getLogger("auto_delivery")
CATALOG_EVENTS = ["stock.changed", "stock.low", "price.changed", "product.updated"]
REFUSAL_PAUSE = 60.0
"""Seconds before an order KeyRelay refused (no stock, no money) is tried again."""


def mask(key: str) -> str:
    """``GC50-7F3A-91BC`` → ``GC50-****-**BC``: enough to recognise a key in a log, not to use it."""
    head, tail = key[:4], key[-2:]
    middle = "".join("-" if c == "-" else "*" for c in key[4:-2])
    return head + middle + tail


class Fulfiller:
    """Buys and hands over keys for paid shop orders, exactly once each."""

    def __init__(self, client: Client, state: Path) -> None:
        self.client, self.state = client, state
        self.fulfilled: dict[str, str] = read_json(state / "fulfilled.json", {})
        self.refusals: dict[str, int] = read_json(state / "refusals.json", {})
        self._paused_until: dict[str, float] = {}

    def idempotency_key(self, order: ShopOrder) -> str:
        # KeyRelay keeps a refusal (409/422) as *the* answer to a key, so after a definite refusal
        # the next try needs a new key; retries after timeouts or 5xx keep the same one.
        refused = self.refusals.get(order.id, 0)
        return order.id if not refused else f"{order.id}#retry{refused}"

    def run_once(self, orders: list[ShopOrder]) -> int:
        done = 0
        for order in orders:
            if order.id in self.fulfilled or self._paused_until.get(order.id, 0) > time.monotonic():
                continue
            done += self.fulfil(order)
        return done

    def fulfil(self, order: ShopOrder) -> int:
        try:
            bought = self.client.purchase(order.product_id, order.quantity, buyer_ref=order.id, idempotency_key=self.idempotency_key(order))
        except (ConflictError, ValidationError, NotFoundError, PermissionDenied) as exc:
            if isinstance(exc, IdempotencyInProgress):
                return 0  # our own earlier attempt is still running: ask again next pass
            log.warning("shop order %s refused by KeyRelay (%s): %s", order.id, exc.code, exc.detail)
            self.refusals[order.id] = self.refusals.get(order.id, 0) + 1
            write_json(self.state / "refusals.json", self.refusals)
            self._paused_until[order.id] = time.monotonic() + REFUSAL_PAUSE
            return 0
        except KeyRelayError as exc:  # network, 5xx, rate limit: the same key is safe to send again
            log.warning("shop order %s not bought yet (%s); will retry", order.id, exc.code)
            return 0
        # Hand over first, then mark fulfilled: a crash in between replays the same keys, never buys twice.
        append_line(
            self.state / "outbox.jsonl",
            {
                "shop_order": order.id,
                "buyer": order.buyer,
                "keyrelay_order": bought.number,
                "keys": bought.keys,
                "at": datetime.now(UTC).isoformat(),
            },
        )
        self.fulfilled[order.id] = bought.number
        write_json(self.state / "fulfilled.json", self.fulfilled)
        log.info("shop order %s → %s for %s: %s", order.id, bought.number, order.buyer, ", ".join(mask(k) for k in bought.keys))
        return 1


def register_webhook(client: Client, state: Path, url: str) -> dict[str, str]:
    """The endpoint for ``url`` (created once; its secret is kept in ``webhook.json``)."""
    saved: dict[str, str] = read_json(state / "webhook.json", {})
    if saved.get("url") == url:
        return saved
    # Created with an idempotency key: if we crash before saving, the retry gets the same endpoint and secret.
    endpoint = client.create_webhook(url, CATALOG_EVENTS, description="auto-delivery catalog sync", idempotency_key=f"webhook:{url}")
    saved = {"id": endpoint.id, "url": url, "secret": endpoint.secret or ""}
    write_json(state / "webhook.json", saved)
    log.info("webhook endpoint %s registered for %s", endpoint.id, url)
    return saved


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--orders", type=Path, required=True, help="the shop's orders (JSON list)")
    parser.add_argument("--state", type=Path, default=Path("state"), help="where fulfilled.json, outbox.jsonl, catalog.json live")
    parser.add_argument("--webhook-port", type=int, default=0, help="serve POST /webhooks on this port (0: no webhooks)")
    parser.add_argument("--public-url", default="", help="the URL KeyRelay posts to (default http://127.0.0.1:PORT/webhooks)")
    parser.add_argument("--interval", type=float, default=2.0, help="seconds between looks at the shop's orders")
    parser.add_argument("--once", action="store_true", help="fulfil the paid orders once and exit")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s", stream=sys.stderr)

    base_url = os.environ.get("KEYRELAY_URL", "http://127.0.0.1:8000")
    client = Client(base_url, os.environ["KEYRELAY_KEY_ID"], os.environ["KEYRELAY_SECRET"], timeout=30, max_retries=4)
    catalog = Catalog(args.state / "catalog.json", client)
    catalog.full_sync()
    fulfiller = Fulfiller(client, args.state)

    stop = threading.Event()

    def on_signal(_signum: int, _frame: FrameType | None) -> None:
        stop.set()

    signal.signal(signal.SIGINT, on_signal)
    signal.signal(signal.SIGTERM, on_signal)

    server = None
    if args.webhook_port:
        webhook: dict[str, str] = {}
        server = make_server(args.webhook_port, lambda: webhook.get("secret"), catalog)
        threading.Thread(target=server.serve_forever, name="webhooks", daemon=True).start()
        webhook.update(register_webhook(client, args.state, args.public_url or f"http://127.0.0.1:{args.webhook_port}/webhooks"))

    try:
        while True:
            fulfiller.run_once(paid_orders(args.orders))
            if args.once or stop.wait(args.interval):
                break
    finally:
        if server is not None:
            server.shutdown()
        client.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
