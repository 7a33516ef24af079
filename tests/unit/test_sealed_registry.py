"""The sealed-column registry is complete: rotation cannot silently skip a column the vault seals."""

from __future__ import annotations

import json
import re
import subprocess
import sys
import textwrap

import pytest

from keyrelay.identity.api_keys import ApiKey
from keyrelay.inventory.models import CardKey
from keyrelay.kit.sealed import SealedColumn, register
from keyrelay.sealing import all_columns

EXPECTED = {
    "catalog.products.fixed_content",
    "identity.api_keys.secret_ciphertext",
    "inventory.card_keys.ciphertext",
    "kit.idempotency_records.response_body",
    "orders.orders.manual_content",
    "webhooks.webhook_endpoints.previous_secret_ciphertext",
    "webhooks.webhook_endpoints.secret_ciphertext",
}

# Run in a fresh interpreter that imports only what `keyrelay vault rotate` imports: in this
# process other tests may already have imported a domain's sealing module by another path.
_CENSUS = textwrap.dedent(
    """
    import json, re
    from sqlalchemy import LargeBinary
    from keyrelay.models import metadata
    from keyrelay.sealing import all_columns

    looks_sealed = re.compile("cipher|secret|sealed|content")
    candidates = {
        f"{table.name}.{column.name}"
        for table in metadata.tables.values()
        for column in table.columns
        if isinstance(column.type, LargeBinary) and looks_sealed.search(column.name)
    }
    registered = {f"{c.table.name}.{c.columns[1].name}": c.name for c in all_columns()}
    print(json.dumps({"unregistered": sorted(candidates - set(registered)), "names": sorted(registered.values())}))
    """
)


def test_every_sealed_looking_column_is_registered() -> None:
    done = subprocess.run([sys.executable, "-c", _CENSUS], capture_output=True, text=True, timeout=120, check=True)
    census = json.loads(done.stdout)
    assert census["unregistered"] == [], "register these in their domain's sealing module and import it in keyrelay/sealing.py"
    assert set(census["names"]) == EXPECTED


def test_all_columns_lists_each_column_once_in_name_order() -> None:
    names = [c.name for c in all_columns()]
    assert names == sorted(EXPECTED)


def test_a_column_claimed_by_two_domains_is_refused() -> None:
    with pytest.raises(ValueError, match=re.escape("already registered as inventory.card_keys.ciphertext")):
        register(SealedColumn(domain="catalog", primary_key=CardKey.id, ciphertext=CardKey.ciphertext, aad=lambda row: b"x"))


def test_a_sealed_column_needs_its_tables_primary_key() -> None:
    with pytest.raises(ValueError, match="not the primary key"):
        SealedColumn(domain="identity", primary_key=ApiKey.user_id, ciphertext=ApiKey.secret_ciphertext, aad=lambda row: b"x")
    with pytest.raises(ValueError, match="one table"):
        SealedColumn(domain="identity", primary_key=ApiKey.id, ciphertext=CardKey.ciphertext, aad=lambda row: b"x")
