"""``keyrelay-client`` without a server: signing agrees with the server's code, the retry policy, webhook verification.

No process is started here (no ``e2e`` marker): a scripted ``httpx.MockTransport`` plays the server.
"""

from __future__ import annotations

import base64
import json
import secrets
import time
from collections.abc import Callable
from datetime import UTC, datetime

import httpx
import pytest
from keyrelay_client import (
    Client,
    IdempotencyKeyReused,
    Offer,
    Order,
    ServerError,
    TransportError,
    WebhookVerificationError,
    canonical_request,
    sign_webhook,
    signed_headers,
    verify_webhook,
)

from keyrelay.identity import api_keys

# The Standard Webhooks reference vector (the same one its libraries test against).
VECTOR_SECRET = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
VECTOR_ID, VECTOR_TS, VECTOR_BODY = "msg_p5jXN8AQM9LWM0D4loKWxJek", 1614265330, b'{"test": 2432232314}'
VECTOR_SIGNATURE = "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE="

ORDER = {
    "order": {"number": "KR1", "status": "delivered", "product_id": 1, "quantity": 1, "amount_minor": 900, "currency": "CNY"},
    "keys": ["K-1"],
    "timeline": [],
}


@pytest.mark.parametrize(
    ("method", "path", "body"),
    [("GET", "/api/v1/distributor/wallet?currency=CNY", b""), ("post", "/api/v1/distributor/purchases", b'{"product_id":1,"quantity":1}')],
)
def test_the_client_signs_what_the_server_verifies(method: str, path: str, body: bytes) -> None:
    assert canonical_request(method, path, "1700000000", "nonce-123", body) == api_keys.canonical_request(
        method, path, "1700000000", "nonce-123", body
    )
    headers = signed_headers("kr_x", "krsk_secret", method, path, body, timestamp=1700000000, nonce="nonce-123")
    server = api_keys.sign("krsk_secret", api_keys.canonical_request(method, path, "1700000000", "nonce-123", body))
    assert headers["X-Signature"] == server


def test_each_request_gets_a_fresh_nonce() -> None:
    nonces = {signed_headers("kr_x", "s", "GET", "/api/v1/x")["X-Nonce"] for _ in range(100)}
    assert len(nonces) == 100


Script = list[Callable[[httpx.Request], httpx.Response]]


def scripted(script: Script) -> tuple[Client, list[httpx.Request], list[float]]:
    """A client whose server answers from ``script`` in turn; returns the requests it saw and the sleeps."""
    seen: list[httpx.Request] = []
    sleeps: list[float] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return script[len(seen) - 1](request)

    client = Client("http://keyrelay.test", "kr_test", "krsk_test", transport=httpx.MockTransport(handler), max_retries=3)
    client._sleep = sleeps.append
    return client, seen, sleeps


def problem(status: int, code: str, headers: dict[str, str] | None = None) -> Callable[[httpx.Request], httpx.Response]:
    body = {"type": "about:blank", "title": code, "status": status, "detail": f"{code} happened", "code": code}
    return lambda _r: httpx.Response(status, json=body, headers={"content-type": "application/problem+json", **(headers or {})})


def created(_request: httpx.Request) -> httpx.Response:
    return httpx.Response(201, json=ORDER)


def cut(request: httpx.Request) -> httpx.Response:
    raise httpx.ConnectError("refused", request=request)


def test_a_purchase_is_retried_with_the_same_key_after_5xx_409_and_a_cut() -> None:
    client, seen, sleeps = scripted([problem(503, "unavailable"), problem(409, "idempotency_in_progress"), cut, created])
    order = client.purchase(1, 1, buyer_ref="r-1")
    assert order.keys == ["K-1"]
    assert len(seen) == 4
    assert len({r.headers["Idempotency-Key"] for r in seen}) == 1
    assert len({r.headers["X-Nonce"] for r in seen}) == 4
    assert len(sleeps) == 3
    assert all(s > 0 for s in sleeps)
    assert seen[0].content == b'{"product_id":1,"quantity":1,"buyer_ref":"r-1"}'
    for request in seen:
        message = api_keys.canonical_request(
            request.method, request.url.raw_path.decode(), request.headers["X-Timestamp"], request.headers["X-Nonce"], request.content
        )
        assert request.headers["X-Signature"] == api_keys.sign("krsk_test", message)


def test_a_given_idempotency_key_is_sent_as_is() -> None:
    client, seen, _ = scripted([created])
    client.purchase(1, 1, idempotency_key="shop-order-77")
    assert seen[0].headers["Idempotency-Key"] == "shop-order-77"


def test_429_waits_for_retry_after() -> None:
    client, seen, sleeps = scripted([problem(429, "rate_limited", {"Retry-After": "7"}), lambda _r: httpx.Response(200, json=[])])
    assert client.stock() == []
    assert sleeps == [7.0]
    assert len(seen) == 2


