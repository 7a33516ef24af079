"""Transactional outbox with any number of subscribers per event type.

An event is a row written in the same transaction as the change it reports
(``publish`` a typed event, or ``emit`` a topic and payload). Nothing leaves
the process before commit. The worker then works in two steps, each taking
its rows with ``FOR UPDATE SKIP LOCKED`` so several workers share the load:

1. *fan out*: every new event gets one task per subscriber of its topic, and
   is marked processed;
2. *run*: each due task runs its subscriber in a savepoint. Progress is per
   subscriber: one that fails retries on its own backoff and neither blocks
   nor re-runs the others; after ``MAX_ATTEMPTS`` it is kept as ``dead``
   (listed in the operator console, countable, retried on demand), never dropped.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, ClassVar, Protocol

import structlog
from sqlalchemy import JSON, ForeignKey, Index, Integer, String, Text, UniqueConstraint, delete, func, insert, select, update
from sqlalchemy import event as sa_event
from sqlalchemy.orm import Mapped, Session, mapped_column

from keyrelay.kit.clock import utcnow
from keyrelay.kit.db import Base, BigId, UtcDateTime, table_of

log = structlog.get_logger(__name__)

Handler = Callable[[Session, dict[str, Any]], None]
Wants = Callable[[Session], bool]
MAX_ATTEMPTS = 12
PENDING, DONE, DEAD = "pending", "done", "dead"


class Event(Protocol):
    """A typed domain event: its dotted topic and the snapshot it carries."""

    topic: ClassVar[str]

    def payload(self) -> dict[str, Any]:
        """JSON-ready data as it was at event time."""
        ...


@dataclass(frozen=True)
class Subscriber:
    name: str
    """Stable identifier: task rows refer to it, so renaming one orphans its pending work."""
    topics: frozenset[str]
    handler: Handler
    wants: Wants | None = None
    """Asked once per pass: False means no task is made for this subscriber (nothing it would do now)."""


_SUBSCRIBERS: dict[str, Subscriber] = {}


class OutboxEvent(Base):
    """A domain event waiting to be handed to its subscribers."""

    __tablename__ = "outbox"

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    topic: Mapped[str] = mapped_column(String(60))
    """Dotted event name, e.g. ``order.delivered``."""
    payload: Mapped[dict[str, Any]] = mapped_column(JSON)
    available_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow, index=True)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    processed_at: Mapped[datetime | None] = mapped_column(UtcDateTime, nullable=True, index=True)
    """When the event was fanned out into one task per subscriber."""
    last_error: Mapped[str] = mapped_column(Text, default="")
    created_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow)


class OutboxTask(Base):
    """One subscriber's progress on one event."""

    __tablename__ = "outbox_tasks"
    __table_args__ = (UniqueConstraint("event_id", "subscriber"), Index("ix_outbox_tasks_due", "status", "available_at"))

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    event_id: Mapped[int] = mapped_column(ForeignKey("outbox.id", ondelete="CASCADE"))
    subscriber: Mapped[str] = mapped_column(String(80))
    status: Mapped[str] = mapped_column(String(8), default=PENDING)
    """pending | done | dead (gave up after ``MAX_ATTEMPTS``; kept for the operator)."""
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    available_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow)
    last_error: Mapped[str] = mapped_column(Text, default="")
    done_at: Mapped[datetime | None] = mapped_column(UtcDateTime, nullable=True)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow)


_PENDING = "keyrelay.outbox.pending"
"""``session.info`` key: events of this transaction not yet written."""


def emit(session: Session, topic: str, payload: dict[str, Any]) -> None:
    """Queue an event; it is visible to the worker only if the caller's transaction commits.

    Events are written in one multi-row INSERT just before the transaction
    commits (an order's four or five events cost one statement, not five).
    Inside a savepoint the row is added at once instead, so rolling the
    savepoint back takes its events with it.
    """
    if session.in_nested_transaction():
        session.add(OutboxEvent(topic=topic, payload=payload))
        return
    session.info.setdefault(_PENDING, []).append({"topic": topic, "payload": payload})


def write_pending(session: Session) -> None:
    """Write this transaction's queued events now (before commit, or before reading the outbox)."""
    pending = session.info.pop(_PENDING, None)
    if pending:
        session.connection().execute(_INSERT_EVENTS, pending)  # Core, on the connection: the ORM's execute costs ~2× here


_INSERT_EVENTS = insert(table_of(OutboxEvent))


@sa_event.listens_for(Session, "before_commit")
def _before_commit(session: Session) -> None:
    write_pending(session)


@sa_event.listens_for(Session, "after_rollback")
def _after_rollback(session: Session) -> None:
    if not session.in_transaction():  # the whole transaction is gone, and its events with it
        session.info.pop(_PENDING, None)


def publish(session: Session, event: Event) -> None:
    """Queue a typed event with its snapshot."""
    emit(session, event.topic, event.payload())


def subscribe(name: str, *topics: str, wants: Wants | None = None) -> Callable[[Handler], Handler]:
    """Decorator: ``handler(session, payload)`` runs once for every event of ``topics``.

    ``wants(session)``, if given, is asked once per worker pass before any task
    is made: a subscriber with nothing to do then (a webhook nobody listens to)
    costs the pass no task row, savepoint or handler call.
    """

    def wrap(func: Handler) -> Handler:
        existing = _SUBSCRIBERS.get(name)
        merged = (existing.topics if existing and existing.handler is func else frozenset()) | frozenset(topics)
        _SUBSCRIBERS[name] = Subscriber(name, merged, func, wants)
        return func

    return wrap


def register(topic: str) -> Callable[[Handler], Handler]:
    """``subscribe`` under a name derived from the handler (``module.function``)."""

    def wrap(func: Handler) -> Handler:
        return subscribe(f"{func.__module__}.{func.__qualname__}", topic)(func)

    return wrap


