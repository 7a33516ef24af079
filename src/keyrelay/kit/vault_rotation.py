"""Vault key rotation: re-seal every registered column under the active key, in resumable batches.

Each column is walked by primary key (keyset pagination, never OFFSET), one
short transaction per batch: a crash or Ctrl-C loses at most the batch in
flight, and a re-run skips every blob already sealed by the active key, so
"resume" is simply "run it again". Rows are rewritten with a compare-and-set
(``WHERE ciphertext = <what we read>``), so a value the application changed
meanwhile (e.g. a webhook secret rotated by its owner) is never overwritten
with the older one; such a row is picked up by the next run if it needs it.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Row, select, update
from sqlalchemy.orm import Session

from keyrelay.kit.db import Database
from keyrelay.kit.sealed import SealedColumn
from keyrelay.kit.vault import DecryptionError, Vault


@dataclass
class ColumnCounts:
    """What one column's pass saw: rows holding a sealed value, and rows re-sealed under the active key."""

    name: str
    scanned: int = 0
    reencrypted: int = 0


class RotationError(Exception):
    """A stored blob could not be opened (e.g. its key was retired too early); names the row, never the secret."""


AfterBatch = Callable[[ColumnCounts], None]
"""Called after each committed batch, with the column's running counts (progress output, tests)."""


def rotate(
    db: Database, vault: Vault, columns: Iterable[SealedColumn], *, batch: int = 1000, after_batch: AfterBatch | None = None
) -> list[ColumnCounts]:
    """Rotate every column in turn; the counts come back in the same order."""
    if batch < 1:
        raise ValueError("batch must be at least 1")
    return [rotate_column(db, vault, sealed, batch=batch, after_batch=after_batch) for sealed in columns]


def rotate_column(
    db: Database, vault: Vault, sealed: SealedColumn, *, batch: int = 1000, after_batch: AfterBatch | None = None
) -> ColumnCounts:
    """Walk one column by primary key; each batch commits on its own."""
    counts = ColumnCounts(sealed.name)
    last_key: Any = None
    while True:
        with db.transaction() as session:
            rows = _next_batch(session, sealed, last_key, batch)
            reencrypted = sum(_reseal(session, vault, sealed, row) for row in rows)
        if not rows:
            return counts
        # Counted only once the batch has committed, so the figures never claim rolled-back work.
        counts.scanned += sum(1 for row in rows if sealed.load(row[1]) is not None)
        counts.reencrypted += reencrypted
        last_key = rows[-1][0]
        if after_batch is not None:
            after_batch(counts)


def _next_batch(session: Session, sealed: SealedColumn, last_key: Any, batch: int) -> Sequence[Row[Any]]:
    key, ciphertext = sealed.columns[0], sealed.columns[1]
    query = select(*sealed.columns).where(ciphertext.is_not(None)).order_by(key).limit(batch)
    if last_key is not None:
        query = query.where(key > last_key)
    return session.execute(query).all()


def _reseal(session: Session, vault: Vault, sealed: SealedColumn, row: Row[Any]) -> int:
    """Re-seal one row if another key sealed it; 1 if it was rewritten."""
    key, ciphertext = sealed.columns[0], sealed.columns[1]
    stored = row[1]
    blob = sealed.load(stored)
    if blob is None:
        return 0
    try:
        if not vault.needs_rotation(blob):
            return 0
        fresh = vault.reencrypt(blob, sealed.aad({column.name: value for column, value in zip(sealed.columns, row, strict=True)}))
    except DecryptionError as exc:
        raise RotationError(f"{sealed.name} row {row[0]}: {exc}") from exc
    changed = session.execute(update(sealed.table).where(key == row[0], ciphertext == stored).values({ciphertext.name: sealed.dump(fresh)}))
    return int(changed.rowcount == 1)  # type: ignore[attr-defined]


__all__ = ["AfterBatch", "ColumnCounts", "RotationError", "rotate", "rotate_column"]