def test_a_post_without_idempotency_key_is_never_retried() -> None:
    client, seen, _ = scripted([problem(503, "unavailable")])
    with pytest.raises(ServerError):
        client.request("POST", "/distributor/channels", json={"name": "x"})
    assert len(seen) == 1
    client, seen, _ = scripted([cut])
    with pytest.raises(TransportError):
        client.request("POST", "/distributor/channels", json={"name": "x"})
    assert len(seen) == 1
    assert "Idempotency-Key" not in seen[0].headers


def test_gets_are_retried_until_the_budget_is_spent() -> None:
    client, seen, _ = scripted([problem(502, "bad_gateway")] * 4)
    with pytest.raises(ServerError) as caught:
        client.wallet()
    assert caught.value.status == 502
    assert len(seen) == 4


def test_client_errors_are_not_retried_and_keep_their_code() -> None:
    client, seen, _ = scripted([problem(422, "idempotency_key_reused")])
    with pytest.raises(IdempotencyKeyReused) as caught:
        client.purchase(1, 1, idempotency_key="k")
    assert caught.value.code == "idempotency_key_reused"
    assert caught.value.detail == "idempotency_key_reused happened"
    assert len(seen) == 1


def test_models_keep_fields_they_do_not_know() -> None:
    offer = Offer.from_dict(
        {"product_id": 1, "name": "X", "currency": "CNY", "cost_minor": 5, "region": "CN", "updated_at": "2026-01-02T03:04:05+00:00"}
    )
    assert offer.extra == {"region": "CN"}
    assert offer.updated_at is not None
    assert offer.updated_at.year == 2026
    order = Order.from_detail({**ORDER, "order": {**ORDER["order"], "new_field": 1}})  # type: ignore[dict-item]
    assert order.extra == {"new_field": 1}
    assert order.keys == ["K-1"]


def test_verify_webhook_accepts_the_reference_vector() -> None:
    headers = {"Webhook-Id": VECTOR_ID, "Webhook-Timestamp": str(VECTOR_TS), "Webhook-Signature": VECTOR_SIGNATURE}
    assert verify_webhook(VECTOR_SECRET, headers, VECTOR_BODY, now=VECTOR_TS + 10) == {"test": 2432232314}
    assert sign_webhook(VECTOR_SECRET, VECTOR_ID, VECTOR_TS, VECTOR_BODY) == VECTOR_SIGNATURE
    rotated = {**headers, "Webhook-Signature": f"v1,bm90LXRoaXMtb25l {VECTOR_SIGNATURE}"}
    assert verify_webhook(VECTOR_SECRET, rotated, VECTOR_BODY.decode(), now=VECTOR_TS) == {"test": 2432232314}


@pytest.mark.parametrize(
    "change",
    [
        {"body": b'{"test": 2432232315}'},
        {"webhook-id": "msg_other"},
        {"webhook-signature": "v2," + VECTOR_SIGNATURE[3:]},
        {"webhook-signature": ""},
        {"now": VECTOR_TS + 301},
        {"now": VECTOR_TS - 301},
        {"webhook-timestamp": "soon"},
        {"secret": "whsec_" + "A" * 32},
    ],
)
def test_verify_webhook_refuses_anything_else(change: dict[str, object]) -> None:
    headers = {"webhook-id": VECTOR_ID, "webhook-timestamp": str(VECTOR_TS), "webhook-signature": VECTOR_SIGNATURE}
    headers.update({k: str(v) for k, v in change.items() if k.startswith("webhook-")})
    body = change.get("body", VECTOR_BODY)
    now = change.get("now", VECTOR_TS)
    secret = str(change.get("secret", VECTOR_SECRET))
    assert isinstance(body, bytes)
    assert isinstance(now, int)
    with pytest.raises(WebhookVerificationError):
        verify_webhook(secret, headers, body, now=now)


def test_sign_webhook_rejects_a_malformed_secret() -> None:
    with pytest.raises(ValueError, match="whsec_"):
        sign_webhook("whsec_***", "msg", 1, b"{}")
    assert json.loads(b"{}") == {}


def test_verify_webhook_agrees_with_the_standardwebhooks_library() -> None:
    standardwebhooks = pytest.importorskip("standardwebhooks")
    secret = "whsec_" + base64.b64encode(secrets.token_bytes(24)).decode()
    library = standardwebhooks.Webhook(secret)
    for i in range(20):
        body = json.dumps({"type": "stock.changed", "data": {"product_id": i, "in_stock": secrets.randbelow(100), "name": "Ünïcode ✓"}})
        now = int(time.time())
        msg_id = f"msg_{secrets.token_hex(8)}"
        theirs = library.sign(msg_id, datetime.fromtimestamp(now, tz=UTC), body)
        assert theirs == sign_webhook(secret, msg_id, now, body)
        headers = {"webhook-id": msg_id, "webhook-timestamp": str(now), "webhook-signature": theirs}
        assert verify_webhook(secret, headers, body.encode()) == library.verify(body, headers)
