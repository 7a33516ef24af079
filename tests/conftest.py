"""Shared fixtures: a fresh database per test module on SQLite and on the real PostgreSQL.

Every storage test is parametrised over both backends (``db_url``). PostgreSQL
databases are created on the local server (``KEYRELAY_TEST_PG``, default
``postgresql+psycopg://postgres@127.0.0.1:5432/test`` as the admin connection)
and dropped afterwards, so tests never depend on state left behind.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest
from sqlalchemy import delete

from keyrelay.config import Settings
from keyrelay.kit.db import Database
from keyrelay.kit.migrate import upgrade
from keyrelay.kit.vault import format_vault_keys, generate_vault_key
from keyrelay.models import metadata

PG_ADMIN = os.environ.get("KEYRELAY_TEST_PG", "postgresql+psycopg://postgres@127.0.0.1:5432/test")
BACKENDS = ["sqlite", "postgresql"]


def _pg_conninfo(url: str) -> str:
    return url.replace("postgresql+psycopg://", "postgresql://")


def create_pg_database() -> str:
    """Create an empty PostgreSQL database and return its SQLAlchemy URL."""
    name = f"kr_test_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(_pg_conninfo(PG_ADMIN), autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    return PG_ADMIN.rsplit("/", 1)[0] + f"/{name}"


def drop_pg_database(url: str) -> None:
    name = url.rsplit("/", 1)[1]
    with psycopg.connect(_pg_conninfo(PG_ADMIN), autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture(scope="module", params=BACKENDS)
def db_url(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A migrated, empty database URL for this module, once per backend."""
    if request.param == "sqlite":
        path = tmp_path_factory.mktemp("sqlite") / "keyrelay.db"
        url = f"sqlite:///{path}"
        upgrade(url)
        yield url
        return
    url = create_pg_database()
    try:
        upgrade(url)
        yield url
    finally:
        drop_pg_database(url)


@pytest.fixture(scope="module")
def database(db_url: str) -> Iterator[Database]:
    db = Database(db_url)
    yield db
    db.dispose()


@pytest.fixture
def db(database: Database) -> Iterator[Database]:
    """The module's database, emptied after each test."""
    yield database
    with database.transaction() as session:
        for table in reversed(metadata.sorted_tables):
            session.execute(delete(table))


@pytest.fixture(scope="session")
def test_secrets() -> dict[str, str]:
    """Fixed-per-session secrets, as env values."""
    return {
        "KEYRELAY_VAULT_KEYS": format_vault_keys([generate_vault_key("t1")]),
        "KEYRELAY_SECRET_KEY": uuid.uuid4().hex + uuid.uuid4().hex,
    }


@pytest.fixture
def settings(db_url: str, test_secrets: dict[str, str], tmp_path: Path) -> Settings:
    """Settings pointing at the module's database with test secrets."""
    return Settings(
        database_url=db_url,
        data_dir=tmp_path,
        vault_keys=test_secrets["KEYRELAY_VAULT_KEYS"],
        secret_key=test_secrets["KEYRELAY_SECRET_KEY"],
        _env_file=None,  # type: ignore[call-arg]
    )
