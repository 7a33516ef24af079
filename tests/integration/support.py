"""Read-side helpers for assertions: they open their own transaction and only look."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from datetime import timedelta
from typing import Any

from sqlalchemy import event, func, select, update
from sqlalchemy.orm import Session

from keyrelay.audit.models import AuditEntry
from keyrelay.inventory import service as inventory
from keyrelay.inventory.models import CardKey
from keyrelay.kit.clock import utcnow
from keyrelay.kit.db import Database
from keyrelay.kit.outbox import OutboxEvent
from keyrelay.ledger import service as ledger
from keyrelay.orders import service as orders
from keyrelay.orders.models import Order


@contextmanager
def statements_during(db: Database) -> Iterator[list[str]]:
    """Every statement the app sends on ``db``'s engines (both of them on SQLite) while the block runs."""
    seen: list[str] = []

    def on_statement(_conn: Any, _cursor: Any, statement: str, *_args: Any) -> None:
        seen.append(statement)

    engines = {id(e): e for e in (db.engine, db.write_engine)}.values()
    for engine in engines:
        event.listen(engine, "before_cursor_execute", on_statement)
    try:
        yield seen
    finally:
        for engine in engines:
            event.remove(engine, "before_cursor_execute", on_statement)


def stock(db: Database, product_id: int) -> dict[str, int]:
    """``{"available": n, "reserved": n, "sold": n}`` as committed."""
    with db.transaction(write=False) as session:
        return inventory.stock_counts(session, [product_id])[product_id]


def order_row(db: Database, number: str) -> Order:
    with db.transaction(write=False) as session:
        return orders.get_by_number(session, number)


def count(db: Database, model: Any, *where: Any) -> int:
    with db.transaction(write=False) as session:
        return int(session.scalar(select(func.count()).select_from(model).where(*where)) or 0)


def key_ids_of(db: Database, order_id: int, status: str | None = None) -> list[int]:
    query = select(CardKey.id).where(CardKey.order_id == order_id).order_by(CardKey.id)
    if status:
        query = query.where(CardKey.status == status)
    with db.transaction(write=False) as session:
        return list(session.scalars(query))


def topics(db: Database, order_number: str) -> list[str]:
    """Outbox topics emitted for one order, oldest first."""
    with db.transaction(write=False) as session:
        events = session.scalars(select(OutboxEvent).order_by(OutboxEvent.id))
        return [event.topic for event in events if event.payload.get("order") == order_number]


def books_ok(db: Database) -> bool:
    with db.transaction(write=False) as session:
        report = ledger.check_books(session)
    assert report.ok, report
    return True


def backdate_hold(session: Session, order_id: int, *, seconds: int = 60) -> None:
    """Move an order's hold deadline into the past, as if its TTL had run out."""
    session.execute(update(Order).where(Order.id == order_id).values(expires_at=utcnow() - timedelta(seconds=seconds)))


def audit_trail(db: Database, target_type: str, target_id: int | str) -> list[tuple[str, str, str, dict[str, object]]]:
    """``(action, actor, ip, detail)`` of every audit row about one target, oldest first, as committed."""
    query = select(AuditEntry).where(AuditEntry.target_type == target_type, AuditEntry.target_id == str(target_id)).order_by(AuditEntry.id)
    with db.transaction(write=False) as session:
        return [(e.action, e.actor, e.ip, e.detail) for e in session.scalars(query)]
