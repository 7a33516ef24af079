"""Product kinds as data: what each kind means to stock, delivery and the product form.

Each kind is declared once, by the fulfilment module that delivers it
(``keyrelay.checkout.fulfilment``); catalog, consoles and templates read the
traits here instead of comparing kind names.
"""

from __future__ import annotations

from dataclasses import dataclass

from keyrelay.catalog.errors import UNKNOWN_KIND


@dataclass(frozen=True)
class ProductKind:
    """The traits of one kind of product."""

    name: str
    """Stored in ``products.kind``."""
    label: str
    """How the operator's product form names it (an English msgid)."""
    badge: str
    """Its short name on product lists (an English msgid)."""
    tracks_stock: bool
    """Units are imported items (card keys): stock is counted, low-stock alerts apply."""
    delivered_by_hand: bool
    """A person delivers paid orders from the console."""
    needs_fixed_content: bool
    """The product carries one sealed content handed to every buyer."""


_KINDS: dict[str, ProductKind] = {}


def N_(message: str) -> str:
    """Mark a label for extraction; the web edge translates it for each reader."""
    return message


def register(kind: ProductKind) -> ProductKind:
    """Declare a kind (idempotent for the same declaration)."""
    existing = _KINDS.get(kind.name)
    if existing is not None and existing != kind:
        raise ValueError(f"product kind {kind.name!r} is declared twice, differently")
    _KINDS[kind.name] = kind
    return kind


def get(name: str) -> ProductKind:
    """The kind called ``name``; unknown names are invalid input."""
    try:
        return _KINDS[name]
    except KeyError:
        raise UNKNOWN_KIND(field="kind", choices=list(_KINDS)) from None


def all_kinds() -> list[ProductKind]:
    return list(_KINDS.values())


def stocked(names: list[str] | None = None) -> list[str]:
    """Names of the kinds whose stock is counted."""
    return [k.name for k in _KINDS.values() if k.tracks_stock and (names is None or k.name in names)]
