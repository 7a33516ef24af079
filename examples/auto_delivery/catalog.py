"""The shop's local copy of what it can sell, kept in sync by webhooks (and a full sync at start).

Webhooks only say *that* something changed; when an event does not carry the
whole offer, the product is fetched again through the API, which is the truth.
"""

from __future__ import annotations

import logging
import threading
from dataclasses import asdict
from pathlib import Path
from typing import Any

from keyrelay_client import Client, NotFoundError, Offer
from store import read_json, write_json

log = logging.getLogger("auto_delivery.catalog")
OFFER_FIELDS = ("name", "currency", "cost_minor", "map_minor", "max_retail_minor", "retail_minor", "suggested_retail_minor", "in_stock")


def _row(offer: Offer) -> dict[str, Any]:
    data = asdict(offer)
    return {name: data[name] for name in OFFER_FIELDS}


class Catalog:
    """``catalog.json``: ``{"products": {"<id>": {...}}, "cursor": "..."}``."""

    def __init__(self, path: Path, client: Client) -> None:
        self.path, self.client = path, client
        self._lock = threading.Lock()

    def full_sync(self) -> int:
        offers, cursor = self.client.sync_products()
        with self._lock:
            write_json(self.path, {"products": {str(o.product_id): _row(o) for o in offers}, "cursor": cursor})
        log.info("catalog synced: %d products", len(offers))
        return len(offers)

    def apply(self, event_type: str, data: dict[str, Any]) -> None:
        """Fold one verified webhook event into the local catalog."""
        product_id = data.get("product_id")
        if event_type not in {"stock.changed", "stock.low", "price.changed", "product.updated"}:
            return
        if product_id is None:  # a default price rule changed: every cost may have moved
            self.full_sync()
            return
        if event_type in {"stock.changed", "stock.low"}:
            self._update(int(product_id), {"in_stock": data.get("in_stock")})
        elif all(name in data for name in OFFER_FIELDS):
            self._update(int(product_id), {name: data[name] for name in OFFER_FIELDS})
        else:
            self._refetch(int(product_id))

    def _refetch(self, product_id: int) -> None:
        try:
            offer = self.client.get_product(product_id)
        except NotFoundError:  # withdrawn from sale
            with self._lock:
                state = read_json(self.path, {"products": {}})
                state["products"].pop(str(product_id), None)
                write_json(self.path, state)
            return
        self._update(product_id, _row(offer))

    def _update(self, product_id: int, fields: dict[str, Any]) -> None:
        with self._lock:
            state = read_json(self.path, {"products": {}})
            row = state["products"].setdefault(str(product_id), {})
            row.update(fields)
            write_json(self.path, state)
        log.info("catalog: product %s now %s", product_id, fields)