def subscribers_of(topic: str) -> list[Subscriber]:
    return [s for s in _SUBSCRIBERS.values() if topic in s.topics]


def drain(session: Session, *, limit: int = 100) -> int:
    """Fan out new events and run due tasks, in the caller's transaction; returns how much work was found."""
    fanned = fan_out(session, limit=limit)
    return fanned + run_due(session, limit=limit)


def fan_out(session: Session, *, limit: int = 100) -> int:
    """Give each new event one task per subscriber of its topic; returns how many events."""
    write_pending(session)
    now = utcnow()
    query = (
        select(OutboxEvent.id, OutboxEvent.topic)
        .where(OutboxEvent.processed_at.is_(None), OutboxEvent.available_at <= now)
        .order_by(OutboxEvent.id)
        .limit(limit)
        .with_for_update(skip_locked=True)
    )
    events = session.execute(query).all()
    if not events:
        return 0
    wanted: dict[str, bool] = {}

    def wants(sub: Subscriber) -> bool:
        if sub.name not in wanted:
            wanted[sub.name] = sub.wants is None or sub.wants(session)
        return wanted[sub.name]

    tasks = [
        {
            "event_id": event_id,
            "subscriber": sub.name,
            "status": PENDING,
            "attempts": 0,
            "available_at": now,
            "last_error": "",
            "created_at": now,
        }
        for event_id, topic in events
        for sub in subscribers_of(topic)
        if wants(sub)
    ]
    if tasks:
        session.execute(insert(OutboxTask), tasks)
    ids = [event_id for event_id, _ in events]
    session.execute(
        update(OutboxEvent).where(OutboxEvent.id.in_(ids)).values(processed_at=now).execution_options(synchronize_session=False)
    )
    return len(events)


def run_due(session: Session, *, limit: int = 100) -> int:
    """Run up to ``limit`` due tasks, each in its own savepoint; returns how many ran."""
    now = utcnow()
    query = (
        select(OutboxTask)
        .where(OutboxTask.status == PENDING, OutboxTask.available_at <= now)
        .order_by(OutboxTask.id)
        .limit(limit)
        .with_for_update(skip_locked=True)
    )
    tasks = list(session.scalars(query))
    if not tasks:
        return 0
    events = {e.id: e for e in session.scalars(select(OutboxEvent).where(OutboxEvent.id.in_({t.event_id for t in tasks})))}
    for task in tasks:
        _run(session, task, events[task.event_id], now)
    return len(tasks)


def _run(session: Session, task: OutboxTask, event: OutboxEvent, now: datetime) -> None:
    subscriber = _SUBSCRIBERS.get(task.subscriber)
    try:
        if subscriber is None:
            raise LookupError(f"no subscriber {task.subscriber!r} in this process")
        with session.begin_nested():
            subscriber.handler(session, event.payload)
    except Exception as exc:  # noqa: BLE001 - one failing subscriber must not stop the queue
        task.attempts += 1
        task.last_error = f"{type(exc).__name__}: {exc}"[:500]
        task.available_at = now + timedelta(seconds=min(2**task.attempts, 3600))
        if task.attempts >= MAX_ATTEMPTS:
            task.status = DEAD
            log.error("outbox_task_dead", topic=event.topic, event_id=event.id, subscriber=task.subscriber)
        else:
            log.warning("outbox_handler_failed", topic=event.topic, event_id=event.id, subscriber=task.subscriber, attempts=task.attempts)
        return
    task.status, task.done_at = DONE, now


@dataclass(frozen=True)
class DeadTask:
    id: int
    subscriber: str
    topic: str
    event_id: int
    attempts: int
    last_error: str
    payload: dict[str, Any]
    created_at: datetime


def dead_count(session: Session) -> int:
    return int(session.scalar(select(func.count()).select_from(OutboxTask).where(OutboxTask.status == DEAD)) or 0)


def dead_tasks(session: Session, *, limit: int = 100) -> list[DeadTask]:
    """Newest dead tasks first, with their event."""
    query = (
        select(OutboxTask, OutboxEvent)
        .join(OutboxEvent, OutboxEvent.id == OutboxTask.event_id)
        .where(OutboxTask.status == DEAD)
        .order_by(OutboxTask.id.desc())
        .limit(limit)
    )
    return [
        DeadTask(t.id, t.subscriber, e.topic, e.id, t.attempts, t.last_error, e.payload, t.created_at)
        for t, e in session.execute(query).tuples()
    ]


def retry(session: Session, task_ids: Sequence[int]) -> int:
    """Give dead tasks a fresh set of attempts; returns how many were revived."""
    result = session.execute(
        update(OutboxTask)
        .where(OutboxTask.id.in_(list(task_ids)), OutboxTask.status == DEAD)
        .values(status=PENDING, attempts=0, available_at=utcnow())
        .execution_options(synchronize_session=False)
    )
    return int(result.rowcount or 0)  # type: ignore[attr-defined]


def purge(session: Session, *, older_than: timedelta = timedelta(days=7)) -> int:
    """Forget finished work: done tasks, then events that have nothing left pending or dead."""
    cutoff = utcnow() - older_than
    session.execute(delete(OutboxTask).where(OutboxTask.status == DONE, OutboxTask.done_at < cutoff))
    unfinished = select(OutboxTask.event_id).where(OutboxTask.event_id == OutboxEvent.id)
    result = session.execute(
        delete(OutboxEvent).where(OutboxEvent.processed_at < cutoff, ~unfinished.exists()).execution_options(synchronize_session=False)
    )
    return int(result.rowcount or 0)  # type: ignore[attr-defined]
