"""``examples/auto_delivery`` run as a channel would run it, against a live server.

Paid shop orders are bought once each (buyer_ref = shop order id), the keys
land in the outbox, a re-run buys nothing more, and — when the server has the
webhooks API — ``catalog.json`` follows ``stock.changed`` and ``price.changed``.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from .channel_support import new_distributor, new_key, sign_headers, stocked_product
from .harness import DeployFactory, Deployment, free_port

pytestmark = pytest.mark.e2e

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "auto_delivery" / "auto_delivery.py"


@pytest.fixture(scope="module")
def deploy(tmp_path_factory: pytest.TempPathFactory, test_secrets: dict[str, str]) -> Any:
    from .harness import deployments

    webhooks = {
        "KEYRELAY_WEBHOOKS_ALLOW_PRIVATE": "true",
        "KEYRELAY_WEBHOOKS_BACKOFF_SCALE": "0.01",
        "KEYRELAY_WORKER_INTERVAL_SECONDS": "0.2",
    }
    yield from deployments(tmp_path_factory, {**test_secrets, **webhooks})


def wait_for(what: str, check: Callable[[], bool], timeout: float = 20.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if check():
            return
        time.sleep(0.2)
    pytest.fail(f"timed out waiting for {what}")


def read(path: Path, default: Any) -> Any:
    try:
        return json.loads(path.read_text())
    except (FileNotFoundError, json.JSONDecodeError):
        return default


def run_example(deployment: Deployment, key: Any, args: list[str]) -> subprocess.Popen[bytes]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("KEYRELAY_")}
    env.update(KEYRELAY_URL=deployment.url, KEYRELAY_KEY_ID=key.key_id, KEYRELAY_SECRET=key.secret, PYTHONUNBUFFERED="1")
    log = (Path(args[args.index("--state") + 1]) / "example.log").open("ab")
    return subprocess.Popen([sys.executable, str(EXAMPLE), *args], env=env, stdout=log, stderr=subprocess.STDOUT)


def test_auto_delivery_buys_each_paid_order_once_and_syncs_the_catalog(deploy: DeployFactory, tmp_path: Path) -> None:
    deployment = deploy("sqlite")
    admin = deployment.admin()
    first, second = stocked_product(admin, 10), stocked_product(admin, 10, supply_price_minor=600)
    who = new_distributor(deployment, admin, credit_minor=1_000_000)
    key = new_key(deployment, who)
    http = deployment.client()
    has_webhooks = http.get("/api/v1/distributor/webhooks", headers=who.bearer).status_code == 200

    orders = tmp_path / "orders.json"
    state = tmp_path / "state"
    state.mkdir()
    shop = [
        {"id": "T1001", "status": "paid", "product_id": first["id"], "quantity": 1, "buyer": "alice@example.com"},
        {"id": "T1002", "status": "paid", "product_id": second["id"], "quantity": 2, "buyer": "bob@example.com"},
        {"id": "T1003", "status": "unpaid", "product_id": first["id"], "quantity": 1, "buyer": "carol@example.com"},
    ]
    orders.write_text(json.dumps(shop))
    args = ["--orders", str(orders), "--state", str(state), "--interval", "0.3"]
    if has_webhooks:
        args += ["--webhook-port", str(free_port())]
    process = run_example(deployment, key, args)
    try:
        fulfilled = state / "fulfilled.json"
        wait_for("the two paid orders", lambda: len(read(fulfilled, {})) == 2)
        shop.append({"id": "T1004", "status": "paid", "product_id": first["id"], "quantity": 1, "buyer": "dan@example.com"})
        orders.write_text(json.dumps(shop))
        wait_for("the order paid later", lambda: len(read(fulfilled, {})) == 3)
        catalog = state / "catalog.json"
        assert {str(first["id"]), str(second["id"])} <= set(read(catalog, {})["products"])

        if has_webhooks:
            _catalog_follows_webhooks(deployment, admin, first["id"], second["id"], catalog, state)
    finally:
        process.send_signal(signal.SIGINT)
        code = process.wait(15)
    assert code == 0, (state / "example.log").read_text()[-3000:]

    lines = [json.loads(line) for line in (state / "outbox.jsonl").read_text().splitlines()]
    assert sorted(line["shop_order"] for line in lines) == ["T1001", "T1002", "T1004"]
    assert {line["shop_order"]: len(line["keys"]) for line in lines} == {"T1001": 1, "T1002": 2, "T1004": 1}
    log = (state / "example.log").read_text()
    assert all(k not in log for line in lines for k in line["keys"]), "keys are masked in the log"

    rerun = run_example(deployment, key, ["--orders", str(orders), "--state", str(state), "--once"])
    assert rerun.wait(30) == 0
    path = "/api/v1/distributor/orders?limit=100"
    mine = http.get(path, headers=sign_headers(key, "GET", path)).json()
    assert sorted(o["buyer_ref"] for o in mine) == ["T1001", "T1002", "T1004"], "one KeyRelay order per paid shop order"


def _catalog_follows_webhooks(deployment: Deployment, admin: Any, first_id: int, second_id: int, catalog: Path, state: Path) -> None:
    def row(product_id: int) -> dict[str, Any]:
        products: dict[str, dict[str, Any]] = read(catalog, {"products": {}})["products"]
        return products.get(str(product_id), {})

    wait_for("the webhook endpoint", lambda: bool(read(state / "webhook.json", {}).get("secret")))
    admin.import_keys(first_id, [f"MORE-{first_id}-{i}-{time.time_ns()}" for i in range(5)])
    available = admin.stock(first_id)["available"]
    wait_for(f"stock.changed to bring in_stock={available}", lambda: row(first_id).get("in_stock") == available)

    before = row(second_id)["cost_minor"]
    rule = {"level": 1, "product_id": second_id, "rule": "markup_pct", "value": 4000}
    assert admin.http.put("/api/v1/admin/level-prices", json=rule).status_code == 200
    wait_for("price.changed to move the cost", lambda: row(second_id).get("cost_minor") not in (None, before))
