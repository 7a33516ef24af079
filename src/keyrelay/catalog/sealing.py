"""Catalog's vault-sealed column: a ``fixed`` product's content (e.g. a download link), bound to the product."""

from __future__ import annotations

from keyrelay.catalog.models import Product
from keyrelay.catalog.service import fixed_content_aad
from keyrelay.kit.sealed import Row, SealedColumn, register


def _fixed_content_aad(row: Row) -> bytes:
    return fixed_content_aad(int(row["id"]))


FIXED_CONTENT = register(SealedColumn(domain="catalog", primary_key=Product.id, ciphertext=Product.fixed_content, aad=_fixed_content_aad))
