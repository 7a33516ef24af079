"""One benchmark run: a fresh database, the scenario's store, real servers, the load, the checks, the ceiling.

The servers are started exactly as a deployment starts them — ``keyrelay
serve`` (``--workers W`` for W processes on one port) beside one ``keyrelay
worker`` — with production settings and the rate limits lifted. CPU is read
from ``/proc`` before and after each step: the server processes' together,
and PostgreSQL's backends for this database alone.
"""

from __future__ import annotations

import json
import os
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import httpx
import psycopg
from sqlalchemy import make_url

from keyrelay.bench import pgbench, sqlite_ceiling
from keyrelay.bench.scenario import SCENARIOS, SMOKE, Scenario, load_store
from keyrelay.bench.verify import delivered_orders, verify
from keyrelay.kit.db import Database
from keyrelay.kit.migrate import upgrade
from keyrelay.kit.vault import format_vault_keys, generate_vault_key

KEYRELAY = Path(sys.executable).with_name("keyrelay")
TICKS = os.sysconf("SC_CLK_TCK")


@dataclass(frozen=True)
class Options:
    scenario: str
    database: str = "postgresql://postgres@127.0.0.1:5432/test"
    """PostgreSQL: a server to create the throw-away database on (its own database is never touched)."""
    clients: tuple[int, ...] = (8, 32, 64)
    seconds: float = 10.0
    servers: int = 1
    smoke: bool = False
    ceiling: bool = True
    threads: int = 0
    """``KEYRELAY_REQUEST_THREADS`` of the servers; 0: the default."""
    profile: Path | None = None
    """Run the servers under ``py-spy record``: a flame graph (SVG), or collapsed stacks for a ``.txt`` path."""
    keys_total: int = 0
    """0: enough for the run at 1,000 purchases/s, twice over (the app and the ceiling)."""


@dataclass
class Step:
    clients: int
    ok: int
    per_s: float
    p50_ms: float
    p95_ms: float
    p99_ms: float
    errors: dict[str, int]
    app_cpu_ms: float
    """The server processes' CPU per successful purchase."""
    worker_cpu_ms: float
    """The background worker's (outbox fan-out, events, webhooks) per purchase."""
    db_cpu_ms: float
    checks_ok: bool
    problems: list[str]
    ceiling: dict[str, float] = field(default_factory=dict)

    @property
    def ratio(self) -> float | None:
        per_s = self.ceiling.get("per_s")
        return self.per_s / per_s if per_s else None


@dataclass
class Report:
    scenario: str
    backend: str
    servers: int
    seconds: float
    store: dict[str, int]
    steps: list[Step]

    @property
    def ok(self) -> bool:
        return all(step.checks_ok for step in self.steps)

    def as_json(self) -> dict[str, Any]:
        return {**asdict(self), "ok": self.ok, "steps": [{**asdict(s), "ratio_to_ceiling": s.ratio} for s in self.steps]}

    @classmethod
    def from_json(cls, raw: dict[str, Any]) -> Report:
        """Read back what ``as_json`` wrote (to re-render a table from a ``--json`` file)."""
        fields = {k: v for k, v in raw.items() if k not in ("ok", "steps")}
        steps = [Step(**{k: v for k, v in s.items() if k != "ratio_to_ceiling"}) for s in raw["steps"]]
        return cls(**fields, steps=steps)


def run(options: Options, *, say: Any = print) -> Report:
    scenario = SCENARIOS[options.scenario]
    workdir = Path(tempfile.mkdtemp(prefix="keyrelay-bench-"))
    try:
        with _database(scenario, options.database, workdir) as (url, db_name):
            return _run(options, scenario, workdir, url, db_name, say)
    finally:
        shutil.rmtree(workdir, ignore_errors=True)


