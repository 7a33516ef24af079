"""Transactional outbox: events leave only after commit; every subscriber gets each event once, on its own schedule."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import timedelta
from typing import Any, ClassVar

import pytest
from sqlalchemy import select, update
from sqlalchemy.orm import Session

from keyrelay.audit import service as audit
from keyrelay.audit.models import AuditEntry
from keyrelay.kit import outbox
from keyrelay.kit.clock import utcnow
from keyrelay.kit.db import Database
from keyrelay.kit.outbox import OutboxEvent, OutboxTask

from .support import count


@pytest.fixture
def topic() -> str:
    """A topic no other test (or backend run) subscribes to."""
    return f"test.{uuid.uuid4().hex[:12]}"


def _events(db: Database, topic: str) -> list[OutboxEvent]:
    with db.transaction(write=False) as s:
        return list(s.scalars(select(OutboxEvent).where(OutboxEvent.topic == topic).order_by(OutboxEvent.id)))


def _tasks(db: Database, subscriber: str) -> list[OutboxTask]:
    with db.transaction(write=False) as s:
        return list(s.scalars(select(OutboxTask).where(OutboxTask.subscriber == subscriber).order_by(OutboxTask.id)))


def _drain(db: Database) -> int:
    with db.transaction() as s:
        return outbox.drain(s)


def _make_due(db: Database, subscriber: str) -> None:
    with db.transaction() as s:
        s.execute(update(OutboxTask).where(OutboxTask.subscriber == subscriber).values(available_at=utcnow() - timedelta(seconds=1)))


def test_drain_hands_each_event_to_its_subscriber_once(db: Database, topic: str) -> None:
    seen: list[dict[str, Any]] = []

    @outbox.subscribe(f"{topic}.sub", topic)
    def handle(session: Session, payload: dict[str, Any]) -> None:
        seen.append(payload)

    with db.transaction() as s:
        for n in range(3):
            outbox.emit(s, topic, {"n": n})
        outbox.emit(s, "test.nobody-listens", {"n": 99})  # no subscriber: fanned out to nobody, marked processed
    assert _drain(db) == 4 + 3  # four events fanned out, three tasks run
    assert [p["n"] for p in seen] == [0, 1, 2]
    assert all(e.processed_at is not None for e in _events(db, topic))
    assert [t.status for t in _tasks(db, f"{topic}.sub")] == ["done"] * 3
    assert _drain(db) == 0
    assert len(seen) == 3


def test_every_subscriber_of_a_topic_gets_the_event(db: Database, topic: str) -> None:
    heard: dict[str, list[int]] = {"a": [], "b": [], "c": []}
    for name in heard:
        outbox.subscribe(f"{topic}.{name}", topic)(lambda _s, p, name=name: heard[name].append(p["n"]))

    with db.transaction() as s:
        outbox.emit(s, topic, {"n": 1})
    _drain(db)
    assert heard == {"a": [1], "b": [1], "c": [1]}


def test_typed_events_carry_their_topic_and_snapshot(db: Database, topic: str) -> None:
    @dataclass(frozen=True)
    class Happened:
        topic: ClassVar[str] = ""
        value: int

        def payload(self) -> dict[str, Any]:
            return {"value": self.value}

    Happened.topic = topic
    got: list[dict[str, Any]] = []
    outbox.subscribe(f"{topic}.typed", topic)(lambda _s, p: got.append(p))
    with db.transaction() as s:
        outbox.publish(s, Happened(value=5))
    _drain(db)
    assert got == [{"value": 5}]


def test_events_of_a_rolled_back_transaction_never_leave(db: Database, topic: str) -> None:
    def failing_use_case() -> None:
        with db.transaction() as s:
            outbox.emit(s, topic, {"n": 1})
            raise RuntimeError("the use case failed after emitting")

    with pytest.raises(RuntimeError):
        failing_use_case()
    assert _events(db, topic) == []
    assert _drain(db) == 0


def test_a_failing_subscriber_retries_alone_with_backoff(db: Database, topic: str) -> None:
    calls: list[int] = []
    steady: list[int] = []
    flaky_name, steady_name = f"{topic}.flaky", f"{topic}.steady"

    @outbox.subscribe(flaky_name, topic)
    def flaky(session: Session, payload: dict[str, Any]) -> None:
        calls.append(payload["n"])
        audit.record(session, actor="system", action="test.handled", target_type="event", target_id=topic)
        if len(calls) < 3:
            raise ConnectionError(f"receiver down (call {len(calls)})")

    outbox.subscribe(steady_name, topic)(lambda _s, p: steady.append(p["n"]))

    with db.transaction() as s:
        outbox.emit(s, topic, {"n": 7})
    before = utcnow()
    _drain(db)
    [task] = _tasks(db, flaky_name)
    assert (task.status, task.attempts) == ("pending", 1)
    assert task.last_error == "ConnectionError: receiver down (call 1)"
    assert task.available_at >= before + timedelta(seconds=2)
    assert count(db, AuditEntry, AuditEntry.action == "test.handled") == 0  # the failed handler's writes were undone
    assert steady == [7]  # the other subscriber was not held up
    assert _tasks(db, steady_name)[0].status == "done"

    assert _drain(db) == 0  # not due yet: nothing is retried in a hot loop
    _make_due(db, flaky_name)
    assert _drain(db) == 1
    [task] = _tasks(db, flaky_name)
    assert task.attempts == 2
    assert task.available_at >= utcnow() + timedelta(seconds=3)  # 2**attempts: the wait grows

    _make_due(db, flaky_name)
    assert _drain(db) == 1
    assert _tasks(db, flaky_name)[0].status == "done"
    assert calls == [7, 7, 7]
    assert steady == [7]  # never re-run because another subscriber failed
    assert count(db, AuditEntry, AuditEntry.action == "test.handled") == 1


def test_a_task_that_keeps_failing_is_kept_dead_counted_and_can_be_retried(db: Database, topic: str) -> None:
    name = f"{topic}.broken"
    fixed = {"yes": False}

    @outbox.subscribe(name, topic)
    def broken(session: Session, payload: dict[str, Any]) -> None:
        if not fixed["yes"]:
            raise ValueError("bad payload")

    with db.transaction() as s:
        outbox.emit(s, topic, {"n": 1})
        dead_before = outbox.dead_count(s)
    _drain(db)
    with db.transaction() as s:
        s.execute(update(OutboxTask).where(OutboxTask.subscriber == name).values(attempts=outbox.MAX_ATTEMPTS - 1))
    _make_due(db, name)
    assert _drain(db) == 1
    [task] = _tasks(db, name)
    assert (task.status, task.attempts) == ("dead", outbox.MAX_ATTEMPTS)
    assert "bad payload" in task.last_error
    _make_due(db, name)
    assert _drain(db) == 0  # dead: no more automatic retries
    with db.transaction(write=False) as s:
        assert outbox.dead_count(s) == dead_before + 1
        listed = [d for d in outbox.dead_tasks(s) if d.subscriber == name]
    assert [(d.topic, d.payload) for d in listed] == [(topic, {"n": 1})]

    fixed["yes"] = True
    with db.transaction() as s:
        assert outbox.retry(s, [task.id]) == 1
    assert _drain(db) == 1
    assert _tasks(db, name)[0].status == "done"


def test_purge_forgets_finished_work_but_keeps_dead_tasks(db: Database, topic: str) -> None:
    outbox.subscribe(f"{topic}.ok", topic)(lambda _s, _p: None)
    with db.transaction() as s:
        outbox.emit(s, topic, {"n": 1})
    _drain(db)
    with db.transaction() as s:
        assert outbox.purge(s, older_than=timedelta(days=7)) == 0  # too recent
        assert outbox.purge(s, older_than=timedelta(seconds=-1)) >= 1
    assert _events(db, topic) == []
    assert _tasks(db, f"{topic}.ok") == []


def test_events_of_a_rolled_back_savepoint_never_leave_but_the_outer_ones_do(db: Database, topic: str) -> None:
    with db.transaction() as s:
        outbox.emit(s, topic, {"n": "outer"})
        nested = s.begin_nested()
        outbox.emit(s, topic, {"n": "inner"})
        nested.rollback()  # the nested step failed
        outbox.emit(s, topic, {"n": "after"})
    assert sorted(e.payload["n"] for e in _events(db, topic)) == ["after", "outer"]


def test_a_transactions_events_are_written_in_one_statement(db: Database, topic: str) -> None:
    from sqlalchemy import event as sa_event

    inserts: list[str] = []

    def seen(_conn: object, _cursor: object, statement: str, *_args: object) -> None:
        if statement.lstrip().upper().startswith("INSERT INTO OUTBOX "):
            inserts.append(statement)

    engine = db.write_engine
    sa_event.listen(engine, "before_cursor_execute", seen)
    try:
        with db.transaction() as s:
            for n in range(5):
                outbox.emit(s, topic, {"n": n})
    finally:
        sa_event.remove(engine, "before_cursor_execute", seen)
    assert len(inserts) == 1
    assert [e.payload["n"] for e in _events(db, topic)] == [0, 1, 2, 3, 4]


def test_a_subscriber_that_wants_nothing_this_pass_gets_no_task(db: Database, topic: str) -> None:
    """``wants`` is asked once per pass; False: the events are processed with no task, savepoint or handler call."""
    seen: list[dict[str, Any]] = []
    asked: list[bool] = []
    listening = {"now": False}

    def wants(_session: Session) -> bool:
        asked.append(listening["now"])
        return listening["now"]

    @outbox.subscribe(f"{topic}.maybe", topic, wants=wants)
    def handle(_session: Session, payload: dict[str, Any]) -> None:
        seen.append(payload)

    with db.transaction() as s:
        for n in range(3):
            outbox.emit(s, topic, {"n": n})
    assert _drain(db) == 3
    assert (seen, _tasks(db, f"{topic}.maybe"), asked) == ([], [], [False])
    assert all(e.processed_at is not None for e in _events(db, topic))

    listening["now"] = True
    with db.transaction() as s:
        outbox.emit(s, topic, {"n": 3})
    _drain(db)
    assert seen == [{"n": 3}]
    assert [t.status for t in _tasks(db, f"{topic}.maybe")] == [outbox.DONE]
