"""Card keys: one stored secret per unit, held at placement, sold when paid, voided on refund."""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy.orm import Session

from keyrelay.catalog.kinds import N_, ProductKind
from keyrelay.catalog.service import Product
from keyrelay.inventory import service as inventory
from keyrelay.kit.vault import Vault
from keyrelay.orders.service import Order


class CardKeys:
    kind = ProductKind(
        name="card_key",
        label=N_("Card keys (one per unit)"),
        badge=N_("Card keys"),
        tracks_stock=True,
        delivered_by_hand=False,
        needs_fixed_content=False,
    )

    def on_placed(self, session: Session, order: Order, product: Product) -> None:
        inventory.reserve_keys(session, product_id=product.id, order_id=order.id, quantity=order.quantity)

    def on_paid(self, session: Session, order: Order, product: Product) -> bool:
        sold = inventory.sell_reserved_keys(session, order_id=order.id)
        if sold != order.quantity:  # an invariant, not an expected failure: abort the whole transaction
            raise RuntimeError(f"order {order.number}: {sold} keys reserved, {order.quantity} expected")
        return True

    def on_paid_at_checkout(self, session: Session, order: Order, product: Product) -> None:
        inventory.sell_keys(session, product_id=product.id, order_id=order.id, quantity=order.quantity)

    def on_released(self, session: Session, order_ids: Sequence[int]) -> None:
        inventory.release_keys(session, order_ids)

    def on_refunded(self, session: Session, order: Order) -> str:
        # Handed-over keys cannot be resold: they are voided, not returned to stock.
        return f"{inventory.void_order_keys(session, order_id=order.id)} key(s) voided"

    def reveal(self, session: Session, order: Order, product: Product, *, vault: Vault, actor: str, ip: str) -> list[str]:
        keys = inventory.reveal_order_keys(session, order_id=order.id, product_id=order.product_id, vault=vault, actor=actor, ip=ip)
        return [key.secret for key in keys]
