"""The buyer's API journey over real HTTP, on SQLite and on PostgreSQL."""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

import httpx
import pytest

from keyrelay.config import Settings
from keyrelay.payments.providers.sandbox import SandboxProvider

from .harness import Admin, DeployFactory, Deployment, assert_problem, make_keys, pay_with_sandbox, wait_for_status

pytestmark = pytest.mark.e2e
BUYER = "buyer@example.com"


@dataclass
class Shop:
    deployment: Deployment
    admin: Admin
    http: httpx.Client
    product: dict[str, Any]
    keys: list[str]


@pytest.fixture(scope="module", params=["sqlite", "postgresql"])
def shop(request: pytest.FixtureRequest, deploy: DeployFactory) -> Shop:
    deployment = deploy(request.param)
    admin = deployment.admin()
    keys = make_keys(5)
    product = admin.create_product(keys=keys, price_minor=1999)
    return Shop(deployment, admin, deployment.client(), product, keys)


def checkout(shop: Shop, quantity: int = 1, contact: str = BUYER, **extra: Any) -> httpx.Response:
    body = {"product_id": shop.product["id"], "quantity": quantity, "contact": contact, **extra}
    return shop.http.post("/api/v1/orders", json=body)


def test_health_and_openapi(shop: Shop) -> None:
    assert shop.http.get("/healthz").status_code == 200
    ready = shop.http.get("/readyz")
    assert ready.status_code == 200
    assert ready.json()["database"] is True
    spec = shop.http.get("/openapi.json")
    assert spec.status_code == 200
    assert "/api/v1/orders" in spec.json()["paths"]


def test_buy_pay_and_receive_keys(shop: Shop) -> None:
    listed = shop.http.get("/api/v1/catalog/products").json()
    mine = next(p for p in listed if p["id"] == shop.product["id"])
    assert mine["in_stock"] == 5

    placed = checkout(shop, quantity=2)
    assert placed.status_code == 201, placed.text
    body = placed.json()
    number, token = body["order"]["number"], body["access_token"]
    assert body["order"]["status"] == "pending_payment"
    assert body["order"]["amount_minor"] == 2 * 1999
    assert body["payment_url"].endswith(f"/pay/sandbox/{number}")

    pay_with_sandbox(shop.http, body["payment_url"])
    delivered = wait_for_status(shop.http, number, token, "delivered", timeout=10)
    keys = delivered["keys"]
    assert len(keys) == 2
    assert len(set(keys)) == 2
    assert set(keys) <= set(shop.keys)
    assert [e["kind"] for e in delivered["timeline"]][:1] == ["created"]

    # The operator sees exactly these keys as sold, to this order.
    stock = shop.admin.stock(shop.product["id"])
    assert (stock["available"], stock["reserved"], stock["sold"]) == (3, 0, 2)
    sold = shop.admin.http.get(f"/api/v1/admin/products/{shop.product['id']}/keys", params={"status": "sold"}).json()
    assert len(sold) == 2
    revealed = {shop.admin.http.post(f"/api/v1/admin/keys/{row['id']}/reveal").json()["secret"] for row in sold}
    assert revealed == set(keys)
    admin_view = shop.admin.http.get(f"/api/v1/admin/orders/{number}").json()
    assert admin_view["order"]["status"] == "delivered"
    assert sorted(admin_view["keys"]) == sorted(keys)

    # Central lookup with the contact finds the same order and keys (case-insensitive contact).
    found = shop.http.post("/api/v1/orders/lookup", json={"number": number.lower(), "contact": BUYER.upper()})
    assert found.status_code == 200, found.text
    assert sorted(found.json()["keys"]) == sorted(keys)
    assert found.json()["access_token"] == token

    # A wrong contact and a missing order read exactly alike.
    wrong = shop.http.post("/api/v1/orders/lookup", json={"number": number, "contact": "someone@example.com"})
    missing = shop.http.post("/api/v1/orders/lookup", json={"number": "KR00000000NOPE", "contact": BUYER})
    assert_problem(wrong, 404, "not_found")
    assert_problem(missing, 404, "not_found")
    assert wrong.json() == missing.json()

    # A wrong token reads like a missing order too.
    assert_problem(shop.http.get(f"/api/v1/orders/{number}", params={"token": "0" * 32}), 404, "not_found")


