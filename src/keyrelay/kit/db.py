"""Database engines, sessions and the one-transaction-per-request unit of work.

SQLite allows one writer at a time. A deferred ``BEGIN`` that later writes can
fail with "database is locked" when two connections upgrade at once, so write
transactions open with ``BEGIN IMMEDIATE`` (taking the write lock up front and
waiting on ``busy_timeout``) while reads keep a plain ``BEGIN`` under WAL.
Within one process the write engine's pool holds a single connection: checking
it out is a writer's turn, and waiting writers get it handed over at once
(SQLite's own busy handler polls with growing sleeps, which turns contention
into multi-second tail latency). The turn starts at a transaction's first
statement, in the thread that runs it, and ends when the connection is returned
at commit or rollback — so a unit of work opened in one thread and used in
another (a FastAPI dependency) never holds the turn while it waits for a thread.
On PostgreSQL both are ordinary READ COMMITTED transactions; races there are
settled with row locks and conditional updates in the services.
"""

from __future__ import annotations

import functools
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime
from typing import Any, TypeVar

from sqlalchemy import BigInteger, DateTime, Integer, MetaData, Table, TextClause, bindparam, create_engine, event, insert, text
from sqlalchemy.engine import Dialect, Engine
from sqlalchemy.orm import DeclarativeBase, Session, make_transient_to_detached, sessionmaker
from sqlalchemy.types import TypeDecorator

from keyrelay.kit.clock import as_utc

