#!/usr/bin/env python3
"""Write the error-code table into docs/api.md (between its markers), or check it with --check.

    .venv/bin/python scripts/error_codes.py          # after adding or changing an error code
    .venv/bin/python scripts/error_codes.py --check  # exit 1 if docs/api.md is stale
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
TARGET = ROOT / "docs" / "api.md"
START, END = "<!-- error-codes:start -->", "<!-- error-codes:end -->"


def table() -> str:
    from keyrelay.problems import catalog

    lines = ["| code | HTTP | meaning |", "|---|---:|---|"]
    pipe = "\\|"
    lines += [f"| `{row.code}` | {row.status} | {row.meaning.replace('|', pipe)} |" for row in catalog()]
    return "\n".join(lines)


def rendered(text: str) -> str:
    head, _, rest = text.partition(START)
    _, _, tail = rest.partition(END)
    return f"{head}{START}\n{table()}\n{END}{tail}"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true")
    args = parser.parse_args()
    text = TARGET.read_text(encoding="utf-8")
    if START not in text:
        print(f"{TARGET} has no {START} marker", file=sys.stderr)
        return 1
    new = rendered(text)
    if args.check:
        if new != text:
            print("docs/api.md's error codes are stale: run scripts/error_codes.py", file=sys.stderr)
            return 1
        return 0
    TARGET.write_text(new, encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
