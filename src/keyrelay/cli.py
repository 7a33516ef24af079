"""The ``keyrelay`` command."""

from __future__ import annotations

import contextlib
import signal
import sys
import time
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from keyrelay.config import ConfigError, Settings, load_settings
from keyrelay.kit.errors import DomainError

app = typer.Typer(help="KeyRelay: sell card keys through a distributor network.", no_args_is_help=True)
db_app = typer.Typer(help="Database schema.")
user_app = typer.Typer(help="Accounts.")
keys_app = typer.Typer(help="Card keys.")
vault_app = typer.Typer(help="The card-key vault.")
ledger_app = typer.Typer(help="The books.")
for sub, name in ((db_app, "db"), (user_app, "user"), (keys_app, "keys"), (vault_app, "vault"), (ledger_app, "ledger")):
    app.add_typer(sub, name=name)
console = Console(stderr=True)


def _settings() -> Settings:
    from keyrelay.logging import configure

    try:
        settings = load_settings()
    except ConfigError as exc:
        console.print(f"[red]configuration error:[/red] {exc}")
        raise typer.Exit(2) from exc
    configure(json=settings.log_json)
    return settings


def _fail(exc: DomainError) -> typer.Exit:
    console.print(f"[red]{exc.title}:[/red] {exc.detail}")
    for bad in exc.extra.get("invalid", [])[:20]:
        console.print(f"  line {bad['line']}: {bad['reason']}")
    return typer.Exit(1)