def test_bad_checkouts_are_problems(shop: Shop) -> None:
    before = shop.admin.stock(shop.product["id"])

    zero = assert_problem(checkout(shop, quantity=0), 422, "validation_failed")
    assert any(err["field"] == "quantity" for err in zero["errors"]), zero
    assert_problem(checkout(shop, quantity="two"), 422, "validation_failed")
    assert_problem(checkout(shop, contact="buyer@example.com", payment_provider="bitcoin"), 422, "unknown_payment_provider")
    assert_problem(
        shop.http.post("/api/v1/orders", content=b"{not json", headers={"content-type": "application/json"}), 422, "validation_failed"
    )

    unknown = shop.http.post("/api/v1/orders", json={"product_id": 987654, "quantity": 1, "contact": BUYER})
    assert_problem(unknown, 404, "not_found")

    too_many = assert_problem(checkout(shop, quantity=before["available"] + 1), 409, "out_of_stock")
    assert too_many["errors"][0]["field"] == "quantity"

    # Wallet payment needs a signed-in buyer.
    assert_problem(checkout(shop, payment_provider="balance"), 422, "sign_in_to_pay")

    assert shop.admin.stock(shop.product["id"]) == before


def test_tampered_callback_is_refused(shop: Shop, test_secrets: dict[str, str]) -> None:
    placed = checkout(shop, quantity=1, contact="tamper@example.com")
    assert placed.status_code == 201, placed.text
    number, token = placed.json()["order"]["number"], placed.json()["access_token"]
    amount = placed.json()["order"]["amount_minor"]

    # Sign like the gateway would (same derived key as the server), then tamper.
    settings = Settings(secret_key=test_secrets["KEYRELAY_SECRET_KEY"], _env_file=None)  # type: ignore[call-arg]
    gateway = SandboxProvider(settings.derived_key(b"sandbox"))
    genuine = {
        "order_no": number,
        "trade_no": "SBXTAMPER1",
        "amount": str(amount),
        "currency": "CNY",
        "status": "paid",
        "timestamp": str(int(time.time())),
    }
    genuine["sign"] = gateway.sign(genuine)
    forged_amount = {**genuine, "amount": "1"}
    bad_signature = {**genuine, "sign": "0" * 64}
    unsigned = {k: v for k, v in genuine.items() if k != "sign"}
    underpaid = {**genuine, "amount": "1"}
    underpaid["sign"] = gateway.sign(underpaid)  # validly signed, but not what the order costs
    for params in (forged_amount, bad_signature, unsigned, underpaid):
        reply = shop.http.post("/api/v1/payments/sandbox/notify", data=params)
        assert (reply.status_code, reply.text) == (400, "fail"), params
    unknown_provider = shop.http.post("/api/v1/payments/nosuchpay/notify", data=genuine)
    assert unknown_provider.status_code == 404  # no such provider here: nothing to verify, nothing logged
    assert unknown_provider.json()["code"] == "not_found"

    time.sleep(0.5)
    order = shop.http.get(f"/api/v1/orders/{number}", params={"token": token}).json()
    assert order["order"]["status"] == "pending_payment"
    assert order["order"]["paid_at"] is None
    assert order["keys"] == []

    # The genuine notification still works afterwards, and a replay is acknowledged without effect.
    for _ in range(2):
        reply = shop.http.post("/api/v1/payments/sandbox/notify", data=genuine)
        assert (reply.status_code, reply.text) == (200, "success")
    assert len(wait_for_status(shop.http, number, token)["keys"]) == 1


def test_binary_key_upload_is_refused(shop: Shop) -> None:
    before = shop.admin.stock(shop.product["id"])
    url = f"/api/v1/admin/products/{shop.product['id']}/keys/upload"
    for name, data in (("keys.txt", bytes(range(256)) * 8), ("keys.txt", b"\x00\x01\x02KEY\n" * 50), ("empty.txt", b"")):
        reply = shop.admin.http.post(url, files={"file": (name, data, "application/octet-stream")})
        assert 400 <= reply.status_code < 500, f"{name}: {reply.status_code} {reply.text}"
        assert reply.headers["content-type"].startswith("application/problem+json")
        assert reply.json()["code"], reply.json()
    assert shop.admin.stock(shop.product["id"]) == before

    # A good file through the same endpoint still imports.
    good = "\n".join(make_keys(3)).encode()
    reply = shop.admin.http.post(url, files={"file": ("keys.txt", good, "text/plain")})
    assert reply.status_code == 201, reply.text
    assert reply.json()["imported"] == 3
