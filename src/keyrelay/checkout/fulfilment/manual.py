"""Manual delivery: the operator hands over each paid order's goods from the console."""

from __future__ import annotations

from sqlalchemy.orm import Session

from keyrelay.audit.service import record
from keyrelay.catalog.kinds import N_, ProductKind
from keyrelay.catalog.service import Product
from keyrelay.checkout import errors
from keyrelay.checkout.fulfilment.base import HoldsNothing
from keyrelay.kit.clock import utcnow
from keyrelay.kit.vault import Vault
from keyrelay.orders import events, rules
from keyrelay.orders import service as orders
from keyrelay.orders.sealing import manual_content_aad
from keyrelay.orders.service import Order

MAX_MANUAL_CONTENT = 16 * 1024


class ManualDelivery(HoldsNothing):
    kind = ProductKind(
        name="manual",
        label=N_("Manual delivery by the operator"),
        badge=N_("Manual delivery"),
        tracks_stock=False,
        delivered_by_hand=True,
        needs_fixed_content=False,
    )

    def on_paid(self, session: Session, order: Order, product: Product) -> bool:
        return False  # stays paid until the operator delivers

    def reveal(self, session: Session, order: Order, product: Product, *, vault: Vault, actor: str, ip: str) -> list[str]:
        if order.manual_content is None:
            return []
        text = vault.decrypt(order.manual_content, manual_content_aad(order.id)).decode()
        return [line for line in text.splitlines() if line.strip()] or [text]

    def deliver(self, session: Session, order: Order, *, content: str, vault: Vault, actor: str) -> None:
        """The operator hands over a paid order's goods (one item per line)."""
        if not content.strip():
            raise errors.CONTENT_MISSING(field="content")
        if len(content.encode()) > MAX_MANUAL_CONTENT:
            raise errors.CONTENT_TOO_LONG(field="content")
        sealed = vault.encrypt(content.encode(), manual_content_aad(order.id))
        orders.move(session, order, rules.DELIVERED, delivered_at=utcnow(), manual_content=sealed)
        record(session, actor=actor, action="order.deliver_manual", target_type="order", target_id=order.number)
        events.publish(session, events.OrderDelivered.of(order))
