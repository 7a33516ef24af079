"""The outside shop, simulated: a JSON file of its orders, as its order export or API would list them.

Each order: ``{"id": "T1001", "status": "paid", "product_id": 3, "quantity": 1, "buyer": "alice@example.com"}``.
Only ``paid`` orders are fulfilled; the shop may append more while the integration runs.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class ShopOrder:
    id: str
    product_id: int
    quantity: int
    buyer: str


def paid_orders(path: Path) -> list[ShopOrder]:
    """The shop's paid orders, oldest first (a half-written file reads as "nothing new yet")."""
    try:
        rows = json.loads(path.read_text(encoding="utf-8"))
    except (FileNotFoundError, json.JSONDecodeError):
        return []
    return [
        ShopOrder(str(row["id"]), int(row["product_id"]), int(row.get("quantity", 1)), str(row.get("buyer", "")))
        for row in rows
        if row.get("status") == "paid"
    ]
