"""Inventory use cases: import keys, count stock, reserve / sell / release, reveal, rotate.

An import streams: the file is parsed, de-duplicated, encrypted and stored a
chunk at a time while it is read (``importing``, ``bulk``), so memory stays
flat for millions of keys.

Allocation is the hot path. It is one statement that picks and marks keys:
on PostgreSQL the inner SELECT takes ``FOR UPDATE SKIP LOCKED`` so concurrent
buyers skip each other's keys instead of queueing; on SQLite the write
transaction already holds the database's single write lock (BEGIN IMMEDIATE).
"""

from __future__ import annotations

import functools
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

from sqlalchemy import TextClause, bindparam, func, select, text, update
from sqlalchemy.orm import Session

from keyrelay.audit.service import record
from keyrelay.inventory import errors
from keyrelay.inventory.bulk import key_store
from keyrelay.inventory.importing import IMPORT_CHUNK, Progress, store_keys
from keyrelay.inventory.models import CardKey, ImportBatch
from keyrelay.inventory.parsing import InvalidLine, KeyFileError, KeySource, iter_key_lines
from keyrelay.kit import outbox
from keyrelay.kit.clock import utcnow
from keyrelay.kit.db import UtcDateTime, memo
from keyrelay.kit.vault import Vault


def key_aad(product_id: int) -> bytes:
    """AAD binding a card-key ciphertext to its product: a blob moved elsewhere fails to open."""
    return f"cardkey:{product_id}".encode()


def _scope(product_id: int) -> bytes:
    return f"product:{product_id}".encode()


@dataclass
class ImportReport:
    """What an import did; ``invalid`` carries line numbers and reasons, never key text."""

    batch_id: int | None
    imported: int
    duplicates: int
    """Every skipped line, exactly."""
    duplicate_lines: list[int] = field(default_factory=list)
    """The first ``DUPLICATE_LINES_KEPT`` (1,000) of those lines, ascending: a re-sent file of 10^6 keys
    would otherwise carry a million line numbers."""
    invalid: list[InvalidLine] = field(default_factory=list)


def import_keys(
    session: Session,
    *,
    product_id: int,
    data: KeySource,
    fmt: str,
    source: str,
    vault: Vault,
    actor: str,
    progress: Progress | None = None,
    chunk_size: int = IMPORT_CHUNK,
) -> ImportReport:
    """Parse, de-duplicate, encrypt and store keys for a product, all or nothing.

    ``data`` is the upload in memory (bytes or str) or a binary file, read as
    it is parsed. Duplicates (within the file, or already stored for the
    product) are skipped and reported; invalid lines reject the whole batch so
    the operator can fix the file and retry without half an import in stock.
    Keys are stored while the file is still being read, so the import runs in
    a savepoint: an invalid line or a bad file found late, or any failure,
    takes back every key stored so far, even if the caller goes on with its
    transaction.
    """
    try:
        with session.begin_nested():
            batch = ImportBatch(product_id=product_id, source=source, imported=0, duplicates=0)
            session.add(batch)
            session.flush()
            with key_store(session, product_id=product_id, batch_id=batch.id, created_at=utcnow()) as store:
                tally = store_keys(
                    iter_key_lines(data, "csv" if fmt == "csv" else "text"),
                    store,
                    vault=vault,
                    scope=_scope(product_id),
                    aad=key_aad(product_id),
                    chunk_size=chunk_size,
                    progress=progress,
                )
            if tally.invalid:
                raise errors.INVALID_KEY_LINES(
                    field="file",
                    count=tally.invalid,
                    invalid=[{"line": bad.line_no, "reason": bad.reason} for bad in tally.invalid_lines],
                )
            batch.imported, batch.duplicates = tally.imported, tally.duplicates
    except KeyFileError as exc:
        # A whole-file problem (empty, binary, bad encoding, bad CSV) is the uploader's to fix: 422, not 500.
        raise errors.KEY_FILE_REJECTED(field="file", why=exc.message, reason=str(exc.code)) from exc
    record(
        session,
        actor=actor,
        action="keys.import",
        target_type="product",
        target_id=str(product_id),
        batch_id=batch.id,
        imported=tally.imported,
        duplicates=tally.duplicates,
    )
    if tally.imported:
        outbox.emit(session, "stock.changed", {"product_id": product_id})
    return ImportReport(batch.id, tally.imported, tally.duplicates, tally.duplicate_lines)


