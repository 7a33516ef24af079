"""The printed table of a benchmark: one row per scenario and concurrency."""

from __future__ import annotations

from collections.abc import Sequence

from rich.table import Table

from keyrelay.bench.run import Report


def table(reports: Sequence[Report]) -> Table:
    out = Table(title="KeyRelay signed wholesale purchases (quantity 1, paid from balance, key in the response)")
    for heading in (
        "scenario",
        "db",
        "procs",
        "clients",
        "purchases/s",
        "p50 ms",
        "p95 ms",
        "p99 ms",
        "errors",
        "app CPU ms",
        "worker CPU ms",
        "db CPU ms",
    ):
        out.add_column(heading, justify="left" if heading in ("scenario", "db", "errors") else "right")
    for heading in ("pgbench /s", "pgbench p99", "ratio", "checks"):
        out.add_column(heading, justify="right")
    for report in reports:
        for step in report.steps:
            errors = ", ".join(f"{code} {n}" for code, n in sorted(step.errors.items())) or "0"
            ratio = f"{step.ratio:.2f}×" if step.ratio is not None else "–"
            out.add_row(
                report.scenario,
                report.backend,
                str(report.servers),
                str(step.clients),
                f"{step.per_s:.0f}",
                f"{step.p50_ms:.1f}",
                f"{step.p95_ms:.1f}",
                f"{step.p99_ms:.1f}",
                errors,
                f"{step.app_cpu_ms:.1f}",
                f"{step.worker_cpu_ms:.1f}",
                f"{step.db_cpu_ms:.1f}" if report.backend == "postgresql" else "–",
                f"{step.ceiling['per_s']:.0f}" if step.ceiling else "–",
                f"{step.ceiling['p99_ms']:.1f}" if step.ceiling else "–",
                ratio,
                "ok" if step.checks_ok else "FAILED: " + "; ".join(step.problems)[:200],
            )
    return out
