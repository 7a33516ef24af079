"""The registry of vault-sealed columns: what rotation must re-encrypt, and how to open each.

A column sealed by the vault is only safe to rotate if something knows its
AAD, and the AAD belongs to the domain that wrote it (``cardkey:{product_id}``,
``apikey:{key_id}``, …). So each domain registers its own columns here, at
import time, and the generic rotation in ``kit.vault_rotation`` walks whatever
is registered without importing any domain. ``keyrelay.sealing.all_columns()``
imports every domain's registrations; a test fails when a sealed-looking column
of the metadata is missing from it, because a forgotten column means that
retiring an old vault key silently breaks those rows.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import Column, Table
from sqlalchemy.orm import InstrumentedAttribute

Row = Mapping[str, Any]
"""The values of a row's ``aad_inputs`` (by column name) that the AAD is computed from."""


def _as_blob(value: Any) -> bytes | None:
    return bytes(value)


def _identity(blob: bytes) -> Any:
    return blob


def _core_column(attribute: InstrumentedAttribute[Any]) -> Column[Any]:
    expression = attribute.expression
    if not isinstance(expression, Column) or not isinstance(expression.table, Table):
        raise TypeError("a sealed column must be a plain mapped table column")
    return expression


@dataclass(frozen=True)
class SealedColumn:
    """One column whose values are vault blobs, with what it takes to re-open and re-seal them."""

    domain: str
    """Registering package (``inventory``, ``kit``…): the first part of ``name``."""
    primary_key: InstrumentedAttribute[Any]
    """Integer primary key; rotation walks the table in its order (keyset pagination)."""
    ciphertext: InstrumentedAttribute[Any]
    aad: Callable[[Row], bytes]
    """The AAD the row was sealed with, from the row's ``aad_inputs``."""
    aad_inputs: tuple[InstrumentedAttribute[Any], ...] = ()
    load: Callable[[Any], bytes | None] = _as_blob
    """Stored value to blob; None for a value that is not sealed (left alone)."""
    dump: Callable[[bytes], Any] = _identity
    """Blob to stored value (the inverse of ``load``)."""
    columns: tuple[Column[Any], ...] = field(init=False, repr=False, compare=False)
    """Core columns: primary key, ciphertext, then the AAD inputs."""

    def __post_init__(self) -> None:
        found = tuple(_core_column(a) for a in (self.primary_key, self.ciphertext, *self.aad_inputs))
        if len({c.table.name for c in found}) != 1:
            raise ValueError("primary key, ciphertext and AAD inputs must be columns of one table")
        if not found[0].primary_key:
            raise ValueError(f"{found[0].table.name}.{found[0].name} is not the primary key")
        object.__setattr__(self, "columns", found)

    @property
    def table(self) -> Table:
        table = self.columns[1].table
        assert isinstance(table, Table)  # checked in __post_init__
        return table

    @property
    def name(self) -> str:
        """``domain.table.column``, e.g. ``inventory.card_keys.ciphertext``."""
        return f"{self.domain}.{self.table.name}.{self.columns[1].name}"


_registry: dict[tuple[str, str], SealedColumn] = {}


def register(sealed: SealedColumn) -> SealedColumn:
    """Add a column to the registry (done once per column, when its domain's module is imported).

    A column claimed by two domains is refused: rotation would try two AADs on it.
    """
    where = (sealed.table.name, sealed.columns[1].name)
    known = _registry.get(where)
    if known is not None and known.domain != sealed.domain:
        raise ValueError(f"{where[0]}.{where[1]} is already registered as {known.name}")
    _registry[where] = sealed
    return sealed


def registered() -> tuple[SealedColumn, ...]:
    """Every column registered so far, in name order (so rotation output is stable)."""
    return tuple(sorted(_registry.values(), key=lambda sealed: sealed.name))


__all__ = ["Row", "SealedColumn", "register", "registered"]