NAMING = {
    "ix": "ix_%(table_name)s_%(column_0_N_name)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}

#: Integer primary keys: BIGINT on PostgreSQL, INTEGER (rowid alias) on SQLite.
BigId = BigInteger().with_variant(Integer(), "sqlite")


class UtcDateTime(TypeDecorator[datetime]):
    """Timezone-aware datetimes on both engines (SQLite stores naive UTC)."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_result_value(self, value: datetime | None, dialect: Any) -> datetime | None:
        return as_utc(value) if value is not None else None


class Base(DeclarativeBase):
    """Declarative base for every table of every domain."""

    metadata = MetaData(naming_convention=NAMING)


def _sqlite_pragmas(dbapi_conn: Any, _record: Any) -> None:
    dbapi_conn.isolation_level = None  # we issue BEGIN ourselves, see module docstring
    cur = dbapi_conn.cursor()
    cur.execute("PRAGMA journal_mode=WAL")
    cur.execute("PRAGMA synchronous=NORMAL")
    cur.execute("PRAGMA foreign_keys=ON")
    cur.execute("PRAGMA busy_timeout=30000")
    cur.close()


WRITER_WAIT_SECONDS = 30
"""How long a SQLite writer waits for its process's turn: as long as ``busy_timeout`` lets it wait for other processes."""


def make_engine(url: str, *, immediate: bool = False, pool_size: int = 10) -> Engine:
    """An engine for ``url``; on SQLite ``immediate`` makes every transaction a writer, one at a time."""
    if url.startswith("sqlite"):
        # A pool keeps connections open: closing SQLite's last connection forces a WAL checkpoint.
        sizes = {"pool_size": pool_size, "max_overflow": pool_size}
        if immediate:  # one connection: checking it out is this process's write turn (module docstring)
            sizes = {"pool_size": 1, "max_overflow": 0, "pool_timeout": WRITER_WAIT_SECONDS}
        engine = create_engine(url, connect_args={"check_same_thread": False, "timeout": 30}, **sizes)
        event.listen(engine, "connect", _sqlite_pragmas)
        begin = "BEGIN IMMEDIATE" if immediate else "BEGIN"
        event.listen(engine, "begin", lambda conn: conn.exec_driver_sql(begin))
        return engine
    return create_engine(url, pool_size=pool_size, max_overflow=pool_size * 2, pool_pre_ping=True)


class Database:
    """Holds the engines and hands out transactional sessions."""

    def __init__(self, url: str, *, pool_size: int = 10) -> None:
        self.url = url
        self.is_sqlite = url.startswith("sqlite")
        self.engine = make_engine(url, pool_size=pool_size)
        self.write_engine = make_engine(url, immediate=True, pool_size=pool_size) if self.is_sqlite else self.engine
        self._read = sessionmaker(self.engine, expire_on_commit=False)
        self._write = sessionmaker(self.write_engine, expire_on_commit=False)

    @contextmanager
    def transaction(self, *, write: bool = True) -> Iterator[Session]:
        """One unit of work: commit on success, roll back on any exception.

        Nothing is taken before the first statement (no connection, and on
        SQLite not the writer's turn, see the module docstring).
        """
        with (self._write if write else self._read)() as session, session.begin():
            yield session

    def ping(self) -> bool:
        """True when the database answers a trivial query."""
        try:
            with self.engine.connect() as conn:
                conn.exec_driver_sql("SELECT 1")
            return True
        except Exception:  # noqa: BLE001 - readiness must report, not raise
            return False

    def dispose(self) -> None:
        self.engine.dispose()
        if self.write_engine is not self.engine:
            self.write_engine.dispose()


_MEMO = "keyrelay.memo"


def memo(session: Session, name: str) -> dict[Any, Any]:
    """A dict that lives as long as this transaction: what one step learnt, for a later step to reuse.

    Forgotten when the transaction (or a savepoint in it) rolls back, so
    nothing remembered outlives the rows it describes.
    """
    memos: dict[str, dict[Any, Any]] = session.info.setdefault(_MEMO, {})
    return memos.setdefault(name, {})


@event.listens_for(Session, "after_soft_rollback")
def _forget_memos(session: Session, _previous: object) -> None:
    session.info.pop(_MEMO, None)


def insert_or_skip(session: Session, table: Any, values: dict[str, Any], conflict: list[str]) -> int | None:
    """INSERT … ON CONFLICT DO NOTHING RETURNING id, in one round trip on both engines.

    Returns the new id, or None when a row with the same ``conflict`` key
    exists — cheaper than a savepoint around an insert that may fail. Columns
    left out of ``values`` get their Python-side defaults, as a Core insert
    would give them.
    """
    core = table_of(table)
    for name, default in _python_defaults(core):
        if name not in values:
            values[name] = default()
    statement = _insert_or_skip(session.get_bind().dialect, core, tuple(conflict), tuple(values))
    new_id: int | None = session.connection().execute(statement, values).scalar()
    return new_id


@functools.cache
def _python_defaults(table: Table) -> tuple[tuple[str, Any], ...]:
    found = []
    for column in table.columns:
        default = column.default
        if default is None or not (default.is_scalar or default.is_callable):
            continue
        if default.is_callable:
            found.append((column.key, functools.partial(default.arg, None)))  # type: ignore[attr-defined]
        else:
            found.append((column.key, functools.partial(lambda value: value, default.arg)))  # type: ignore[attr-defined]
    return tuple(found)


@functools.cache
def _insert_or_skip(dialect: Dialect, table: Table, conflict: tuple[str, ...], columns: tuple[str, ...]) -> TextClause:
    # Built once per table, conflict target and column list, as typed text: SQLAlchemy never caches
    # the compiled form of a dialect's ``insert().on_conflict_do_nothing()`` (its ``inherit_cache`` is
    # False), so built as such it is compiled again on every call (~1 ms of CPU; docs/performance.md).
    quote = dialect.identifier_preparer.quote
    names = ", ".join(quote(table.c[c].name) for c in columns)
    binds = ", ".join(f":{c}" for c in columns)
    target = ", ".join(quote(table.c[c].name) for c in conflict)
    sql = f"INSERT INTO {quote(table.name)} ({names}) VALUES ({binds}) ON CONFLICT ({target}) DO NOTHING RETURNING id"  # noqa: S608 - names from the table, values bound
    return text(sql).bindparams(*(bindparam(c, type_=table.c[c].type) for c in columns))


Entity = TypeVar("Entity", bound=Base)


def add_inserted(session: Session, entity: type[Entity], values: dict[str, Any]) -> Entity:
    """INSERT one row on the Core table and return it as a loaded, persistent entity of ``session``.

    What ``session.add`` + ``flush`` does, for about half the CPU (the unit of
    work's flush machinery is skipped; ``docs/performance.md``). Columns left
    out get their Python-side defaults, or NULL; every attribute is then known,
    so reading one never loads the row again.
    """
    table = table_of(entity)
    for name, default in _python_defaults(table):
        values.setdefault(name, default())
    for column in table.columns:
        if not column.primary_key:
            values.setdefault(column.key, None)
    new_id = session.connection().execute(_insert_returning_id(table), values).scalar_one()
    row = entity(**values, id=new_id)
    make_transient_to_detached(row)
    session.add(row)
    return row


@functools.cache
def _insert_returning_id(table: Table) -> Any:
    return insert(table).returning(table.c.id)


def table_of(entity: Any) -> Table:
    """The Core table of a mapped class (or the table itself).

    Hot-path INSERTs and UPDATEs go to the table, not the entity: handed an
    entity, ``Session.execute`` runs SQLAlchemy's ORM bulk machinery around the
    same SQL, which costs about three times the statement itself
    (``docs/performance.md``). Objects already loaded are not refreshed by such
    a statement; callers expire what they changed.
    """
    found: Table = entity.__table__ if hasattr(entity, "__table__") else entity
    return found
