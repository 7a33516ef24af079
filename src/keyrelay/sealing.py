"""Every vault-sealed column of every domain, for ``keyrelay vault rotate``.

Each domain registers its own columns in its ``sealing`` module (kit's
idempotency records register themselves); importing them all here is what
makes the registry complete. ``tests/unit/test_sealed_registry.py``
imports only this module in a fresh interpreter and fails when a sealed-looking
column of ``keyrelay.models.metadata`` is not registered, so a new sealed
column cannot be forgotten by rotation.
"""

from __future__ import annotations

from keyrelay import models
from keyrelay.catalog import sealing as catalog_sealing
from keyrelay.identity import sealing as identity_sealing
from keyrelay.inventory import sealing as inventory_sealing
from keyrelay.kit import idempotency
from keyrelay.kit.sealed import SealedColumn, registered
from keyrelay.orders import sealing as orders_sealing
from keyrelay.webhooks import sealing as webhooks_sealing

_DOMAINS = (models, catalog_sealing, identity_sealing, inventory_sealing, idempotency, orders_sealing, webhooks_sealing)
"""Imported for their registrations; named so the imports are visibly used."""


def all_columns() -> tuple[SealedColumn, ...]:
    """Every registered sealed column, in name order."""
    return registered()


__all__ = ["all_columns"]
