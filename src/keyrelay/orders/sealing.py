"""What the orders domain seals with the vault."""

from __future__ import annotations


def manual_content_aad(order_id: int) -> bytes:
    """Binds a manually delivered order's content to that order."""
    return f"manual:{order_id}".encode()
