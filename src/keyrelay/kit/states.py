"""Status machines as data, and the one way a row changes state.

A ``StateMachine`` lists, for each state, the states it may become. ``move_row``
checks a move against it and writes the move with one conditional UPDATE
(``WHERE id = ? AND status = <the state we loaded>``). When two transactions
race to move the same row, the database decides: on PostgreSQL the second
UPDATE waits for the first's row lock and then matches nothing; on SQLite the
writers are serialised, so the second one loads the new state and fails the
check. Either way the loser gets ``IllegalTransition``, never a silent overwrite.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from sqlalchemy import inspect, update
from sqlalchemy.orm import Session
from sqlalchemy.orm.attributes import set_committed_value

from keyrelay.kit.errors import N_, ErrorCode, IllegalTransition, define

ILLEGAL = define(
    "illegal_transition",
    IllegalTransition,
    "a %(current)s %(name)s cannot become %(target)s",
    N_("Not possible in the current state; nothing was changed."),
)
RACED = define(
    "illegal_transition",
    IllegalTransition,
    "the %(name)s was changed concurrently",
    N_("Someone else changed this just now; reload the page."),
)


@dataclass(frozen=True)
class StateMachine:
    """The allowed moves of one kind of row (orders, withdrawals, distributors)."""

    name: str
    """What moves, as messages name it: ``order``, ``withdrawal``."""
    transitions: Mapping[str, frozenset[str]]
    """Every state → the states it may become; a final state maps to an empty set."""
    column: str = "status"
    """The mapped attribute that holds the state."""
    illegal: ErrorCode = ILLEGAL
    """Raised for a move the machine forbids (parameters ``name``, ``current``, ``target``)."""
    raced: ErrorCode = RACED
    """Raised when another transaction moved the row first (also ``ref``, and ``current``: the state it now has)."""
    ref: str = "id"
    """The attribute that names a row in ``raced`` (e.g. an order's number)."""

    @property
    def states(self) -> frozenset[str]:
        return frozenset(self.transitions)

    def can(self, current: str, target: str) -> bool:
        return target in self.transitions.get(current, frozenset())

    def check(self, current: str, target: str) -> None:
        """Raise ``IllegalTransition`` unless ``current → target`` is allowed."""
        if not self.can(current, target):
            raise self.illegal(name=self.name, current=current, target=target)


def move_row(session: Session, row: Any, machine: StateMachine, target: str, **values: Any) -> None:
    """Move the loaded ``row`` to ``target``, writing ``values`` too, only if nobody moved it first.

    One ``UPDATE … WHERE <primary key> AND <state> = <loaded state> RETURNING``:
    on success the object holds exactly what was written (including ``onupdate``
    stamps such as ``updated_at``) without a re-read. If the row's state changed
    since it was loaded, nothing is written, the object is reloaded and
    ``IllegalTransition`` raised. ``values`` must be plain values, not SQL
    expressions: they are copied onto the object as given.
    """
    current = getattr(row, machine.column)
    machine.check(current, target)
    mapper = inspect(row).mapper
    entity = mapper.class_
    changes = {machine.column: target, **values}
    # Columns the UPDATE stamps by itself (``onupdate``): read them back so the object stays exact.
    stamped = [attr.key for attr in mapper.column_attrs if attr.key not in changes and any(c.onupdate is not None for c in attr.columns)]
    written = [*changes, *stamped]
    key = [column == value for column, value in zip(mapper.primary_key, mapper.primary_key_from_instance(row), strict=True)]
    statement = (
        update(entity)
        .where(*key, getattr(entity, machine.column) == current)
        .values(**changes)
        .returning(*(getattr(entity, name) for name in written))
        .execution_options(synchronize_session=False)
    )
    new = session.execute(statement).one_or_none()
    if new is None:
        session.refresh(row)
        now = getattr(row, machine.column)
        raise machine.raced(name=machine.name, ref=getattr(row, machine.ref), current=now, target=target)
    for name, value in zip(written, new, strict=True):
        set_committed_value(row, name, value)
