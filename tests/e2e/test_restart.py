"""Stopping and starting the server keeps every order: the data lives in the data directory."""

from __future__ import annotations

import pytest

from .harness import DeployFactory, make_keys, pay_with_sandbox, wait_for_status

pytestmark = pytest.mark.e2e


def test_orders_survive_a_restart(deploy: DeployFactory) -> None:
    deployment = deploy("sqlite")
    admin = deployment.admin()
    product = admin.create_product(keys=make_keys(3, prefix="RST"))
    http = deployment.client()
    placed = http.post("/api/v1/orders", json={"product_id": product["id"], "quantity": 1, "contact": "keep@example.com"})
    assert placed.status_code == 201, placed.text
    number, token = placed.json()["order"]["number"], placed.json()["access_token"]
    pay_with_sandbox(http, placed.json()["payment_url"])
    before = wait_for_status(http, number, token)
    pending = http.post("/api/v1/orders", json={"product_id": product["id"], "quantity": 1, "contact": "later@example.com"}).json()

    deployment.restart()

    http = deployment.client()
    after = http.get(f"/api/v1/orders/{number}", params={"token": token})
    assert after.status_code == 200, after.text
    assert after.json()["order"] == before["order"]
    assert after.json()["keys"] == before["keys"]
    still_pending = http.get(f"/api/v1/orders/{pending['order']['number']}", params={"token": pending["access_token"]}).json()
    assert still_pending["order"]["status"] == "pending_payment"
    stock = deployment.admin().stock(product["id"])
    assert (stock["available"], stock["reserved"], stock["sold"]) == (1, 1, 1)
