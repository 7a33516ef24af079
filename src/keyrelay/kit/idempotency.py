"""Idempotency keys, as the IETF draft and Stripe use them, scoped to the caller.

A record is claimed (``running``) in its own short transaction, then completed
in the *same* transaction as the business change it guards: either both
commit or neither does. A ``running`` record older than ``STALE_AFTER`` whose
transaction never committed can therefore be taken over safely.

The stored response is sealed by the vault (a purchase's answer carries its
card keys, a webhook endpoint's its signing secret) as ``vault:`` + base64 of
the blob, bound to (owner, key). The format lives here, next to the table,
because key rotation must re-seal these rows too.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import Integer, String, Text, UniqueConstraint, bindparam, delete, select, update
from sqlalchemy.orm import Mapped, Session, mapped_column

from keyrelay.kit.clock import utcnow
from keyrelay.kit.db import Base, BigId, UtcDateTime, insert_or_skip, table_of
from keyrelay.kit.errors import BAD_IDEMPOTENCY_KEY, Conflict, DomainError
from keyrelay.kit.sealed import SealedColumn, register
from keyrelay.kit.vault import Vault

KEEP = timedelta(hours=48)
STALE_AFTER = timedelta(seconds=60)


class IdempotencyRecord(Base):
    """The first response to (owner, key); replayed for the same request."""

    __tablename__ = "idempotency_records"
    __table_args__ = (UniqueConstraint("owner", "key"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    owner: Mapped[str] = mapped_column(String(80))
    key: Mapped[str] = mapped_column(String(255))
    request_hash: Mapped[str] = mapped_column(String(64))
    status: Mapped[str] = mapped_column(String(10))
    """running | done."""
    response_status: Mapped[int | None] = mapped_column(Integer, nullable=True)
    response_body: Mapped[str | None] = mapped_column(Text, nullable=True)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow, index=True)


class KeyReused(DomainError):
    code, status, title = "idempotency_key_reused", 422, "Idempotency-Key reused with another request"


class KeyInFlight(Conflict):
    code, title = "idempotency_in_progress", "A request with this Idempotency-Key is still running"


@dataclass(frozen=True)
class Stored:
    status: int
    body: str


def request_hash(method: str, path: str, body: bytes) -> str:
    return hashlib.sha256(b"\n".join((method.encode(), path.encode(), body))).hexdigest()


def claim(session: Session, *, owner: str, key: str, fingerprint: str) -> int | Stored:
    """Claim ``key`` for this request: its record id, or the stored response to replay."""
    if not 1 <= len(key) <= 255 or not key.isprintable():
        raise BAD_IDEMPOTENCY_KEY(field="Idempotency-Key")
    now = utcnow()
    values = {"owner": owner, "key": key, "request_hash": fingerprint, "status": "running", "created_at": now}
    record_id = insert_or_skip(session, IdempotencyRecord, values, ["owner", "key"])
    if record_id is not None:
        return record_id
    found = session.scalars(select(IdempotencyRecord).where(IdempotencyRecord.owner == owner, IdempotencyRecord.key == key)).one()
    if found.request_hash != fingerprint:
        raise KeyReused("this Idempotency-Key was used with a different request")
    if found.status == "done":
        return Stored(found.response_status or 200, found.response_body or "")
    # Running: either truly in flight, or its transaction died before committing (safe to retake).
    retaken = session.execute(
        update(IdempotencyRecord)
        .where(IdempotencyRecord.id == found.id, IdempotencyRecord.status == "running", IdempotencyRecord.created_at < now - STALE_AFTER)
        .values(created_at=now)
    )
    if retaken.rowcount == 1:  # type: ignore[attr-defined]
        return found.id
    raise KeyInFlight("the first request with this Idempotency-Key has not finished; retry shortly")


def complete(session: Session, record_id: int, *, status: int, body: str) -> None:
    """Store the response; call inside the transaction of the guarded change."""
    session.connection().execute(_COMPLETE, {"record_id": record_id, "answer_status": status, "answer_body": body})


_COMPLETE = (
    update(table_of(IdempotencyRecord))
    .where(table_of(IdempotencyRecord).c.id == bindparam("record_id"))
    .values(status="done", response_status=bindparam("answer_status"), response_body=bindparam("answer_body"))
)


def store(session: Session, *, owner: str, key: str, fingerprint: str, status: int, body: str) -> None:
    """Keep an answer for (owner, key) outright, its request's own transaction having rolled back.

    A record there already (another request with this key got in first) stays as it is.
    """
    values = {"owner": owner, "key": key, "request_hash": fingerprint, "status": "done", "response_status": status, "response_body": body}
    insert_or_skip(session, IdempotencyRecord, values, ["owner", "key"])


def release(session: Session, record_id: int) -> None:
    """Forget a claim whose request failed unexpectedly, so the client may retry."""
    session.execute(delete(IdempotencyRecord).where(IdempotencyRecord.id == record_id, IdempotencyRecord.status == "running"))


def purge(session: Session) -> int:
    """Drop records past the retention (kept ≥ 24 h, as promised)."""
    cutoff = utcnow() - KEEP
    return session.execute(delete(IdempotencyRecord).where(IdempotencyRecord.created_at < cutoff)).rowcount  # type: ignore[attr-defined,no-any-return]


SEALED_PREFIX = "vault:"


def body_aad(owner: str, key: str) -> bytes:
    return f"idempotency:{owner}:{key}".encode()


def seal_body(vault: Vault, *, owner: str, key: str, body: str) -> str:
    """The text stored for a response body: sealed, bound to its (owner, key)."""
    return SEALED_PREFIX + base64.b64encode(vault.encrypt(body.encode(), body_aad(owner, key))).decode()


def open_body(vault: Vault, *, owner: str, key: str, stored: str) -> str:
    """The response body from its stored text (cleartext rows predate sealing and are returned as they are)."""
    blob = _blob_of(stored)
    return stored if blob is None else vault.decrypt(blob, body_aad(owner, key)).decode()


def _blob_of(stored: str) -> bytes | None:
    if not stored.startswith(SEALED_PREFIX):
        return None
    try:
        return base64.b64decode(stored[len(SEALED_PREFIX) :], validate=True)
    except binascii.Error:
        return b""  # not a blob: the vault reports it as malformed rather than us guessing


def _stored_of(blob: bytes) -> str:
    return SEALED_PREFIX + base64.b64encode(blob).decode()


def _row_aad(row: Mapping[str, object]) -> bytes:
    return body_aad(str(row["owner"]), str(row["key"]))


register(
    SealedColumn(
        domain="kit",
        primary_key=IdempotencyRecord.id,
        ciphertext=IdempotencyRecord.response_body,
        aad=_row_aad,
        aad_inputs=(IdempotencyRecord.owner, IdempotencyRecord.key),
        load=_blob_of,
        dump=_stored_of,
    )
)

__all__ = [
    "IdempotencyRecord",
    "KeyInFlight",
    "KeyReused",
    "Stored",
    "body_aad",
    "claim",
    "complete",
    "open_body",
    "purge",
    "release",
    "request_hash",
    "seal_body",
    "store",
]
