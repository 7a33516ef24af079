"""``keyrelay bench --smoke``: the whole harness against real servers, on both databases; correctness only, never a speed."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from .harness import _root

pytestmark = [pytest.mark.e2e, pytest.mark.slow]

KEYRELAY = Path(sys.executable).with_name("keyrelay")


def test_a_smoke_run_buys_and_passes_every_check(tmp_path: Path) -> None:
    out = tmp_path / "bench.json"
    args = [str(KEYRELAY), "bench", "spread", "flash", "sqlite", "--smoke", "--clients", "4", "--seconds", "2", "--json", str(out)]
    args += ["--database", str(_root.PG_ADMIN).replace("+psycopg", "")]
    done = subprocess.run(args, capture_output=True, text=True, timeout=300, check=False)
    assert done.returncode == 0, done.stdout[-4000:] + done.stderr[-4000:]
    reports = json.loads(out.read_text())
    assert [(r["scenario"], r["backend"]) for r in reports] == [("spread", "postgresql"), ("flash", "postgresql"), ("sqlite", "sqlite")]
    for report in reports:
        assert report["ok"], report
        for step in report["steps"]:
            # A tiny store may sell out: refusals at the stock boundary are right, nothing else is.
            assert step["ok"] > 0, step
            assert set(step["errors"]) <= {"out_of_stock"}, step
            assert step["checks_ok"], step
            assert step["problems"] == []
            assert step["app_cpu_ms"] > 0
