"""Inventory's vault-sealed column: every card key, bound to its product."""

from __future__ import annotations

from keyrelay.inventory.models import CardKey
from keyrelay.inventory.service import key_aad
from keyrelay.kit.sealed import Row, SealedColumn, register


def _card_key_aad(row: Row) -> bytes:
    return key_aad(int(row["product_id"]))


CARD_KEYS = register(
    SealedColumn(
        domain="inventory", primary_key=CardKey.id, ciphertext=CardKey.ciphertext, aad=_card_key_aad, aad_inputs=(CardKey.product_id,)
    )
)
