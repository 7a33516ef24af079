"""Idempotency keys, as the IETF draft and Stripe use them, scoped to the caller.

A record is claimed (``running``) in its own short transaction, then completed
in the *same* transaction as the business change it guards: either both
commit or neither does. A ``running`` record older than ``STALE_AFTER`` whose
transaction never committed can therefore be taken over safely.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import Integer, String, Text, UniqueConstraint, delete, select, update
from sqlalchemy.orm import Mapped, Session, mapped_column

from keyrelay.kit.clock import utcnow
from keyrelay.kit.db import Base, BigId, UtcDateTime, insert_or_skip
from keyrelay.kit.errors import Conflict, DomainError, ValidationFailed

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
        raise ValidationFailed("Idempotency-Key must be 1–255 printable characters", field="Idempotency-Key")
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
    session.execute(
        update(IdempotencyRecord).where(IdempotencyRecord.id == record_id).values(status="done", response_status=status, response_body=body)
    )


def release(session: Session, record_id: int) -> None:
    """Forget a claim whose request failed unexpectedly, so the client may retry."""
    session.execute(delete(IdempotencyRecord).where(IdempotencyRecord.id == record_id, IdempotencyRecord.status == "running"))


def purge(session: Session) -> int:
    """Drop records past the retention (kept ≥ 24 h, as promised)."""
    cutoff = utcnow() - KEEP
    return session.execute(delete(IdempotencyRecord).where(IdempotencyRecord.created_at < cutoff)).rowcount  # type: ignore[attr-defined,no-any-return]


__all__ = ["IdempotencyRecord", "KeyInFlight", "KeyReused", "Stored", "claim", "complete", "purge", "release", "request_hash"]