def stock_counts(session: Session, product_ids: Sequence[int]) -> dict[int, dict[str, int]]:
    """``{product_id: {"available": n, "reserved": n, "sold": n}}`` for the given products."""
    counts = {pid: {"available": 0, "reserved": 0, "sold": 0} for pid in product_ids}
    if not product_ids:
        return counts
    query = (
        select(CardKey.product_id, CardKey.status, func.count())
        .where(CardKey.product_id.in_(product_ids))
        .group_by(CardKey.product_id, CardKey.status)
    )
    for product_id, status, count in session.execute(query):
        counts[product_id][status] = count
    return counts


def available_counts(session: Session, product_ids: Sequence[int]) -> dict[int, int]:
    """Available keys per product, answered from the partial allocation index."""
    result = {pid: 0 for pid in product_ids}
    if product_ids:
        query = (
            select(CardKey.product_id, func.count())
            .where(CardKey.product_id.in_(product_ids), CardKey.status == "available")
            .group_by(CardKey.product_id)
        )
        result.update({pid: count for pid, count in session.execute(query)})
    return result


_RESERVE = """
UPDATE card_keys SET status = 'reserved', order_id = :order_id
WHERE id IN (
    SELECT id FROM card_keys
    WHERE product_id = :product_id AND status = 'available'
    ORDER BY id LIMIT :quantity {lock}
)
RETURNING id
"""


def reserve_keys(session: Session, *, product_id: int, order_id: int, quantity: int) -> list[int]:
    """Hold ``quantity`` specific keys for an order, or raise ``OutOfStock`` (caller rolls back)."""
    lock = "FOR UPDATE SKIP LOCKED" if session.get_bind().dialect.name == "postgresql" else ""
    params = {"order_id": order_id, "product_id": product_id, "quantity": quantity}
    ids = list(session.scalars(text(_RESERVE.format(lock=lock)), params))
    if len(ids) < quantity:
        raise (errors.ONLY_SOME_LEFT(field="quantity", available=len(ids)) if ids else errors.SOLD_OUT(field="quantity", available=0))
    outbox.emit(session, "stock.changed", {"product_id": product_id})
    return ids


_SELL = """
UPDATE card_keys SET status = 'sold', order_id = :order_id, sold_at = :sold_at
WHERE id IN (
    SELECT id FROM card_keys
    WHERE product_id = :product_id AND status = 'available'
    ORDER BY id LIMIT :quantity {lock}
)
RETURNING id, ciphertext
"""


@functools.cache
def _sell_statement(dialect_name: str) -> TextClause:
    """Built once per dialect; ``sold_at`` typed, so SQLite stores it as every other timestamp."""
    lock = "FOR UPDATE SKIP LOCKED" if dialect_name == "postgresql" else ""
    return text(_SELL.format(lock=lock)).bindparams(bindparam("sold_at", type_=UtcDateTime()))


_SOLD_NOW = "inventory.sold_now"
"""Transaction memo (``kit.db.memo``): ``{order_id: [(key id, ciphertext)]}`` of keys sold in it, for the reveal."""


def sell_keys(session: Session, *, product_id: int, order_id: int, quantity: int) -> list[int]:
    """Hand ``quantity`` keys straight to an order paid at checkout (no reservation step), or raise ``OutOfStock``.

    One UPDATE … RETURNING takes the keys and their ciphertexts; the reveal in
    the same transaction reads them from here instead of selecting them again.
    """
    params = {"order_id": order_id, "product_id": product_id, "quantity": quantity, "sold_at": utcnow()}
    connection = session.connection()
    rows = [(int(key_id), bytes(blob)) for key_id, blob in connection.execute(_sell_statement(connection.dialect.name), params)]
    if len(rows) < quantity:
        raise (errors.ONLY_SOME_LEFT(field="quantity", available=len(rows)) if rows else errors.SOLD_OUT(field="quantity", available=0))
    rows.sort()
    memo(session, _SOLD_NOW)[order_id] = rows
    outbox.emit(session, "stock.changed", {"product_id": product_id})
    return [key_id for key_id, _ in rows]


