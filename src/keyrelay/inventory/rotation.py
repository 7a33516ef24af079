"""Vault key rotation: re-encrypt stored secrets under the active key, in resumable batches."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import select, update

from keyrelay.catalog.models import Product
from keyrelay.catalog.service import fixed_content_aad
from keyrelay.inventory.models import CardKey
from keyrelay.inventory.service import key_aad
from keyrelay.kit.db import Database
from keyrelay.kit.vault import Vault
from keyrelay.orders.models import Order
from keyrelay.orders.sealing import manual_content_aad


@dataclass
class RotationCounts:
    scanned: int = 0
    reencrypted: int = 0


def rotate_all(db: Database, vault: Vault, *, batch: int = 1000) -> RotationCounts:
    """Walk every card key by id, one short transaction per batch, so a crash loses nothing."""
    counts = RotationCounts()
    last_id = 0
    while True:
        with db.transaction() as session:
            rows = session.execute(
                select(CardKey.id, CardKey.product_id, CardKey.ciphertext).where(CardKey.id > last_id).order_by(CardKey.id).limit(batch)
            ).all()
            for key_id, product_id, blob in rows:
                counts.scanned += 1
                if vault.needs_rotation(blob):
                    new_blob = vault.reencrypt(blob, key_aad(product_id))
                    session.execute(update(CardKey).where(CardKey.id == key_id).values(ciphertext=new_blob))
                    counts.reencrypted += 1
        if not rows:
            break
        last_id = rows[-1][0]
    with db.transaction() as session:
        for product in session.scalars(select(Product).where(Product.fixed_content.is_not(None))):
            counts.scanned += 1
            assert product.fixed_content is not None
            if vault.needs_rotation(product.fixed_content):
                product.fixed_content = vault.reencrypt(product.fixed_content, fixed_content_aad(product.id))
                counts.reencrypted += 1
    with db.transaction() as session:
        # What operators delivered by hand is sealed too; missing it would lock buyers out once the old key retires.
        for order in session.scalars(select(Order).where(Order.manual_content.is_not(None))):
            counts.scanned += 1
            assert order.manual_content is not None
            if vault.needs_rotation(order.manual_content):
                order.manual_content = vault.reencrypt(order.manual_content, manual_content_aad(order.id))
                counts.reencrypted += 1
    return counts
