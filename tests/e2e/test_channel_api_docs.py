"""The copy-paste examples of docs/integration.md work against a live server, as written.

The bash/openssl signing function and its example calls run verbatim in bash;
the Python snippets run with the placeholders (URL, key id, secret) filled in.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import httpx
import pytest

from .channel_support import new_distributor, new_key, stocked_product
from .harness import DeployFactory

pytestmark = pytest.mark.e2e

GUIDE = Path(__file__).resolve().parents[2] / "docs" / "integration.md"


def blocks(language: str) -> list[str]:
    return re.findall(rf"```{language}\n(.*?)```", GUIDE.read_text(encoding="utf-8"), flags=re.S)


def documents(output: str) -> list[Any]:
    """The JSON values curl printed back to back."""
    decoder, found, at = json.JSONDecoder(), [], 0
    while at < len(output.rstrip()):
        value, at = decoder.raw_decode(output, at)
        found.append(value)
    return found


@pytest.mark.skipif(not (shutil.which("openssl") and shutil.which("curl")), reason="needs openssl and curl")
def test_the_guide_examples_run(deploy: DeployFactory, tmp_path: Path) -> None:
    deployment = deploy("sqlite")
    admin = deployment.admin()
    ids = [stocked_product(admin, 10)["id"] for _ in range(3)]
    assert 3 in ids, "the guide buys product 3"
    who = new_distributor(deployment, admin, credit_minor=1_000_000)
    key = new_key(deployment, who)

    signing = next(b for b in blocks("bash") if "kr_request() {" in b)
    env = {**os.environ, "KEYRELAY_URL": deployment.url, "KEYRELAY_KEY_ID": key.key_id, "KEYRELAY_SECRET": key.secret}
    done = subprocess.run(["bash", "-euo", "pipefail", "-c", signing], env=env, capture_output=True, text=True, timeout=60, check=False)
    assert done.returncode == 0, done.stderr
    wallet, orders, bought = documents(done.stdout)
    assert wallet["currency"] == "CNY"
    assert orders == []
    assert bought["order"]["buyer_ref"] == "T1001"
    assert len(bought["keys"]) == 1
    again = subprocess.run(["bash", "-c", signing], env=env, capture_output=True, text=True, timeout=60, check=False)
    assert documents(again.stdout)[-1] == bought, "Idempotency-Key T1001 replays"

    namespace: dict[str, object] = {}
    exec(next(b for b in blocks("python") if "def signed_headers" in b), namespace)
    headers = namespace["signed_headers"](key.key_id, key.secret, "GET", "/api/v1/distributor/stock")  # type: ignore[operator]
    assert httpx.get(f"{deployment.url}/api/v1/distributor/stock", headers=headers).status_code == 200

    ran_snippets = 0
    for snippet in (b for b in blocks("python") if 'Client("https://keys.example.com"' in b):
        code = (
            snippet.replace("https://keys.example.com", deployment.url)
            .replace('"kr_…"', repr(key.key_id))
            .replace('"krsk_…"', repr(key.secret))
        )
        script = tmp_path / "snippet.py"
        script.write_text(code, encoding="utf-8")
        ran = subprocess.run([sys.executable, str(script)], capture_output=True, text=True, timeout=60, check=False)
        assert ran.returncode == 0, f"{code}\n{ran.stderr}"
        ran_snippets += 1
    assert ran_snippets == 2, "the sync and the async client examples"
