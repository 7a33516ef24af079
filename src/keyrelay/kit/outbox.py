"""Transactional outbox: events are rows written in the same transaction as the change.

Nothing leaves the process before commit. The worker reads pending rows
(``FOR UPDATE SKIP LOCKED`` on PostgreSQL so several workers share the load),
hands each to the handler registered for its topic, and marks it processed.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any

import structlog
from sqlalchemy import JSON, Integer, String, Text, select
from sqlalchemy.orm import Mapped, Session, mapped_column

from keyrelay.kit.clock import utcnow
from keyrelay.kit.db import Base, BigId, UtcDateTime

log = structlog.get_logger(__name__)

Handler = Callable[[Session, dict[str, Any]], None]
_HANDLERS: dict[str, Handler] = {}
MAX_ATTEMPTS = 12


class OutboxEvent(Base):
    """A domain event waiting to be relayed (webhooks, e-mail, brokers)."""

    __tablename__ = "outbox"

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    topic: Mapped[str] = mapped_column(String(60))
    """Dotted event name, e.g. ``order.delivered``."""
    payload: Mapped[dict[str, Any]] = mapped_column(JSON)
    available_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow, index=True)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    processed_at: Mapped[datetime | None] = mapped_column(UtcDateTime, nullable=True, index=True)
    last_error: Mapped[str] = mapped_column(Text, default="")
    created_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow)


def emit(session: Session, topic: str, payload: dict[str, Any]) -> None:
    """Queue an event; it is visible to the worker only if the caller's transaction commits."""
    session.add(OutboxEvent(topic=topic, payload=payload))


def register(topic: str) -> Callable[[Handler], Handler]:
    """Decorator: ``handler(session, payload)`` runs for every event of ``topic``."""

    def wrap(func: Handler) -> Handler:
        _HANDLERS[topic] = func
        return func

    return wrap


def drain(session: Session, *, limit: int = 100) -> int:
    """Process up to ``limit`` due events in the caller's transaction; return how many."""
    now = utcnow()
    query = (
        select(OutboxEvent)
        .where(OutboxEvent.processed_at.is_(None), OutboxEvent.available_at <= now)
        .order_by(OutboxEvent.id)
        .limit(limit)
        .with_for_update(skip_locked=True)
    )
    events = list(session.scalars(query))
    for event in events:
        _dispatch(session, event, now)
    return len(events)


def _dispatch(session: Session, event: OutboxEvent, now: datetime) -> None:
    handler = _HANDLERS.get(event.topic)
    try:
        if handler is not None:
            with session.begin_nested():
                handler(session, event.payload)
        event.processed_at = now
    except Exception as exc:  # noqa: BLE001 - one bad event must not stop the queue
        event.attempts += 1
        event.last_error = f"{type(exc).__name__}: {exc}"[:500]
        delay = min(2**event.attempts, 3600)
        event.available_at = now + timedelta(seconds=delay)
        if event.attempts >= MAX_ATTEMPTS:
            event.processed_at = now
        log.warning("outbox_handler_failed", topic=event.topic, event_id=event.id, attempts=event.attempts)
