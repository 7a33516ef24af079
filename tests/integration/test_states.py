"""``kit.states.move_row`` on a real database, and two operators racing to decide one withdrawal (both backends)."""

from __future__ import annotations

import threading
from collections import Counter
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from datetime import UTC, datetime
from typing import Any

import pytest
from factories import make_user
from sqlalchemy import MetaData, String, event, inspect, select, update
from sqlalchemy.orm import DeclarativeBase, Mapped, Session, mapped_column

from keyrelay.kit.clock import utcnow
from keyrelay.kit.db import BigId, Database, UtcDateTime
from keyrelay.kit.errors import DomainError, IllegalTransition, define
from keyrelay.kit.states import StateMachine, move_row
from keyrelay.ledger import service as ledger
from keyrelay.ledger import withdrawals

from .network_factories import fast_passwords, top_up
from .support import audit_trail

__all__ = ["fast_passwords"]

LONG_AGO = datetime(2020, 1, 1, tzinfo=UTC)


class _Base(DeclarativeBase):
    metadata = MetaData()  # not the application's: this table exists only in this module


class Ticket(_Base):
    """A throwaway row with a state, a free value and an ``onupdate`` stamp."""

    __tablename__ = "test_state_tickets"

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    status: Mapped[str] = mapped_column(String(12))
    note: Mapped[str] = mapped_column(String(40), default="")
    updated_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow, onupdate=utcnow)


TICKET = StateMachine(
    "ticket",
    {"open": frozenset({"done", "dropped"}), "done": frozenset(), "dropped": frozenset()},
    raced=define("illegal_transition", IllegalTransition, "ticket %(ref)s changed concurrently (now %(current)s)"),
)


@pytest.fixture(scope="module")
def tickets(database: Database) -> Iterator[Database]:
    _Base.metadata.create_all(database.write_engine)
    yield database
    _Base.metadata.drop_all(database.write_engine)


def _open_ticket(db: Database) -> int:
    with db.transaction() as s:
        ticket = Ticket(status="open", updated_at=LONG_AGO)
        s.add(ticket)
        s.flush()
        return ticket.id


@contextmanager
def _statements(db: Database) -> Iterator[list[str]]:
    seen: list[str] = []

    def log(_conn: Any, _cursor: Any, statement: str, *_args: Any) -> None:
        seen.append(statement)

    event.listen(db.write_engine, "before_cursor_execute", log)
    try:
        yield seen
    finally:
        event.remove(db.write_engine, "before_cursor_execute", log)


def test_a_move_is_one_conditional_update_and_the_object_holds_what_was_written(tickets: Database) -> None:
    ident = _open_ticket(tickets)
    with tickets.transaction() as s:
        ticket = s.get_one(Ticket, ident)
        with _statements(tickets) as seen:
            move_row(s, ticket, TICKET, "done", note="shipped")
            assert (ticket.status, ticket.note) == ("done", "shipped")
            assert ticket.updated_at > LONG_AGO  # the onupdate stamp came back with RETURNING
        assert len(seen) == 1
        assert seen[0].lstrip().upper().startswith("UPDATE")
        assert not inspect(ticket).expired_attributes
        assert ticket not in s.dirty
    with tickets.transaction(write=False) as s:
        stored = s.get_one(Ticket, ident)
        assert (stored.status, stored.note, stored.updated_at) == ("done", "shipped", ticket.updated_at)


def test_an_illegal_move_raises_before_touching_the_database(tickets: Database) -> None:
    ident = _open_ticket(tickets)
    with tickets.transaction() as s:
        ticket = s.get_one(Ticket, ident)
        move_row(s, ticket, TICKET, "dropped")
        with _statements(tickets) as seen, pytest.raises(IllegalTransition, match=r"^a dropped ticket cannot become done$"):
            move_row(s, ticket, TICKET, "done")
        assert seen == []


