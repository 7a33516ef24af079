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
    for heading in ("ceiling /s", "ceiling p99", "ratio", "checks"):
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


def markdown(reports: Sequence[Report]) -> str:
    """The same rows as a Markdown table, for ``bench/RESULTS.md`` and ``docs/performance.md``."""
    lines = [
        "| scenario | db | procs | clients | purchases/s | p50 / p95 / p99 ms | errors "
        "| CPU ms app / worker / db | ceiling /s (p99 ms) | ratio | checks |",
        "|---|---|---:|---:|---:|---:|---|---:|---:|---:|---|",
    ]
    for report in reports:
        for s in report.steps:
            errors = ", ".join(f"{code} {n}" for code, n in sorted(s.errors.items())) or "0"
            ceiling = f"{s.ceiling['per_s']:.0f} ({s.ceiling['p99_ms']:.0f})" if s.ceiling else "–"
            ratio = f"{s.ratio:.2f}×" if s.ratio is not None else "–"
            cpu = f"{s.app_cpu_ms:.1f} / {s.worker_cpu_ms:.1f} / " + (f"{s.db_cpu_ms:.1f}" if report.backend == "postgresql" else "–")
            lines.append(
                f"| {report.scenario} | {report.backend} | {report.servers} | {s.clients} | {s.per_s:.0f} | "
                f"{s.p50_ms:.0f} / {s.p95_ms:.0f} / {s.p99_ms:.0f} | {errors} | {cpu} | {ceiling} | {ratio} | "
                f"{'ok' if s.checks_ok else 'FAILED'} |"
            )
    return "\n".join(lines) + "\n"
