"""Append audit entries. Callers pass ids and labels, never secrets."""

from __future__ import annotations

from typing import Any

from sqlalchemy import insert, select
from sqlalchemy.orm import Session

from keyrelay.audit.models import AuditEntry
from keyrelay.kit.clock import utcnow
from keyrelay.kit.db import table_of


def record(session: Session, *, actor: str, action: str, target_type: str, target_id: str, ip: str = "", **detail: Any) -> None:
    """Add one audit row in the caller's transaction (so it exists iff the action happened)."""
    values = {"actor": actor, "action": action, "target_type": target_type, "target_id": target_id, "ip": ip, "detail": detail}
    session.connection().execute(_INSERT, {**values, "created_at": utcnow()})


_INSERT = insert(table_of(AuditEntry))
"""Built once: every key reveal (each wholesale purchase) writes a row."""


def recent(session: Session, *, action: str | None = None, limit: int = 100) -> list[AuditEntry]:
    """Newest audit rows first, optionally of one action."""
    query = select(AuditEntry).order_by(AuditEntry.id.desc()).limit(limit)
    if action:
        query = query.where(AuditEntry.action == action)
    return list(session.scalars(query))
