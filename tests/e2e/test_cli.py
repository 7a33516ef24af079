"""The ``keyrelay`` command as an operator runs it, against the same database as a live server."""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

import pytest

from keyrelay.kit.vault import parse_vault_keys

from .harness import KEYRELAY, DeployFactory, Deployment, make_keys, server_env

pytestmark = pytest.mark.e2e
IMPORT_LINE = re.compile(r"imported (?P<imported>\d+), duplicates (?P<duplicates>\d+), invalid 0 in [\d.]+s \((?P<rate>[\d,]+) keys/s\)")


@pytest.fixture(scope="module", params=["sqlite", "postgresql"])
def deployment(request: pytest.FixtureRequest, deploy: DeployFactory) -> Deployment:
    return deploy(request.param)


def test_keys_import_reports_counts_and_rate(deployment: Deployment, tmp_path: Path) -> None:
    admin = deployment.admin()
    product = admin.create_product()
    keys = make_keys(100, prefix="CLI")
    keyfile = tmp_path / "keys.txt"
    keyfile.write_text("\n".join(keys + keys[:5]) + "\n")

    first = deployment.cli("keys", "import", product["slug"], str(keyfile))
    found = IMPORT_LINE.search(first.stdout + first.stderr)
    assert found, first.stdout + first.stderr
    assert (int(found["imported"]), int(found["duplicates"])) == (100, 5)
    assert int(found["rate"].replace(",", "")) > 0

    # Importing the same file again stores nothing new, and by product id works too.
    again = deployment.cli("keys", "import", str(product["id"]), str(keyfile))
    found = IMPORT_LINE.search(again.stdout + again.stderr)
    assert found, again.stdout + again.stderr
    assert (int(found["imported"]), int(found["duplicates"])) == (0, 105)
    assert admin.stock(product["id"])["available"] == 100


def test_keys_import_refuses_an_empty_file(deployment: Deployment, tmp_path: Path) -> None:
    admin = deployment.admin()
    product = admin.create_product()
    for name, content in (("empty.txt", ""), ("blank.txt", "\n  \n\n")):
        keyfile = tmp_path / name
        keyfile.write_text(content)
        done = deployment.cli("keys", "import", product["slug"], str(keyfile), check=False)
        output = done.stdout + done.stderr
        assert done.returncode != 0, output
        assert "no card keys" in output, output
        assert "Traceback" not in output, output
    assert admin.stock(product["id"]) == {"product_id": product["id"], "available": 0, "reserved": 0, "sold": 0, "low": True}

    unknown = deployment.cli("keys", "import", "no-such-product", str(keyfile), check=False)
    assert unknown.returncode != 0
    assert "Traceback" not in unknown.stdout + unknown.stderr


def test_ledger_check_on_a_fresh_database(tmp_path: Path, test_secrets: dict[str, str]) -> None:
    env = server_env(f"sqlite:///{tmp_path / 'fresh.db'}", tmp_path, test_secrets)
    done = subprocess.run(
        [str(KEYRELAY), "ledger", "check"], cwd=tmp_path, env=env, capture_output=True, text=True, timeout=60, check=False
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert "books balance" in done.stdout + done.stderr


def test_ledger_check_on_a_live_database(deployment: Deployment) -> None:
    done = deployment.cli("ledger", "check")
    assert "books balance" in done.stdout + done.stderr


def test_vault_genkey_prints_a_key_line(tmp_path: Path) -> None:
    for args, key_id in (([], "k1"), (["--key-id", "k7"], "k7")):
        done = subprocess.run(
            [str(KEYRELAY), "vault", "genkey", *args], cwd=tmp_path, capture_output=True, text=True, timeout=60, check=True
        )
        line = done.stdout.strip()
        assert re.fullmatch(rf"{key_id}:[A-Za-z0-9_-]{{43}}=?", line), line
        (parsed,) = parse_vault_keys(line)
        assert parsed.key_id == key_id
