#!/usr/bin/env python3
"""Write the app's OpenAPI document to docs/openapi.json (sorted keys, indent 2), or check it with --check.

    .venv/bin/python scripts/openapi.py          # regenerate after changing the API
    .venv/bin/python scripts/openapi.py --check  # exit 1 if the committed document is stale
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
TARGET = ROOT / "docs" / "openapi.json"


def generate() -> dict[str, Any]:
    """The document the app serves at /openapi.json, built without a database or real secrets."""
    from keyrelay.app import create_app
    from keyrelay.config import Settings
    from keyrelay.kit.vault import format_vault_keys, generate_vault_key

    with tempfile.TemporaryDirectory() as tmp:
        settings = Settings(
            database_url=f"sqlite:///{tmp}/openapi.db",
            data_dir=Path(tmp),
            vault_keys=format_vault_keys([generate_vault_key("openapi")]),
            secret_key="openapi-generation-only-" + "x" * 40,
            _env_file=None,  # type: ignore[call-arg]
        )
        app = create_app(settings)
        return app.openapi()


def render(doc: dict[str, Any]) -> str:
    return json.dumps(doc, indent=2, sort_keys=True, ensure_ascii=False) + "\n"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="compare instead of writing")
    args = parser.parse_args()
    text = render(generate())
    if args.check:
        if TARGET.exists() and TARGET.read_text(encoding="utf-8") == text:
            return 0
        sys.stderr.write(f"{TARGET.relative_to(ROOT)} is stale: run scripts/openapi.py\n")
        return 1
    TARGET.write_text(text, encoding="utf-8")
    sys.stdout.write(f"wrote {TARGET.relative_to(ROOT)}\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
