"""Webhooks' vault-sealed columns: an endpoint's signing secret and, after a rotation, the previous one.

Both are bound to the endpoint's public id; the previous secret still signs
during its grace period, so it must survive a vault key rotation too.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy.orm import InstrumentedAttribute

from keyrelay.kit.sealed import Row, SealedColumn, register
from keyrelay.webhooks.models import WebhookEndpoint
from keyrelay.webhooks.service import secret_aad


def _endpoint_aad(row: Row) -> bytes:
    return secret_aad(str(row["public_id"]))


def _endpoint_secret(column: InstrumentedAttribute[Any]) -> SealedColumn:
    return register(
        SealedColumn(
            domain="webhooks", primary_key=WebhookEndpoint.id, ciphertext=column, aad=_endpoint_aad, aad_inputs=(WebhookEndpoint.public_id,)
        )
    )


SECRET = _endpoint_secret(WebhookEndpoint.secret_ciphertext)
PREVIOUS_SECRET = _endpoint_secret(WebhookEndpoint.previous_secret_ciphertext)
