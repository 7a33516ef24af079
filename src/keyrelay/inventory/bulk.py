"""Card-key rows of an import written in bulk, the fastest way each database offers.

PostgreSQL takes each chunk in one binary ``COPY`` on the session's own
psycopg connection, framed here: every row but its ciphertext and
fingerprint is the same, so those bytes are packed once per import instead of
being adapted per row. SQLite takes it in one ``executemany`` of a plain
INSERT on the driver, without per-row ORM type processing. Both are several
times faster than SQLAlchemy's executemany. Both run in the caller's transaction. Which keys a
product already has is one query per chunk on the ``(product_id, fingerprint)``
unique index; rows this transaction stored are seen too.

On PostgreSQL another import of the same keys can commit between a chunk's
query and its insert (SQLite writers take turns): the unique index then
refuses the row and the import fails with ``CONCURRENT_IMPORT`` instead of half
landing. Two imports inserting shared keys in opposite orders can deadlock;
the one PostgreSQL aborts gets the same error.
"""

from __future__ import annotations

import struct
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any, Protocol, cast

from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from keyrelay.inventory import errors
from keyrelay.kit.db import UtcDateTime

if TYPE_CHECKING:
    import psycopg

_COLUMNS = "product_id, batch_id, status, ciphertext, fingerprint, created_at"
# PostgreSQL's binary COPY format: a signature, then per row a field count and
# (length, bytes) per field in each column type's wire format, then -1.
_COPY_SIGNATURE = b"PGCOPY\n\xff\r\n\x00" + struct.pack("!ii", 0, 0)
_COPY_TRAILER = struct.pack("!h", -1)
_PG_EPOCH = datetime(2000, 1, 1, tzinfo=UTC)
"""timestamptz travels as microseconds since this instant."""
_LENGTH = struct.Struct("!i")
_SQLITE_MAX_PARAMS = 32_000
"""SQLite (3.32+) binds at most 32,766 parameters per statement."""
SQLITE_IMPORT_CACHE_KIB = 64 * 1024
"""SQLite page cache of the connection while an import runs (memory is taken as pages are used)."""


class KeyStore(Protocol):
    """Where an import puts one product's keys."""

    def stored(self, fingerprints: Sequence[bytes]) -> set[bytes]:
        """Those of ``fingerprints`` the product already has."""
        ...

    def insert(self, rows: Sequence[tuple[bytes, bytes]]) -> None:
        """Store ``(ciphertext, fingerprint)`` rows as available keys of the batch."""
        ...


@contextmanager
def key_store(session: Session, *, product_id: int, batch_id: int, created_at: datetime) -> Iterator[KeyStore]:
    """The store for this session's database, for the duration of one import."""
    if session.get_bind().dialect.name == "postgresql":
        yield PostgresKeys(session, product_id, batch_id, created_at)
        return
    connection = session.connection()
    # Fingerprints are random, so every insert (and every lookup) lands on a random page of
    # the unique index; with SQLite's default 2 MiB page cache a long import spills and
    # re-reads that index page by page. A bigger cache while the import runs holds the
    # index of about 10^6 keys; the connection gets its usual size back afterwards.
    usual = int(connection.exec_driver_sql("PRAGMA cache_size").scalar_one())
    connection.exec_driver_sql(f"PRAGMA cache_size = -{SQLITE_IMPORT_CACHE_KIB}")
    try:
        yield SqliteKeys(session, product_id, batch_id, created_at)
    finally:
        connection.exec_driver_sql(f"PRAGMA cache_size = {usual}")


class SqliteKeys:
    def __init__(self, session: Session, product_id: int, batch_id: int, created_at: datetime) -> None:
        self._connection = session.connection()
        dialect = self._connection.dialect
        # The text SQLAlchemy itself stores for this column, computed once.
        process = UtcDateTime().dialect_impl(dialect).bind_processor(dialect)
        self._product_id = product_id
        self._fixed = (product_id, batch_id, "available")
        self._created_at = process(created_at) if process else created_at

    def stored(self, fingerprints: Sequence[bytes]) -> set[bytes]:
        found: set[bytes] = set()
        for start in range(0, len(fingerprints), _SQLITE_MAX_PARAMS):
            part = fingerprints[start : start + _SQLITE_MAX_PARAMS]
            marks = ", ".join("?" * len(part))
            query = f"SELECT fingerprint FROM card_keys WHERE product_id = ? AND fingerprint IN ({marks})"  # noqa: S608 - only placeholders
            found.update(bytes(fingerprint) for (fingerprint,) in self._connection.exec_driver_sql(query, (self._product_id, *part)))
        return found

    def insert(self, rows: Sequence[tuple[bytes, bytes]]) -> None:
        values = [(*self._fixed, ciphertext, fingerprint, self._created_at) for ciphertext, fingerprint in rows]
        try:
            self._connection.exec_driver_sql(f"INSERT INTO card_keys ({_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?)", values)  # noqa: S608 - constant
        except IntegrityError as exc:
            raise errors.CONCURRENT_IMPORT() from exc


class PostgresKeys:
    def __init__(self, session: Session, product_id: int, batch_id: int, created_at: datetime) -> None:
        # The session's own connection, so COPY runs in the caller's transaction.
        self._driver = cast("psycopg.Connection[Any]", session.connection().connection.driver_connection)
        self._product_id = product_id
        status = b"available"
        # Fields 1-3 (product_id int8, batch_id int8, status varchar) and 6 (created_at timestamptz) of every row.
        self._head = struct.pack("!hiqiqi", 6, 8, product_id, 8, batch_id, len(status)) + status
        self._tail = struct.pack("!iq", 8, (created_at - _PG_EPOCH) // timedelta(microseconds=1))

    def stored(self, fingerprints: Sequence[bytes]) -> set[bytes]:
        query = "SELECT fingerprint FROM card_keys WHERE product_id = %s AND fingerprint = ANY(%s)"
        with self._driver.cursor(binary=True) as cursor:
            cursor.execute(query, (self._product_id, list(fingerprints)))
            return {bytes(fingerprint) for (fingerprint,) in cursor}

    def insert(self, rows: Sequence[tuple[bytes, bytes]]) -> None:
        from psycopg.errors import DeadlockDetected, UniqueViolation

        head, tail, length = self._head, self._tail, _LENGTH.pack
        framed = [
            b"".join((head, length(len(ciphertext)), ciphertext, length(len(fingerprint)), fingerprint, tail))
            for ciphertext, fingerprint in rows
        ]
        try:
            with self._driver.cursor() as cursor, cursor.copy(f"COPY card_keys ({_COLUMNS}) FROM STDIN (FORMAT BINARY)") as copy:
                copy.write(b"".join([_COPY_SIGNATURE, *framed, _COPY_TRAILER]))
        except (UniqueViolation, DeadlockDetected) as exc:
            raise errors.CONCURRENT_IMPORT() from exc