def _run(options: Options, scenario: Scenario, workdir: Path, url: str, db_name: str, say: Any) -> Report:
    env = _server_env(url, workdir)
    if options.threads:
        env["KEYRELAY_REQUEST_THREADS"] = str(options.threads)
    upgrade(url)
    db = Database(url)
    shape = SMOKE if options.smoke else {"products": scenario.products, "distributors": scenario.distributors}
    keys_total = options.keys_total or (200 if options.smoke else int(1000 * options.seconds * len(options.clients) * 2))
    say(f"loading {scenario.name}: {shape['products']} products, {keys_total} keys, {shape['distributors']} distributors")
    started = time.perf_counter()
    vault = _vault(env)
    plan = load_store(db, scenario, vault=vault, keys_total=keys_total, **shape)
    _analyze(url)
    say(f"  loaded in {time.perf_counter() - started:.1f} s")
    plan_path = workdir / "plan.json"
    plan.save(plan_path)
    report = Report(
        scenario.name, "postgresql" if db_name else "sqlite", options.servers, options.seconds, {**shape, "keys": keys_total}, []
    )
    with _servers(env, workdir, options.servers, profile=options.profile) as (url_base, pids):
        _drive(plan_path, url_base, clients=min(options.clients), seconds=1.0 if not options.smoke else 0.5, out=workdir / "warm.json")
        for clients in options.clients:
            before = delivered_orders(db)
            app0, worker0, db0 = _cpu(pids[0]), _cpu(pids[1]), _pg_cpu(db_name)
            result = _drive(plan_path, url_base, clients=clients, seconds=options.seconds, out=workdir / f"load-{clients}.json")
            app_cpu, worker_cpu, db_cpu = _cpu(pids[0]) - app0, _cpu(pids[1]) - worker0, _pg_cpu(db_name) - db0
            verdict = verify(db, plan, successes=result["ok"], delivered_before=before)
            ok = max(1, result["ok"])
            step = Step(
                clients=clients,
                ok=result["ok"],
                per_s=result["per_s"],
                p50_ms=result["p50_ms"],
                p95_ms=result["p95_ms"],
                p99_ms=result["p99_ms"],
                errors=result["errors"],
                app_cpu_ms=1000 * app_cpu / ok,
                worker_cpu_ms=1000 * worker_cpu / ok,
                db_cpu_ms=1000 * db_cpu / ok if db_name else 0.0,
                checks_ok=verdict.ok,
                problems=verdict.problems,
            )
            report.steps.append(step)
            checks = "ok" if verdict.ok else "; ".join(verdict.problems)
            cpu = f"CPU ms app {step.app_cpu_ms:.1f} worker {step.worker_cpu_ms:.1f} db {step.db_cpu_ms:.1f}"
            say(f"  c={clients}: {step.per_s:.0f}/s, p99 {step.p99_ms:.0f} ms, {cpu}, errors {step.errors or 0}, checks {checks}")
    if options.ceiling and db_name and shutil.which("pgbench") and not options.smoke:
        for step in report.steps:
            step.ceiling = pgbench.replay(url, plan, clients=step.clients, seconds=options.seconds, workdir=workdir)
            say(f"  pgbench c={step.clients}: {step.ceiling['per_s']:.0f}/s p99 {step.ceiling['p99_ms']:.1f} ms")
    if options.ceiling and not db_name and not options.smoke:
        # One writer: plain sqlite3 runs the purchases one after another, whatever the step's concurrency.
        ceiling = sqlite_ceiling.replay(workdir / "bench.db", plan, seconds=options.seconds)
        say(f"  plain sqlite3 in-process: {ceiling['per_s']:.0f}/s p99 {ceiling['p99_ms']:.1f} ms")
        for step in report.steps:
            step.ceiling = dict(ceiling)
    db.dispose()
    return report


@contextmanager
def _database(scenario: Scenario, admin_url: str, workdir: Path) -> Iterator[tuple[str, str]]:
    if scenario.backend == "sqlite":
        yield f"sqlite:///{workdir / 'bench.db'}", ""
        return
    admin = make_url(admin_url).set(drivername="postgresql")
    name = f"kr_bench_{uuid.uuid4().hex[:10]}"
    conninfo = admin.render_as_string(hide_password=False)
    with psycopg.connect(conninfo, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    try:
        yield admin.set(drivername="postgresql+psycopg", database=name).render_as_string(hide_password=False), name
    finally:
        with psycopg.connect(conninfo, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def _server_env(url: str, workdir: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("KEYRELAY_")}
    env.update(
        KEYRELAY_ENV="production",
        KEYRELAY_DATABASE_URL=url,
        KEYRELAY_DATA_DIR=str(workdir),
        KEYRELAY_VAULT_KEYS=format_vault_keys([generate_vault_key("bench")]),
        KEYRELAY_SECRET_KEY=secrets.token_urlsafe(32),
        KEYRELAY_RATE_LIMIT_PER_IP="100000000/minute",  # every client comes from 127.0.0.1
        KEYRELAY_RATE_LIMIT_PER_KEY="100000000/minute",
        KEYRELAY_DB_POOL_SIZE="40",  # as many as a process runs requests at once (AnyIO's 40 threads): no connection churn
    )
    return env


def _vault(env: dict[str, str]) -> Any:
    from keyrelay.config import Settings

    settings = Settings(
        database_url=env["KEYRELAY_DATABASE_URL"],
        vault_keys=env["KEYRELAY_VAULT_KEYS"],
        secret_key=env["KEYRELAY_SECRET_KEY"],
        _env_file=None,
    )
    return settings.vault


def _analyze(url: str) -> None:
    """Fresh statistics after the load (autovacuum may be off, as on the machine these figures come from)."""
    if url.startswith("sqlite"):
        return
    with psycopg.connect(make_url(url).set(drivername="postgresql").render_as_string(hide_password=False), autocommit=True) as conn:
        conn.execute("VACUUM ANALYZE")


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@contextmanager
def _servers(env: dict[str, str], workdir: Path, count: int, *, profile: Path | None) -> Iterator[tuple[str, list[int]]]:
    port = _free_port()
    serve = [str(KEYRELAY), "serve", "--port", str(port), "--workers", str(count)]
    if count == 1:
        serve.append("--no-worker")
    if profile:
        spy = shutil.which("py-spy") or str(Path(sys.executable).with_name("py-spy"))
        kind = "raw" if profile.suffix == ".txt" else "flamegraph"  # raw: collapsed stacks, for scripts
        # --gil: samples of the thread holding the GIL only, so the graph is where the CPU goes, not who waits
        record = ["record", "--subprocesses", "--gil", "--rate", "250", "--format", kind, "--output", str(profile.resolve())]
        serve = [spy, *record, "--", *serve]
    logs = [(workdir / "serve.log").open("ab"), (workdir / "worker.log").open("ab")]
    procs = [
        subprocess.Popen(serve, env=env, cwd=workdir, stdout=logs[0], stderr=subprocess.STDOUT),  # noqa: S603 - our own command
        subprocess.Popen([str(KEYRELAY), "worker"], env=env, cwd=workdir, stdout=logs[1], stderr=subprocess.STDOUT),  # noqa: S603
    ]
    base = f"http://127.0.0.1:{port}"
    try:
        _wait_ready(base, procs[0], workdir / "serve.log", count)
        yield base, [proc.pid for proc in procs]
    finally:
        for proc in procs:
            proc.send_signal(signal.SIGINT)
        for proc in procs:
            try:
                proc.wait(15)
            except subprocess.TimeoutExpired:
                proc.kill()
        for log in logs:
            log.close()


def _wait_ready(base: str, proc: subprocess.Popen[bytes], log: Path, count: int) -> None:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"keyrelay serve exited {proc.returncode}:\n{log.read_text()[-4000:]}")
        try:
            if httpx.get(f"{base}/readyz", timeout=2).status_code == 200 and len(_tree(proc.pid)) >= count:
                time.sleep(0.5 if count > 1 else 0)  # let the other processes finish starting
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.2)
    raise RuntimeError(f"keyrelay serve not ready after 60 s:\n{log.read_text()[-4000:]}")


