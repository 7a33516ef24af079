"""The writer's turn starts at a transaction's first statement (``kit/db.py``), on both backends.

A request's unit of work is opened in one worker thread and used in another
(``web/uow.py``); if opening it took the turn, a writer could hold it while
waiting for a thread that the writers queued behind it occupy.
"""

from __future__ import annotations

import threading
import time

import pytest
from sqlalchemy import text

from keyrelay.audit.models import AuditEntry
from keyrelay.audit.service import record
from keyrelay.kit.db import Database

from .support import count


def _write(db: Database, tag: str) -> None:
    with db.transaction() as session:
        record(session, actor="test", action="turn.test", target_type="tag", target_id=tag)


def test_an_opened_but_unused_write_transaction_holds_nobody_up(db: Database) -> None:
    done = threading.Event()
    with db.transaction():  # opened, no statement yet: no connection, no turn
        writer = threading.Thread(target=lambda: (_write(db, "other"), done.set()))
        writer.start()
        assert done.wait(10), "a writer waited for a transaction that had not started"
    writer.join()
    assert count(db, AuditEntry, AuditEntry.target_id == "other") == 1


def test_sqlite_writers_of_one_process_take_turns_once_they_have_started(db: Database) -> None:
    if not db.is_sqlite:
        pytest.skip("PostgreSQL writers of different rows do not queue")
    order: list[str] = []
    started = threading.Event()

    def second() -> None:
        started.wait(10)
        _write(db, "second")
        order.append("second")

    writer = threading.Thread(target=second)
    writer.start()
    with db.transaction() as session:
        record(session, actor="test", action="turn.test", target_type="tag", target_id="first")
        session.execute(text("SELECT 1"))
        session.flush()  # the first statement took the turn: the write engine's one connection
        started.set()
        time.sleep(0.3)
        order.append("first")
    writer.join(10)
    assert order == ["first", "second"]
    assert count(db, AuditEntry, AuditEntry.action == "turn.test") == 2
