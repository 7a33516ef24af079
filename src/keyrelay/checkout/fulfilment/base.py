"""What delivering one kind of product means, as one interface.

The pipeline calls these hooks at each step of an order's life and never asks
which kind it is handling. A new kind (e.g. orders fulfilled by another shop's
API) is one new module in this package, registered in ``__init__``.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol

from sqlalchemy.orm import Session

from keyrelay.catalog.kinds import ProductKind
from keyrelay.catalog.service import Product
from keyrelay.kit.vault import Vault
from keyrelay.orders.service import Order


class Fulfilment(Protocol):
    """The life of one kind: placed → paid → (released | refunded), and what the buyer is shown."""

    kind: ProductKind

    def on_placed(self, session: Session, order: Order, product: Product) -> None:
        """The order was opened: hold what it needs (or raise ``OutOfStock``)."""
        ...

    def on_paid(self, session: Session, order: Order, product: Product) -> bool:
        """The order was paid: hand the goods over; True when it is delivered now."""
        ...

    def on_paid_at_checkout(self, session: Session, order: Order, product: Product) -> None:
        """The order was born paid (a wallet purchase): hold and hand over in one step (or raise ``OutOfStock``).

        The order is already delivered unless ``kind.delivered_by_hand``.
        """
        ...

    def on_released(self, session: Session, order_ids: Sequence[int]) -> None:
        """Unpaid orders were cancelled or expired: give back what they held."""
        ...

    def on_refunded(self, session: Session, order: Order) -> str:
        """A paid order was refunded: take back what can be taken; returns a note for the timeline."""
        ...

    def reveal(self, session: Session, order: Order, product: Product, *, vault: Vault, actor: str, ip: str) -> list[str]:
        """What the buyer of a delivered order sees, one item per unit or line (audited where secret)."""
        ...


class HoldsNothing:
    """Defaults for kinds without stock: nothing is held at placement, so nothing goes back."""

    def on_placed(self, session: Session, order: Order, product: Product) -> None:
        return None

    def on_paid_at_checkout(self, session: Session, order: Order, product: Product) -> None:
        return None

    def on_released(self, session: Session, order_ids: Sequence[int]) -> None:
        return None

    def on_refunded(self, session: Session, order: Order) -> str:
        return "0 key(s) voided"