def _drive(plan: Path, base: str, *, clients: int, seconds: float, out: Path) -> dict[str, Any]:
    args = [
        sys.executable,
        "-m",
        "keyrelay.bench.load",
        str(plan),
        base,
        "--clients",
        str(clients),
        "--seconds",
        str(seconds),
        "--out",
        str(out),
    ]
    subprocess.run(args, check=True, timeout=seconds + 120)  # noqa: S603 - our own command
    result: dict[str, Any] = json.loads(out.read_text())
    return result


def _stat(pid: int) -> tuple[int, float]:
    """(parent pid, CPU seconds) of a live process, from /proc/PID/stat."""
    with open(f"/proc/{pid}/stat") as handle:
        fields = handle.read().rsplit(")", 1)[1].split()
    return int(fields[1]), (int(fields[11]) + int(fields[12])) / TICKS


def _tree(root: int) -> list[int]:
    """``root`` and its live descendants."""
    parents: dict[int, int] = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                parents[int(entry)] = _stat(int(entry))[0]
            except (OSError, IndexError, ValueError):
                continue
    found, frontier = [root], [root]
    while frontier:
        frontier = [pid for pid, parent in parents.items() if parent in frontier]
        found.extend(frontier)
    return found


def _cpu(root: int) -> float:
    """CPU seconds of ``root`` and its live descendants."""
    total = 0.0
    for pid in _tree(root):
        try:
            total += _stat(pid)[1]
        except (OSError, IndexError, ValueError):
            continue
    return total


@dataclass(frozen=True)
class PgCpu:
    """CPU seconds of the live backends serving one database, and of every backend that has exited."""

    backends: dict[int, float]
    exited: float

    def __sub__(self, before: PgCpu) -> float:
        # A backend that exited in between counts in ``exited`` with all its life: take off what it had before.
        live = sum(cpu - before.backends.get(pid, 0.0) for pid, cpu in self.backends.items())
        gone = sum(cpu for pid, cpu in before.backends.items() if pid not in self.backends)
        return live - gone + self.exited - before.exited


def _pg_cpu(db_name: str) -> PgCpu:
    """Read from the backends' process titles (``postgres: USER DB …``) and the postmaster's reaped-children time."""
    backends: dict[int, float] = {}
    postmaster = 0
    for entry in os.listdir("/proc") if db_name else ():
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/cmdline", "rb") as handle:
                title = handle.read()
            if title.startswith(b"postgres: ") and f" {db_name} ".encode() in title:
                postmaster, backends[int(entry)] = _stat(int(entry))
        except (OSError, IndexError, ValueError):
            continue
    return PgCpu(backends, _reaped(postmaster) if postmaster else 0.0)


def _reaped(pid: int) -> float:
    """CPU seconds of a process's exited and waited-for children (cutime + cstime)."""
    with open(f"/proc/{pid}/stat") as handle:
        fields = handle.read().rsplit(")", 1)[1].split()
    return (int(fields[13]) + int(fields[14])) / TICKS