def release_keys(session: Session, order_ids: Iterable[int]) -> int:
    """Return the reserved keys of these orders to stock; returns how many."""
    ids = list(order_ids)
    if not ids:
        return 0
    statement = (
        update(CardKey)
        .where(CardKey.order_id.in_(ids), CardKey.status == "reserved")
        .values(status="available", order_id=None)
        .returning(CardKey.product_id)
    )
    product_ids = list(session.scalars(statement))
    for product_id in sorted(set(product_ids)):
        outbox.emit(session, "stock.changed", {"product_id": product_id})
    return len(product_ids)


def sell_reserved_keys(session: Session, *, order_id: int) -> int:
    """Mark an order's reserved keys sold; returns how many (the caller checks the quantity)."""
    statement = update(CardKey).where(CardKey.order_id == order_id, CardKey.status == "reserved").values(status="sold", sold_at=utcnow())
    return session.execute(statement).rowcount  # type: ignore[attr-defined,no-any-return]


@dataclass(frozen=True)
class RevealedKey:
    """A decrypted key for display to someone entitled to it. Never log this."""

    key_id: int
    secret: str


def reveal_order_keys(session: Session, *, order_id: int, product_id: int, vault: Vault, actor: str, ip: str = "") -> list[RevealedKey]:
    """Decrypt the keys sold to an order, auditing the reveal."""
    rows = memo(session, _SOLD_NOW).get(order_id)
    if rows is None:
        query = select(CardKey.id, CardKey.ciphertext).where(CardKey.order_id == order_id, CardKey.status == "sold").order_by(CardKey.id)
        rows = [(key_id, blob) for key_id, blob in session.execute(query)]
    aad = key_aad(product_id)
    keys = [RevealedKey(key_id, vault.decrypt(blob, aad).decode()) for key_id, blob in rows]
    if keys:
        record(
            session, actor=actor, action="key.reveal", target_type="order", target_id=str(order_id), ip=ip, key_ids=[k.key_id for k in keys]
        )
    return keys


def reveal_key(session: Session, *, key_id: int, vault: Vault, actor: str, ip: str = "") -> RevealedKey:
    """Decrypt one key for its owner (operator/supplier console), auditing the reveal."""
    row = session.execute(select(CardKey.product_id, CardKey.ciphertext).where(CardKey.id == key_id)).first()
    if row is None:
        raise errors.NOT_FOUND(resource="card key", id=key_id)
    record(session, actor=actor, action="key.reveal", target_type="card_key", target_id=str(key_id), ip=ip)
    return RevealedKey(key_id, vault.decrypt(row.ciphertext, key_aad(row.product_id)).decode())


def list_keys(
    session: Session, *, product_id: int, status: str | None = None, limit: int = 100, before_id: int | None = None
) -> list[CardKey]:
    """Key rows (ciphertext only) for the console, newest first."""
    query = select(CardKey).where(CardKey.product_id == product_id).order_by(CardKey.id.desc()).limit(limit)
    if status:
        query = query.where(CardKey.status == status)
    if before_id:
        query = query.where(CardKey.id < before_id)
    return list(session.scalars(query))


def void_key(session: Session, *, key_id: int, actor: str) -> None:
    """Withdraw an unsold key from sale (e.g. known bad)."""
    result = session.execute(update(CardKey).where(CardKey.id == key_id, CardKey.status == "available").values(status="void"))
    if result.rowcount != 1:  # type: ignore[attr-defined]
        raise errors.KEY_NOT_VOIDABLE()
    record(session, actor=actor, action="key.void", target_type="card_key", target_id=str(key_id))


def void_order_keys(session: Session, *, order_id: int) -> int:
    """Withdraw a refunded order's keys for good (they were handed over)."""
    statement = update(CardKey).where(CardKey.order_id == order_id, CardKey.status.in_(("sold", "reserved"))).values(status="void")
    return session.execute(statement).rowcount  # type: ignore[attr-defined,no-any-return]


def recent_batches(session: Session, *, product_id: int, limit: int = 10) -> list[ImportBatch]:
    """A product's latest import batches with their counts, newest first (console history)."""
    query = select(ImportBatch).where(ImportBatch.product_id == product_id).order_by(ImportBatch.id.desc()).limit(limit)
    return list(session.scalars(query))
