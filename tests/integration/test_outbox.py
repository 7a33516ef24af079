"""Transactional outbox: events leave only after commit, are handled once, and failures retry with backoff."""

from __future__ import annotations

import uuid
from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import select, update
from sqlalchemy.orm import Session

from keyrelay.audit import service as audit
from keyrelay.audit.models import AuditEntry
from keyrelay.kit import outbox
from keyrelay.kit.clock import utcnow
from keyrelay.kit.db import Database
from keyrelay.kit.outbox import OutboxEvent

from .support import count


@pytest.fixture
def topic() -> str:
    """A topic no other test (or backend run) registers a handler for."""
    return f"test.{uuid.uuid4().hex[:12]}"


def _events(db: Database, topic: str) -> list[OutboxEvent]:
    with db.transaction(write=False) as s:
        return list(s.scalars(select(OutboxEvent).where(OutboxEvent.topic == topic).order_by(OutboxEvent.id)))


def _drain(db: Database) -> int:
    with db.transaction() as s:
        return outbox.drain(s)


def _make_due(db: Database, topic: str) -> None:
    with db.transaction() as s:
        s.execute(update(OutboxEvent).where(OutboxEvent.topic == topic).values(available_at=utcnow() - timedelta(seconds=1)))


def test_drain_hands_each_event_to_its_handler_once(db: Database, topic: str) -> None:
    seen: list[dict[str, Any]] = []

    @outbox.register(topic)
    def handle(session: Session, payload: dict[str, Any]) -> None:
        seen.append(payload)

    with db.transaction() as s:
        for n in range(3):
            outbox.emit(s, topic, {"n": n})
        outbox.emit(s, "test.nobody-listens", {"n": 99})  # no handler: simply marked processed
    assert _drain(db) == 4
    assert [p["n"] for p in seen] == [0, 1, 2]
    assert all(e.processed_at is not None and e.attempts == 0 for e in _events(db, topic))
    assert _drain(db) == 0
    assert len(seen) == 3


def test_events_of_a_rolled_back_transaction_never_leave(db: Database, topic: str) -> None:
    def failing_use_case() -> None:
        with db.transaction() as s:
            outbox.emit(s, topic, {"n": 1})
            raise RuntimeError("the use case failed after emitting")

    with pytest.raises(RuntimeError):
        failing_use_case()
    assert _events(db, topic) == []
    assert _drain(db) == 0


def test_a_failing_handler_is_retried_later_with_backoff(db: Database, topic: str) -> None:
    calls: list[int] = []

    @outbox.register(topic)
    def flaky(session: Session, payload: dict[str, Any]) -> None:
        calls.append(payload["n"])
        audit.record(session, actor="system", action="test.handled", target_type="event", target_id=topic)
        if len(calls) < 3:
            raise ConnectionError(f"receiver down (call {len(calls)})")

    with db.transaction() as s:
        outbox.emit(s, topic, {"n": 7})
        outbox.emit(s, f"{topic}.other", {"n": 8})
    before = utcnow()
    assert _drain(db) == 2  # the other event is not held up by the failing one
    [event] = _events(db, topic)
    assert (event.attempts, event.processed_at) == (1, None)
    assert event.last_error == "ConnectionError: receiver down (call 1)"
    assert event.available_at >= before + timedelta(seconds=2)
    assert count(db, AuditEntry, AuditEntry.action == "test.handled") == 0  # the failed handler's writes were undone
    assert _events(db, f"{topic}.other")[0].processed_at is not None

    assert _drain(db) == 0  # not due yet: nothing is retried in a hot loop
    _make_due(db, topic)
    assert _drain(db) == 1
    [event] = _events(db, topic)
    assert event.attempts == 2
    assert event.processed_at is None
    assert event.available_at >= utcnow() + timedelta(seconds=3)  # 2**attempts: the wait grows

    _make_due(db, topic)
    assert _drain(db) == 1
    [event] = _events(db, topic)
    assert event.processed_at is not None
    assert event.attempts == 2
    assert calls == [7, 7, 7]
    assert count(db, AuditEntry, AuditEntry.action == "test.handled") == 1


def test_an_event_that_keeps_failing_is_parked_after_max_attempts(db: Database, topic: str) -> None:
    @outbox.register(topic)
    def broken(session: Session, payload: dict[str, Any]) -> None:
        raise ValueError("bad payload")

    with db.transaction() as s:
        outbox.emit(s, topic, {})
    with db.transaction() as s:
        s.execute(update(OutboxEvent).where(OutboxEvent.topic == topic).values(attempts=outbox.MAX_ATTEMPTS - 1))
    assert _drain(db) == 1
    [event] = _events(db, topic)
    assert event.attempts == outbox.MAX_ATTEMPTS
    assert event.processed_at is not None  # parked: no more retries
    assert "bad payload" in event.last_error
    _make_due(db, topic)
    assert _drain(db) == 0
