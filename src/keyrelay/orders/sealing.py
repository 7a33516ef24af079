"""Orders' vault-sealed column: what an operator delivered by hand, bound to its order.

Its AAD lives here rather than in the order pipeline so rotation can find it without
importing the cross-domain orchestration.
"""

from __future__ import annotations

from keyrelay.kit.sealed import Row, SealedColumn, register
from keyrelay.orders.models import Order


def manual_content_aad(order_id: int) -> bytes:
    return f"manual:{order_id}".encode()


def _manual_content_aad(row: Row) -> bytes:
    return manual_content_aad(int(row["id"]))


MANUAL_CONTENT = register(SealedColumn(domain="orders", primary_key=Order.id, ciphertext=Order.manual_content, aad=_manual_content_aad))
