"""Time a bulk card-key import through ``keyrelay keys import`` itself.

    python bench/import_keys.py --n 1000000 --backend both

For each backend it writes N unique keys to a temporary file, creates a fresh
database (a temporary SQLite file, or a throw-away PostgreSQL database on the
server named by ``KEYRELAY_TEST_PG``, like the test-suite), migrates it and
adds a product. Then a child process runs the CLI command's own function
(``keyrelay.cli.keys_import``: stream the file, one transaction, commit). The
child imports only what the command imports, and it also splits the time spent
in the key store's database calls from the rest (parse, fingerprint, encrypt,
commit). A last child checks that exactly N keys were stored. Each line also
gives the 1-minute load average when the backend's run began.

Peak RSS is the import child's ``ru_maxrss``. Linux carries the high-water
mark of the image a process replaces into ``ru_maxrss`` at exec, so the parent
that spawns the children imports nothing but the standard library (every
database step runs in a child) and stays far below the figure it reports.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

PG_ADMIN = os.environ.get("KEYRELAY_TEST_PG", "postgresql+psycopg://postgres@127.0.0.1:5432/test")
SLUG = "bench-keys"
WRITE_BATCH = 50_000


def write_keys(path: Path, n: int) -> None:
    """N unique keys shaped like real card keys (``XXXXXXXX-XXXX-XXXX-XXXX-XXXX``), one per line, written in batches."""
    with path.open("w") as out:
        for start in range(0, n, WRITE_BATCH):
            count = min(WRITE_BATCH, n - start)
            random_hex = os.urandom(8 * count).hex().upper()
            out.writelines(
                f"{start + i:08X}-{random_hex[16 * i : 16 * i + 4]}-{random_hex[16 * i + 4 : 16 * i + 8]}-"
                f"{random_hex[16 * i + 8 : 16 * i + 12]}-{random_hex[16 * i + 12 : 16 * i + 16]}\n"
                for i in range(count)
            )


def _pg_admin_conninfo() -> str:
    return PG_ADMIN.replace("postgresql+psycopg://", "postgresql://")


def prepare(url: str) -> None:
    """Child step: create (PostgreSQL) and migrate the database, and add the product."""
    import psycopg

    import keyrelay.checkout  # noqa: F401 - declares the product kinds (card keys among them), as the app does
    from keyrelay.catalog import service as catalog
    from keyrelay.catalog.schemas import CategoryIn, ProductIn
    from keyrelay.config import load_settings
    from keyrelay.kit.db import Database
    from keyrelay.kit.migrate import upgrade

    if url.startswith("postgresql"):
        with psycopg.connect(_pg_admin_conninfo(), autocommit=True) as conn:
            conn.execute(f'CREATE DATABASE "{url.rsplit("/", 1)[1]}"')
    upgrade(url)
    db = Database(url)
    try:
        with db.transaction() as session:
            category = catalog.create_category(session, CategoryIn(name="Bench", slug="bench"), actor="bench")
            product = ProductIn(category_id=category.id, name="Bench keys", slug=SLUG, price_minor=100)
            catalog.create_product(session, product, actor="bench", vault=load_settings().vault)
    finally:
        db.dispose()


def finish(url: str) -> None:
    """Child step: print how many keys are stored, then drop a PostgreSQL database."""
    import psycopg
    from sqlalchemy import text

    from keyrelay.kit.db import Database

    db = Database(url)
    try:
        with db.transaction(write=False) as session:
            sys.stdout.write(f"{session.scalar(text('SELECT count(*) FROM card_keys'))}\n")
    finally:
        db.dispose()
        if url.startswith("postgresql"):
            with psycopg.connect(_pg_admin_conninfo(), autocommit=True) as conn:
                conn.execute(f'DROP DATABASE IF EXISTS "{url.rsplit("/", 1)[1]}" WITH (FORCE)')


def step(workdir: Path, url: str, *args: str) -> str:
    """Run this file with ``args`` in a child process on database ``url``; return its stdout.

    Every child runs in ``workdir``, which is also the data dir: the first one
    generates the dev secrets (vault keys, fingerprint key) and the others read them.
    """
    env = {**os.environ, "KEYRELAY_DATABASE_URL": url, "KEYRELAY_DATA_DIR": str(workdir)}
    done = subprocess.run([sys.executable, __file__, *args], env=env, cwd=workdir, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        raise SystemExit(f"{args[0]} failed:\n{done.stdout}{done.stderr}")
    return done.stdout


def peak_rss_mib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # KiB on Linux


def time_calls(owner: Any, names: list[str], spent: dict[str, float]) -> None:
    """Wrap ``owner.<name>`` so the seconds spent inside add up in ``spent["db"]``."""
    for name in names:
        original: Callable[..., Any] = getattr(owner, name)

        def wrapper(*args: Any, __original: Callable[..., Any] = original, **kwargs: Any) -> Any:
            started = time.perf_counter()
            try:
                return __original(*args, **kwargs)
            finally:
                spent["db"] += time.perf_counter() - started

        setattr(owner, name, wrapper)


def child(keyfile: Path) -> None:
    """Run ``keyrelay keys import bench-keys FILE`` in this process and report as one JSON line."""
    from keyrelay import cli
    from keyrelay.inventory import bulk

    spent = {"db": 0.0}
    for store in (bulk.SqliteKeys, bulk.PostgresKeys):
        time_calls(store, ["stored", "insert"], spent)
    rss_before = peak_rss_mib()
    started = time.perf_counter()
    cli.keys_import(SLUG, keyfile, None)
    elapsed = time.perf_counter() - started
    result = {"elapsed": elapsed, "db": spent["db"], "rss_before": rss_before, "rss_peak": peak_rss_mib()}
    sys.stdout.write(json.dumps(result) + "\n")


def run(backend: str, n: int) -> None:
    with tempfile.TemporaryDirectory(prefix="kr-bench-") as tmp:
        workdir = Path(tmp)
        keyfile = workdir / "keys.txt"
        started = time.perf_counter()
        write_keys(keyfile, n)
        generated = time.perf_counter() - started
        name = f"kr_bench_{uuid.uuid4().hex[:12]}"
        url = f"sqlite:///{workdir / 'bench.db'}" if backend == "sqlite" else PG_ADMIN.rsplit("/", 1)[0] + f"/{name}"
        load = os.getloadavg()[0]  # the machine is shared: say how busy it was
        try:
            step(workdir, url, "--prepare")
            result = json.loads(step(workdir, url, "--child", str(keyfile)).strip().splitlines()[-1])
        finally:
            stored = int(step(workdir, url, "--finish").strip() or -1)
    if stored != n:
        raise SystemExit(f"wrong result: stored {stored}, expected {n}")
    elapsed, db = result["elapsed"], result["db"]
    print(
        f"{backend:<10} n={n:,}  import {elapsed:6.1f} s  {n / elapsed:>9,.0f} keys/s  "
        f"(key store calls {db:.1f} s, parse+fingerprint+encrypt+commit {elapsed - db:.1f} s)  "
        f"peak RSS {result['rss_peak']:,.0f} MiB (after imports, before the file {result['rss_before']:,.0f} MiB; "
        f"key file generated in {generated:.1f} s; load average {load:.1f})",
        flush=True,
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=1_000_000, help="keys to import (default 1,000,000)")
    parser.add_argument("--backend", choices=["sqlite", "postgresql", "both"], default="both")
    parser.add_argument("--prepare", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--child", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--finish", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    url = os.environ.get("KEYRELAY_DATABASE_URL", "")
    if args.prepare:
        prepare(url)
    elif args.child:
        child(args.child)
    elif args.finish:
        finish(url)
    else:
        print(f"python {platform.python_version()} on {platform.machine()}, {os.cpu_count()} CPUs", flush=True)
        for backend in ("sqlite", "postgresql") if args.backend == "both" else (args.backend,):
            run(backend, args.n)


if __name__ == "__main__":
    main()
