"""Identity's vault-sealed column: API key secrets, bound to their public key id."""

from __future__ import annotations

from keyrelay.identity.api_keys import ApiKey, secret_aad
from keyrelay.kit.sealed import Row, SealedColumn, register


def _api_key_aad(row: Row) -> bytes:
    return secret_aad(str(row["key_id"]))


API_KEY_SECRETS = register(
    SealedColumn(
        domain="identity", primary_key=ApiKey.id, ciphertext=ApiKey.secret_ciphertext, aad=_api_key_aad, aad_inputs=(ApiKey.key_id,)
    )
)
