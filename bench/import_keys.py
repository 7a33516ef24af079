"""Time a bulk card-key import through the code path ``keyrelay keys import`` uses.

    python bench/import_keys.py --n 1000000 --backend both

For each backend it writes N unique keys to a temporary file, creates a fresh
database (a temporary SQLite file, or a throw-away PostgreSQL database on the
server named by ``KEYRELAY_TEST_PG``, like the test-suite), migrates it, and
then imports the file in one transaction exactly as the CLI does: read bytes,
sniff the format, ``inventory.import_keys``. It prints keys/s, seconds and the
process's peak RSS. With ``--backend both`` every backend runs in its own child
process so each peak RSS is that backend's alone.
"""

from __future__ import annotations

import argparse
import os
import platform
import resource
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import psycopg
from sqlalchemy import text

from keyrelay.catalog import service as catalog
from keyrelay.catalog.schemas import CategoryIn, ProductIn
from keyrelay.config import Settings
from keyrelay.inventory import service as inventory
from keyrelay.inventory.parsing import sniff_format
from keyrelay.kit.clock import utcnow
from keyrelay.kit.db import Database
from keyrelay.kit.migrate import upgrade
from keyrelay.kit.vault import format_vault_keys, generate_vault_key

PG_ADMIN = os.environ.get("KEYRELAY_TEST_PG", "postgresql+psycopg://postgres@127.0.0.1:5432/test")
SLUG = "bench-keys"


def write_keys(path: Path, n: int) -> None:
    """N unique keys shaped like real card keys (``XXXXX-XXXXX-XXXXX-XXXXX``), one per line."""
    random_hex = os.urandom(8 * n).hex().upper()
    with path.open("w") as out:
        for i in range(n):
            chunk = random_hex[16 * i : 16 * i + 16]
            out.write(f"{i:08X}-{chunk[:4]}-{chunk[4:8]}-{chunk[8:12]}-{chunk[12:]}\n")


@contextmanager
def fresh_database(backend: str, workdir: Path) -> Iterator[str]:
    if backend == "sqlite":
        url = f"sqlite:///{workdir / 'bench.db'}"
        upgrade(url)
        yield url
        return
    name = f"kr_bench_{uuid.uuid4().hex[:12]}"
    admin = PG_ADMIN.replace("postgresql+psycopg://", "postgresql://")
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    url = PG_ADMIN.rsplit("/", 1)[0] + f"/{name}"
    try:
        upgrade(url)
        yield url
    finally:
        with psycopg.connect(admin, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def settings_for(url: str, workdir: Path) -> Settings:
    return Settings(
        database_url=url,
        data_dir=workdir,
        vault_keys=format_vault_keys([generate_vault_key("b1")]),
        secret_key=uuid.uuid4().hex * 2,
        _env_file=None,  # type: ignore[call-arg]
    )


def create_product(db: Database, settings: Settings) -> None:
    with db.transaction() as session:
        category = catalog.create_category(session, CategoryIn(name="Bench", slug="bench"), actor="bench")
        catalog.create_product(
            session,
            ProductIn(category_id=category.id, name="Bench keys", slug=SLUG, price_minor=100),
            actor="bench",
            vault=settings.vault,
        )


def copy_rows(session: Any, rows: list[dict[str, object]], batch_id: int, progress: Any) -> None:
    """Experiment (``--pg-copy``): the same rows through PostgreSQL COPY instead of INSERTs."""
    now = utcnow()
    columns = "product_id, batch_id, status, ciphertext, fingerprint, created_at"
    cursor = session.connection().connection.driver_connection.cursor()
    with cursor.copy(f"COPY card_keys ({columns}) FROM STDIN") as copy:
        for row in rows:
            copy.write_row((row["product_id"], batch_id, "available", row["ciphertext"], row["fingerprint"], now))
    if progress:
        progress(len(rows), len(rows))


def timed_inserts() -> dict[str, float]:
    """Wrap the service's bulk insert so the report can split database time from Python time."""
    spent = {"insert": 0.0}
    original = copy_rows if os.environ.get("BENCH_PG_COPY") else inventory._insert_rows

    def wrapper(*args: Any, **kwargs: Any) -> None:
        started = time.perf_counter()
        try:
            original(*args, **kwargs)
        finally:
            spent["insert"] += time.perf_counter() - started

    inventory._insert_rows = wrapper  # type: ignore[assignment]
    return spent


def import_like_the_cli(db: Database, settings: Settings, keyfile: Path) -> tuple[int, int]:
    """What ``keyrelay keys import bench-keys FILE`` does, minus the progress bar."""
    data = keyfile.read_bytes()
    fmt = sniff_format(keyfile.name, data)
    with db.transaction() as session:
        product = catalog.get_product_by_slug(session, SLUG)
        report = inventory.import_keys(
            session,
            product_id=product.id,
            data=data,
            fmt=fmt,
            source="cli",
            vault=settings.vault,
            actor="bench",
            progress=lambda done, total: None,
        )
    return report.imported, report.duplicates


def peak_rss_mib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # KiB on Linux


def run(backend: str, n: int) -> None:
    if backend == "sqlite":
        os.environ.pop("BENCH_PG_COPY", None)
    with tempfile.TemporaryDirectory(prefix="kr-bench-") as tmp:
        workdir = Path(tmp)
        keyfile = workdir / "keys.txt"
        started = time.perf_counter()
        write_keys(keyfile, n)
        generated = time.perf_counter() - started
        with fresh_database(backend, workdir) as url:
            settings = settings_for(url, workdir)
            db = Database(url)
            try:
                create_product(db, settings)
                rss_before = peak_rss_mib()
                spent = timed_inserts()
                started = time.perf_counter()
                imported, duplicates = import_like_the_cli(db, settings, keyfile)
                elapsed = time.perf_counter() - started
                with db.transaction(write=False) as session:
                    stored = session.scalar(text("SELECT count(*) FROM card_keys"))
            finally:
                db.dispose()
    if (imported, duplicates, stored) != (n, 0, n):
        raise SystemExit(f"wrong result: imported {imported}, duplicates {duplicates}, stored {stored}; expected {n}")
    method = "COPY" if os.environ.get("BENCH_PG_COPY") else "INSERT"
    print(
        f"{backend:<10} {method:<6} n={n:,}  import {elapsed:6.1f} s  {n / elapsed:>9,.0f} keys/s  "
        f"(insert {spent['insert']:.1f} s, parse+dedupe+encrypt+commit {elapsed - spent['insert']:.1f} s)  "
        f"peak RSS {peak_rss_mib():,.0f} MiB (before import {rss_before:,.0f} MiB; key file generated in {generated:.1f} s)",
        flush=True,
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=1_000_000, help="keys to import (default 1,000,000)")
    parser.add_argument("--backend", choices=["sqlite", "postgresql", "both"], default="both")
    parser.add_argument("--pg-copy", action="store_true", help="experiment: insert with COPY on PostgreSQL (bench-only code)")
    args = parser.parse_args()
    if args.pg_copy:
        os.environ["BENCH_PG_COPY"] = "1"  # inherited by the child processes
    if args.backend != "both":
        run(args.backend, args.n)
        return
    print(f"python {platform.python_version()} on {platform.machine()}, {os.cpu_count()} CPUs", flush=True)
    for backend in ("sqlite", "postgresql"):
        # One child per backend: ru_maxrss is a high-water mark of the whole process.
        subprocess.run([sys.executable, __file__, "--n", str(args.n), "--backend", backend], check=True)


if __name__ == "__main__":
    main()
