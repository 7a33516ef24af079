"""Fixed content: the same sealed text (a download link, an account) for every buyer; no stock."""

from __future__ import annotations

from sqlalchemy.orm import Session

from keyrelay.catalog import service as catalog
from keyrelay.catalog.kinds import N_, ProductKind
from keyrelay.catalog.service import Product
from keyrelay.checkout.fulfilment.base import HoldsNothing
from keyrelay.kit.vault import Vault
from keyrelay.orders.service import Order


class FixedContent(HoldsNothing):
    kind = ProductKind(
        name="fixed",
        label=N_("Fixed content (same for everyone)"),
        badge=N_("Fixed content"),
        tracks_stock=False,
        delivered_by_hand=False,
        needs_fixed_content=True,
    )

    def on_paid(self, session: Session, order: Order, product: Product) -> bool:
        return True

    def reveal(self, session: Session, order: Order, product: Product, *, vault: Vault, actor: str, ip: str) -> list[str]:
        if not product.fixed_content:
            return []
        text = vault.decrypt(product.fixed_content, catalog.fixed_content_aad(product.id)).decode()
        return [text] * order.quantity