def test_a_stale_row_loses_to_the_change_committed_first(tickets: Database) -> None:
    ident = _open_ticket(tickets)
    with tickets.transaction() as s:
        stale = s.get_one(Ticket, ident)  # loaded "open"; the session keeps it after commit
    with tickets.transaction() as s:
        s.execute(update(Ticket).where(Ticket.id == ident).values(status="dropped"))
    with tickets.transaction() as s:
        s.add(stale)
        with pytest.raises(IllegalTransition, match=rf"^ticket {ident} changed concurrently \(now dropped\)$"):
            move_row(s, stale, TICKET, "done", note="too late")
        assert (stale.status, stale.note) == ("dropped", "")  # reloaded: the caller sees who won
    with tickets.transaction(write=False) as s:
        assert s.scalar(select(Ticket.status).where(Ticket.id == ident)) == "dropped"


# --- a real race ---------------------------------------------------------------------------


def _race(attempts: list[Callable[[], None]]) -> Counter[str]:
    """Run the attempts in threads released together; tally ``ok`` or the error code."""
    start = threading.Barrier(len(attempts), timeout=30)

    def run(attempt: Callable[[], None]) -> str:
        start.wait()
        try:
            attempt()
        except DomainError as exc:
            return exc.code
        return "ok"

    with ThreadPoolExecutor(len(attempts)) as pool:
        return Counter(pool.map(run, attempts))


@pytest.mark.usefixtures("fast_passwords")
def test_approve_and_reject_racing_for_one_withdrawal(db: Database, monkeypatch: pytest.MonkeyPatch) -> None:
    """One decision wins; the other gets IllegalTransition and moves no money.

    On PostgreSQL both threads are held until each has loaded the withdrawal as
    "requested", so both pass the machine's check and the conditional UPDATE
    must settle it (the loser's UPDATE waits for the winner's row lock, then
    matches nothing). On SQLite writers are serialised (``Database.transaction``
    holds the write slot for the whole transaction, so such a barrier would
    deadlock): the loser loads the decided withdrawal and fails the check.
    """
    with db.transaction() as s:
        operator = make_user(s, role="operator").id
        seller = make_user(s, role="distributor").id
        top_up(s, seller, 5_000)
        wid = withdrawals.request(s, user_id=seller, amount_minor=3_000, currency="CNY", payee="bank 1", minimum=100).id

    losers: list[str] = []
    if not db.is_sqlite:
        loaded = threading.Barrier(2, timeout=30)
        original = withdrawals.get

        def get_then_wait(session: Session, withdrawal_id: int, **kw: Any) -> withdrawals.Withdrawal:
            found = original(session, withdrawal_id, **kw)
            loaded.wait()
            return found

        monkeypatch.setattr(withdrawals, "get", get_then_wait)

    def decide(move: Callable[[Session], object]) -> Callable[[], None]:
        def attempt() -> None:
            try:
                with db.transaction() as s:
                    move(s)
            except IllegalTransition as exc:
                losers.append(exc.detail)
                raise

        return attempt

    tally = _race(
        [
            decide(lambda s: withdrawals.approve(s, wid, operator_id=operator)),
            decide(lambda s: withdrawals.reject(s, wid, operator_id=operator, note="duplicate")),
        ]
    )
    monkeypatch.undo()
    assert tally == Counter({"ok": 1, "illegal_transition": 1})
    if not db.is_sqlite:
        assert losers == ["the withdrawal was changed concurrently"]
    with db.transaction(write=False) as s:
        status = withdrawals.get(s, wid).status
        summary = ledger.wallet_summary(s, seller, "CNY")
        assert ledger.check_books(s).ok
    # Money moved once, the winner's way: approved keeps it locked, rejected gave it back.
    expected = (2_000, 3_000) if status == "approved" else (5_000, 0)
    assert status in {"approved", "rejected"}
    assert (summary.available, summary.locked) == expected
    # ... and was audited once: the loser's transaction (and its audit row) rolled back.
    assert [action for action, *_ in audit_trail(db, "withdrawal", wid)] == [
        "withdrawal.approve" if status == "approved" else "withdrawal.reject"
    ]