@app.command()
def serve(
    demo: Annotated[bool, typer.Option(help="Fill an empty database with a demo store.")] = False,
    host: Annotated[str, typer.Option(help="Interface to listen on.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="TCP port.")] = 8000,
    no_worker: Annotated[bool, typer.Option("--no-worker", help="Do not run the background worker in-process.")] = False,
    workers: Annotated[
        int, typer.Option(min=1, max=64, help="Server processes sharing the port (more than 1: run `keyrelay worker` beside them).")
    ] = 1,
) -> None:
    """Run the web app and the background worker (migrates the database first)."""
    import uvicorn

    from keyrelay.app import create_app
    from keyrelay.kit.migrate import upgrade

    settings = _settings()
    upgrade(settings.resolved_database_url)
    if demo:
        _seed_demo(settings)
    console.print(f"KeyRelay on http://{host}:{port}  (admin: http://{host}:{port}/admin, API docs: /docs)")
    if workers > 1:
        # Each process builds its own app from the environment; none runs the background worker.
        console.print(f"{workers} server processes; the background worker is not among them: run `keyrelay worker`")
        uvicorn.run(
            "keyrelay.app:server_process_app", factory=True, workers=workers, host=host, port=port, log_level="warning", proxy_headers=False
        )
        return
    application = create_app(settings, run_worker=not no_worker)
    uvicorn.run(application, host=host, port=port, log_level="warning", proxy_headers=False)


def _seed_demo(settings: Settings) -> None:
    from keyrelay import demo as demo_store
    from keyrelay.kit.db import Database

    if settings.env == "production":
        console.print("[red]--demo is refused in production[/red]")
        raise typer.Exit(2)
    db = Database(settings.resolved_database_url)
    with db.transaction() as session:
        login = demo_store.seed(session, vault=settings.vault)
    db.dispose()
    saved = settings.data_dir / "demo-login.txt"
    if login.password:
        saved.write_text(f"{login.email} {login.password}\n")
        saved.chmod(0o600)
    password = login.password or (saved.read_text().split()[1] if saved.exists() else "(set one: keyrelay user password)")
    console.print(f"[bold green]Demo operator login:[/bold green] {login.email}  password: {password}")
    console.print(
        f"Demo distributors (same password): {demo_store.DISTRIBUTOR_EMAIL} (level 1, /s/lucky), moon@keyrelay.local (level 2, /s/moon)"
    )


@app.command()
def worker() -> None:
    """Run only the background worker (expiry, outbox)."""
    from keyrelay.kit.db import Database
    from keyrelay.worker import Worker

    settings = _settings()
    loop = Worker(Database(settings.resolved_database_url), interval=settings.worker_interval_seconds, settings=settings)
    with contextlib.suppress(KeyboardInterrupt):
        loop.run()


@db_app.command("upgrade")
def db_upgrade(revision: str = "head") -> None:
    """Apply migrations up to REVISION."""
    from keyrelay.kit.migrate import upgrade

    upgrade(_settings().resolved_database_url, revision)
    console.print("database is up to date")


@user_app.command("create")
def user_create(
    email: Annotated[str, typer.Option()],
    password: Annotated[str, typer.Option(prompt=True, hide_input=True)],
    role: Annotated[str, typer.Option()] = "operator",
) -> None:
    """Create an account."""
    from keyrelay.identity import service as identity
    from keyrelay.kit.db import Database
    from keyrelay.kit.migrate import upgrade

    settings = _settings()
    upgrade(settings.resolved_database_url)
    try:
        with Database(settings.resolved_database_url).transaction() as session:
            user = identity.create_user(session, email=email, password=password, role=role)
            console.print(f"created {user.role} {user.email} (id {user.id})")
    except DomainError as exc:
        raise _fail(exc) from exc


@keys_app.command("import")
def keys_import(
    product: Annotated[str, typer.Argument(help="Product id or slug.")],
    file: Annotated[Path, typer.Argument(exists=True, dir_okay=False, readable=True)],
    format: Annotated[str | None, typer.Option(help="text or csv (default: by file extension).")] = None,
) -> None:
    """Import card keys from a TXT (one per line) or CSV file, all or nothing."""
    from keyrelay.catalog import service as catalog
    from keyrelay.inventory import service as inventory
    from keyrelay.inventory.parsing import KeyFileError, sniff_format
    from keyrelay.kit.db import Database

    settings = _settings()
    started = time.perf_counter()
    # The file is read as it is imported (flat memory for millions of keys); the count is known at the end.
    with (
        file.open("rb") as stream,
        Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(), console=console) as bar,
    ):
        fmt = format or sniff_format(file.name, stream.peek(64 * 1024))
        task = bar.add_task("storing keys", total=None)
        try:
            with Database(settings.resolved_database_url).transaction() as session:
                target = catalog.get_product(session, int(product)) if product.isdigit() else catalog.get_product_by_slug(session, product)
                report = inventory.import_keys(
                    session,
                    product_id=target.id,
                    data=stream,
                    fmt=fmt,
                    source="cli",
                    vault=settings.vault,
                    actor="cli",
                    progress=lambda done, total: bar.update(task, completed=done, total=total),
                )
        except KeyFileError as exc:
            console.print(f"[red]{exc}[/red]")
            raise typer.Exit(1) from exc
        except DomainError as exc:
            raise _fail(exc) from exc
    elapsed = time.perf_counter() - started
    rate = report.imported / elapsed if elapsed else 0
    console.print(f"imported {report.imported}, duplicates {report.duplicates}, invalid 0 in {elapsed:.1f}s ({rate:,.0f} keys/s)")


@vault_app.command("genkey")
def vault_genkey(key_id: str = "k1") -> None:
    """Print a new vault key line for KEYRELAY_VAULT_KEYS (put it first to make it active)."""
    from keyrelay.kit.vault import format_vault_keys, generate_vault_key

    sys.stdout.write(format_vault_keys([generate_vault_key(key_id)]) + "\n")


@vault_app.command("rotate")
def vault_rotate(batch: int = 1000) -> None:
    """Re-encrypt every sealed column under the active vault key (resumable: run it again after a stop)."""
    from keyrelay.kit.db import Database
    from keyrelay.kit.vault_rotation import RotationError, rotate
    from keyrelay.sealing import all_columns

    settings = _settings()
    db = Database(settings.resolved_database_url)
    try:
        counts = rotate(db, settings.vault, all_columns(), batch=batch)
    except RotationError as exc:
        console.print(f"[red]rotation stopped:[/red] {exc} (rows done so far stay done; fix the keys and run it again)")
        raise typer.Exit(1) from exc
    finally:
        db.dispose()
    for column in counts:
        console.print(f"{column.name}: re-encrypted {column.reencrypted} of {column.scanned}")
    total = sum(c.reencrypted for c in counts), sum(c.scanned for c in counts)
    console.print(f"re-encrypted {total[0]} of {total[1]} secrets under key {settings.vault.active_key_id}")


@ledger_app.command("check")
def ledger_check() -> None:
    """Verify every transaction balances and the books sum to zero; exit 1 if not."""
    from keyrelay.kit.db import Database
    from keyrelay.kit.migrate import upgrade
    from keyrelay.ledger import service as ledger

    settings = _settings()
    upgrade(settings.resolved_database_url)  # a brand-new install has empty books, not a missing-table traceback
    with Database(settings.resolved_database_url).transaction(write=False) as session:
        report = ledger.check_books(session)
    console.print(f"transactions: {report.transactions}; totals per currency: {report.currency_totals or '{}'}")
    for txn in report.unbalanced:
        console.print(f"[red]unbalanced transaction {txn}[/red]")
    for code, cached, derived in report.wallet_mismatches:
        console.print(f"[red]wallet {code}: cached {cached} != postings {derived}[/red]")
    console.print("[green]books balance[/green]" if report.ok else "[red]books do NOT balance[/red]")
    raise typer.Exit(0 if report.ok else 1)


@app.command()
def bench(
    scenarios: Annotated[list[str], typer.Argument(help="spread, hot-distributor, flash, sqlite (several: one after another).")],
    database: Annotated[
        str, typer.Option(help="PostgreSQL server to create the throw-away database on.")
    ] = "postgresql://postgres@127.0.0.1:5432/test",
    clients: Annotated[str, typer.Option(help="Concurrency steps, comma-separated.")] = "8,32,64",
    seconds: Annotated[float, typer.Option(min=0.5, help="Length of each step.")] = 10.0,
    servers: Annotated[int, typer.Option(min=1, max=64, help="Server processes (`keyrelay serve --workers N`).")] = 1,
    smoke: Annotated[bool, typer.Option(help="A tiny store and short steps: checks correctness only, no ceiling.")] = False,
    ceiling: Annotated[bool, typer.Option(help="The purchase's SQL alone: pgbench, or plain sqlite3 in-process.")] = True,
    json_out: Annotated[Path | None, typer.Option("--json", help="Also write the results as JSON here.")] = None,
    markdown: Annotated[Path | None, typer.Option(help="Also write the table as Markdown here.")] = None,
    threads: Annotated[int, typer.Option(min=0, max=1000, help="KEYRELAY_REQUEST_THREADS of the servers (0: default).")] = 0,
    profile: Annotated[
        Path | None, typer.Option(help="Record the servers with py-spy: a flame graph (SVG), or collapsed stacks if the name ends in .txt.")
    ] = None,
) -> None:
    """Benchmark signed wholesale purchases against real servers; exit 1 if any correctness check fails."""
    import json
    from dataclasses import replace

    from keyrelay.bench import report as tables
    from keyrelay.bench.run import Options, run
    from keyrelay.bench.scenario import SCENARIOS

    # Stopped by a signal, still stop the servers and drop the throw-away database (the context managers' exits).
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    unknown = [name for name in scenarios if name not in SCENARIOS]
    if unknown:
        console.print(f"[red]unknown scenario {', '.join(unknown)}[/red]; choose from {', '.join(SCENARIOS)}")
        raise typer.Exit(2)
    try:
        steps = tuple(int(c) for c in clients.split(",") if c.strip())
    except ValueError:
        console.print("[red]--clients takes whole numbers separated by commas, e.g. 8,32,64[/red]")
        raise typer.Exit(2) from None
    results = []
    for name in scenarios:
        options = Options(name, database=database, clients=steps or (8,), seconds=seconds, servers=servers, smoke=smoke, ceiling=ceiling)
        options = replace(options, threads=threads, profile=profile)
        results.append(run(options, say=console.print))
    Console(width=220).print(tables.table(results))
    if json_out:
        json_out.write_text(json.dumps([r.as_json() for r in results], indent=2))
    if markdown:
        markdown.write_text(tables.markdown(results))
    raise typer.Exit(0 if all(r.ok for r in results) else 1)


def main() -> None:
    app()
