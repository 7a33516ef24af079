"""The ceiling: ``pgbench`` running the purchase's own SQL (``purchase.pgbench``) on the same database.

What PostgreSQL alone can do with exactly the statements and transactions a
purchase sends, at the same concurrency — every app figure is divided by it.
``signature`` reduces a statement to its verb and table, so a test can check
the script against the statements the app really sends.
"""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

from sqlalchemy import make_url, text

from keyrelay.bench.scenario import SCENARIOS, Plan
from keyrelay.kit.db import Database

SCRIPT = Path(__file__).with_name("purchase.pgbench")
_VERB = re.compile(r"^\s*(BEGIN|COMMIT|ROLLBACK|SELECT|INSERT INTO|UPDATE|DELETE FROM)\b\s*(\w+)?", re.IGNORECASE)
_FROM = re.compile(r"\bFROM\s+(\w+)", re.IGNORECASE)


def signature(statement: str) -> str:
    """``"INSERT orders"``, ``"SELECT api_keys"``, ``"BEGIN"``: what a statement does to which table."""
    found = _VERB.match(statement)
    if found is None:
        raise ValueError(f"not a statement this check knows: {statement[:80]!r}")
    verb = found.group(1).upper().split()[0]
    if verb in ("BEGIN", "COMMIT", "ROLLBACK"):
        return verb
    if verb == "SELECT":
        table = _FROM.search(statement)
        return f"SELECT {table.group(1) if table else '-'}"
    return f"{verb} {found.group(2)}"


def script_statements(script: str, *, below_level_1: bool = True) -> list[str]:
    """The script's SQL statements: blocks separated by blank lines, without comments and meta-commands.

    A block opened by ``\\if`` runs for buyers below level 1 only; ``below_level_1=False`` leaves it out.
    """
    blocks = []
    for block in re.split(r"\n\s*\n", script):
        raw = [line for line in block.splitlines() if line.strip() and not line.lstrip().startswith("--")]
        if raw and raw[0].startswith("\\if") and not below_level_1:
            continue
        lines = [line for line in raw if not line.lstrip().startswith("\\")]
        if lines:
            blocks.append(" ".join(lines))
    return blocks


def script_signature(*, below_level_1: bool = True) -> list[str]:
    return [signature(statement) for statement in script_statements(SCRIPT.read_text(), below_level_1=below_level_1)]


def replay(url: str, plan: Plan, *, clients: int, seconds: float, workdir: Path) -> dict[str, float]:
    """Run the script against ``url`` as the scenario's buyers, products and concurrency; purchases/s and latencies."""
    buyers, products = plan.chosen(SCENARIOS[plan.scenario])
    db = Database(url)
    with db.transaction(write=False) as session:
        key_ids = sorted(session.scalars(text("SELECT id FROM api_keys WHERE key_id = ANY(:k)"), {"k": [b.key_id for b in buyers]}))
    db.dispose()
    if key_ids != list(range(key_ids[0], key_ids[-1] + 1)) or products != list(range(products[0], products[-1] + 1)):
        raise RuntimeError("the scenario's API keys and products must have consecutive ids (a fresh database)")
    target = make_url(url)
    prefix = workdir / f"pgbench-{clients}"
    args = [
        "pgbench",
        "--no-vacuum",
        "--protocol=prepared",
        f"--file={SCRIPT}",
        f"--client={clients}",
        f"--jobs={min(clients, 2)}",
        f"--time={max(1, round(seconds))}",
        "--log",
        f"--log-prefix={prefix}",
        f"--define=kmin={key_ids[0]}",
        f"--define=kmax={key_ids[-1]}",
        f"--define=pmin={products[0]}",
        f"--define=pmax={products[-1]}",
        f"--host={target.host or '127.0.0.1'}",
        f"--port={target.port or 5432}",
        f"--username={target.username or 'postgres'}",
        str(target.database),
    ]
    done = subprocess.run(args, capture_output=True, text=True, timeout=seconds + 120, check=False)  # noqa: S603 - our own arguments
    if done.returncode != 0:
        raise RuntimeError(f"pgbench failed ({done.returncode}):\n{done.stderr[-3000:]}")
    latencies = sorted(_latencies(workdir, prefix.name))
    per_s = float(re.search(r"tps = ([\d.]+)", done.stdout).group(1))  # type: ignore[union-attr]

    def at(q: float) -> float:
        return latencies[min(len(latencies) - 1, int(q * len(latencies)))] / 1000 if latencies else 0.0

    return {"per_s": per_s, "p50_ms": at(0.50), "p95_ms": at(0.95), "p99_ms": at(0.99), "transactions": float(len(latencies))}


def _latencies(workdir: Path, prefix: str) -> list[int]:
    """Per-script latencies in µs from pgbench's transaction logs (third column)."""
    found: list[int] = []
    for log in workdir.glob(f"{prefix}.*"):
        found.extend(int(line.split()[2]) for line in log.read_text().splitlines() if line.strip())
        log.unlink()
    return found
