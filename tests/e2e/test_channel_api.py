"""Signed requests and idempotency keys against two ``keyrelay serve`` processes on one PostgreSQL database.

Signing: a correct request passes; every single-byte change to any signed part
is refused (100 %); replays are refused by the *other* process too; stale
timestamps, unknown and revoked keys, and missing scopes get their own codes.
Idempotency: 20 concurrent copies of one purchase make exactly one order.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import threading
import time
import uuid
from collections import Counter
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

import httpx
import psycopg
import pytest

from .channel_support import Distributor, Key, canonical, new_distributor, new_key, send_signed, sign_headers, stocked_product
from .harness import Deployment, assert_problem, deployments

pytestmark = pytest.mark.e2e

PURCHASES = "/api/v1/distributor/purchases"
WALLET = "/api/v1/distributor/wallet"


@dataclass
class World:
    deployment: Deployment
    a: httpx.Client
    b: httpx.Client
    who: Distributor
    key: Key
    product_id: int


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory, test_secrets: dict[str, str]) -> Iterator[World]:
    # The flip test sends ~150 requests from one address: lift the limits (they have their own test).
    settings = {
        **test_secrets,
        "KEYRELAY_RATE_LIMIT_PER_IP": "100000/minute",
        "KEYRELAY_RATE_LIMIT_PER_KEY": "100000/minute",
        "KEYRELAY_WEBHOOKS_ALLOW_PRIVATE": "true",
    }
    factory = deployments(tmp_path_factory, settings)
    deploy = next(factory)
    deployment = deploy("postgresql", servers=2)
    admin = deployment.admin()
    product = stocked_product(admin, 200)
    who = new_distributor(deployment, admin, credit_minor=10_000_000)
    key = new_key(deployment, who)
    yield World(deployment, deployment.client(0), deployment.client(1), who, key, product["id"])
    factory.close()


def _purchase_body(world: World, ref: str, quantity: int = 1) -> bytes:
    return json.dumps({"product_id": world.product_id, "quantity": quantity, "buyer_ref": ref}).encode()


def test_a_correctly_signed_request_passes(world: World) -> None:
    reply = send_signed(world.a, world.key, "GET", WALLET + "?currency=CNY")
    assert reply.status_code == 200, reply.text
    bought = send_signed(world.b, world.key, "POST", PURCHASES, _purchase_body(world, "ok-1"))
    assert bought.status_code == 201, bought.text
    assert bought.json()["order"]["buyer_ref"] == "ok-1"
    assert len(bought.json()["keys"]) == 1


def _flip(char: str) -> str:
    """A different byte of the same kind, so the changed request still travels unchanged otherwise."""
    if char.isdigit():
        return str((int(char) + 1) % 10)
    if "a" <= char <= "z":
        return chr((ord(char) - ord("a") + 1) % 26 + ord("a"))
    if "A" <= char <= "Z":
        return chr((ord(char) - ord("A") + 1) % 26 + ord("A"))
    return "_" if char != "_" else "."


def _variants(text: str, positions: list[int] | None = None) -> Iterator[str]:
    for i in positions if positions is not None else range(len(text)):
        yield text[:i] + _flip(text[i]) + text[i + 1 :]


def test_every_single_byte_change_is_rejected(world: World) -> None:
    """Each byte of method, path, query, body, timestamp and nonce changed once after signing → 401.

    Query, body (every letter and digit: the JSON stays valid, so only the
    signature can refuse it), timestamp and nonce are changed on the wire. A
    changed method or fixed path segment would be routed elsewhere (404/405)
    before any check, so for those the *signed* string is changed and the
    original request sent — the same comparison, seen from the other side — and
    the path parameter of ``/orders/{number}`` is changed on the wire. At the
    end the original request, with the nonce every forgery carried, still
    passes: a forged request cannot burn a client's nonce.
    """
    path, query = PURCHASES, "src=e2e-flip-0123"
    body = _purchase_body(world, "flip-abcdef")
    ts, nonce = str(int(time.time())), uuid.uuid4().hex
    good = sign_headers(world.key, "POST", f"{path}?{query}", body, timestamp=int(ts), nonce=nonce)
    outcomes: Counter[str] = Counter()

    def send(method: str, target: str, content: bytes, headers: dict[str, str], label: str) -> None:
        reply = world.a.request(method, target, content=content, headers={**headers, "Content-Type": "application/json"})
        assert reply.status_code == 401, f"{label}: {reply.status_code} {reply.text}"
        code = reply.json()["code"]
        assert code in {"bad_signature", "stale_timestamp", "bad_nonce"}, f"{label}: {code}"
        outcomes[f"{label}:{code}"] += 1

    for changed in _variants(query):
        send("POST", f"{path}?{changed}", body, good, f"query {changed}")
    text = body.decode()
    for changed in _variants(text, [i for i, c in enumerate(text) if c.isalnum()]):
        send("POST", f"{path}?{query}", changed.encode(), good, f"body {changed}")
    for changed in _variants(ts):
        send("POST", f"{path}?{query}", body, {**good, "X-Timestamp": changed}, f"timestamp {changed}")
    for changed in _variants(nonce):
        send("POST", f"{path}?{query}", body, {**good, "X-Nonce": changed}, f"nonce {changed}")

    def forged(method: str, path_and_query: str) -> dict[str, str]:
        mac = hmac.new(world.key.secret.encode(), canonical(method, path_and_query, ts, nonce, body), hashlib.sha256).hexdigest()
        return {**good, "X-Signature": mac}

    for changed in _variants("POST"):
        send("POST", f"{path}?{query}", body, forged(changed, f"{path}?{query}"), f"method {changed}")
    for changed in _variants(path):
        send("POST", f"{path}?{query}", body, forged("POST", f"{changed}?{query}"), f"path {changed}")

    order = send_signed(world.a, world.key, "POST", PURCHASES, _purchase_body(world, "flip-target")).json()["order"]["number"]
    got = sign_headers(world.key, "GET", f"/api/v1/distributor/orders/{order}")
    assert world.a.get(f"/api/v1/distributor/orders/{order}", headers=got).status_code == 200
    got = sign_headers(world.key, "GET", f"/api/v1/distributor/orders/{order}")
    for changed in _variants(order):
        reply = world.a.get(f"/api/v1/distributor/orders/{changed}", headers=got)
        assert_problem(reply, 401, "bad_signature")
        outcomes["path-param"] += 1
    # A real request with another method than the one signed: refused, and no channel is created.
    as_get = sign_headers(world.key, "GET", "/api/v1/distributor/channels", b'{"name":"sneaky"}')
    assert_problem(world.a.post("/api/v1/distributor/channels", content=b'{"name":"sneaky"}', headers=as_get), 401, "bad_signature")

    assert sum(outcomes.values()) > 120, outcomes
    reply = world.a.post(f"{path}?{query}", content=body, headers={**good, "Content-Type": "application/json"})
    assert reply.status_code == 201, f"the untouched request must still pass: {reply.text}"


def test_a_replay_is_refused_by_the_same_and_by_another_process(world: World) -> None:
    headers = sign_headers(world.key, "GET", WALLET)
    assert world.a.get(WALLET, headers=headers).status_code == 200
    assert_problem(world.b.get(WALLET, headers=headers), 401, "replayed_nonce")
    assert_problem(world.a.get(WALLET, headers=headers), 401, "replayed_nonce")

    body = _purchase_body(world, f"replay-{uuid.uuid4().hex[:6]}")
    headers = {**sign_headers(world.key, "POST", PURCHASES, body), "Content-Type": "application/json"}
    assert world.b.post(PURCHASES, content=body, headers=headers).status_code == 201
    assert_problem(world.a.post(PURCHASES, content=body, headers=headers), 401, "replayed_nonce")
    ref = json.loads(body)["buyer_ref"]
    assert [o["buyer_ref"] for o in _my_orders(world)].count(ref) == 1


# +330, not +301: a future stamp shrinks while the request travels, so leave room for a slow machine.
@pytest.mark.parametrize("skew", [-301, 330, -3600])
def test_a_timestamp_more_than_300_seconds_off_is_stale(world: World, skew: int) -> None:
    headers = sign_headers(world.key, "GET", WALLET, timestamp=int(time.time()) + skew)
    assert_problem(world.a.get(WALLET, headers=headers), 401, "stale_timestamp")


def test_a_timestamp_inside_the_window_passes(world: World) -> None:
    headers = sign_headers(world.key, "GET", WALLET, timestamp=int(time.time()) - 250)
    assert world.a.get(WALLET, headers=headers).status_code == 200


def test_unknown_and_revoked_keys_are_refused(world: World) -> None:
    assert_problem(world.a.get(WALLET, headers=sign_headers(Key("kr_nope", "x"), "GET", WALLET)), 401, "unknown_key")
    key = new_key(world.deployment, world.who, name="to revoke")
    assert send_signed(world.a, key, "GET", WALLET).status_code == 200
    revoked = world.a.delete(f"/api/v1/distributor/api-keys/{key.key_id}", headers=world.who.bearer)
    assert revoked.status_code == 200, revoked.text
    assert revoked.json()["revoked"] is True
    assert_problem(send_signed(world.b, key, "GET", WALLET), 401, "key_revoked")
    assert_problem(send_signed(world.a, key, "POST", PURCHASES, _purchase_body(world, "revoked")), 401, "key_revoked")


def test_a_key_without_the_scope_gets_403(world: World) -> None:
    reader = new_key(world.deployment, world.who, scopes=("catalog:read",), name="reader")
    assert send_signed(world.a, reader, "GET", "/api/v1/distributor/products").status_code == 200
    assert_problem(send_signed(world.a, reader, "POST", PURCHASES, _purchase_body(world, "no-scope")), 403, "missing_scope")
    writer = new_key(world.deployment, world.who, scopes=("orders:write",), name="writer")
    assert_problem(send_signed(world.a, writer, "GET", "/api/v1/distributor/products"), 403, "missing_scope")
    payout = b'{"amount_minor":2000,"currency":"CNY","payee":"Alipay: x@example.com"}'
    assert_problem(send_signed(world.b, writer, "POST", "/api/v1/distributor/withdrawals", payout), 403, "missing_scope")
    site = b'{"name":"x","host":"evil.example.com"}'
    assert_problem(send_signed(world.a, writer, "PUT", "/api/v1/distributor/me/site", site), 403, "missing_scope")
    assert_problem(send_signed(world.b, writer, "DELETE", f"/api/v1/distributor/api-keys/{reader.key_id}"), 403, "missing_scope")
    assert_problem(send_signed(world.a, reader, "POST", "/api/v1/distributor/purchases", b'{"quantity":'), 403, "missing_scope")
    assert [o["buyer_ref"] for o in _my_orders(world)].count("no-scope") == 0


def test_a_body_changed_under_a_valid_signature_is_refused_before_it_is_parsed(world: World) -> None:
    headers = {**sign_headers(world.key, "POST", PURCHASES, _purchase_body(world, "swap")), "Content-Type": "application/json"}
    assert_problem(world.a.post(PURCHASES, content=b'{"product_id": 1, "quantity":', headers=headers), 401, "bad_signature")


def test_a_key_cannot_make_more_keys(world: World) -> None:
    body = b'{"name":"child","scopes":["catalog:read"]}'
    assert_problem(send_signed(world.a, world.key, "POST", "/api/v1/distributor/api-keys", body), 403, "console_only")


def _my_orders(world: World) -> list[dict[str, Any]]:
    reply = send_signed(world.a, world.key, "GET", "/api/v1/distributor/orders?limit=500")
    assert reply.status_code == 200, reply.text
    result: list[dict[str, Any]] = reply.json()
    return result


def _wallet(world: World) -> int:
    return int(send_signed(world.a, world.key, "GET", WALLET).json()["available_minor"])


def test_twenty_concurrent_copies_make_one_order(world: World) -> None:
    ref, idem = f"idem-{uuid.uuid4().hex[:8]}", str(uuid.uuid4())
    body = _purchase_body(world, ref, quantity=2)
    before = _wallet(world)
    barrier = threading.Barrier(20, timeout=30)

    def attempt(i: int) -> httpx.Response:
        with httpx.Client(base_url=world.deployment.urls[i % 2], timeout=60) as http:
            headers = {**sign_headers(world.key, "POST", PURCHASES, body), "Idempotency-Key": idem, "Content-Type": "application/json"}
            barrier.wait()
            return http.post(PURCHASES, content=body, headers=headers)

    with ThreadPoolExecutor(20) as pool:
        replies = list(pool.map(attempt, range(20)))
    created = [r for r in replies if r.status_code == 201]
    waiting = [r for r in replies if r.status_code == 409]
    assert len(created) + len(waiting) == 20, [(r.status_code, r.text) for r in replies]
    assert created, "at least the first request answers 201"
    for reply in waiting:
        assert_problem(reply, 409, "idempotency_in_progress")
    assert len({r.content for r in created}) == 1, "every 201 carries the same body, byte for byte"
    first = created[0].json()
    assert len(first["keys"]) == 2

    orders = [o for o in _my_orders(world) if o["buyer_ref"] == ref]
    assert [o["number"] for o in orders] == [first["order"]["number"]]
    assert _wallet(world) == before - first["order"]["amount_minor"]

    retry = world.b.post(
        PURCHASES,
        content=body,
        headers={**sign_headers(world.key, "POST", PURCHASES, body), "Idempotency-Key": idem, "Content-Type": "application/json"},
    )
    assert retry.status_code == 201, retry.text
    assert retry.headers["Idempotent-Replayed"] == "true"
    assert retry.content == created[0].content

    other = _purchase_body(world, ref, quantity=1)
    headers = {**sign_headers(world.key, "POST", PURCHASES, other), "Idempotency-Key": idem, "Content-Type": "application/json"}
    assert_problem(world.a.post(PURCHASES, content=other, headers=headers), 422, "idempotency_key_reused")
    assert len([o for o in _my_orders(world) if o["buyer_ref"] == ref]) == 1


def test_stored_responses_keep_no_card_key_in_clear(world: World) -> None:
    """The replayable first answer of a purchase holds its keys: it is sealed by the vault at rest."""
    body = _purchase_body(world, f"sealed-{uuid.uuid4().hex[:6]}")
    headers = {**sign_headers(world.key, "POST", PURCHASES, body), "Idempotency-Key": str(uuid.uuid4()), "Content-Type": "application/json"}
    bought = world.a.post(PURCHASES, content=body, headers=headers)
    assert bought.status_code == 201, bought.text
    secret = bought.json()["keys"][0]
    with psycopg.connect(world.deployment.database_url.replace("postgresql+psycopg://", "postgresql://")) as conn:
        stored = [row[0] for row in conn.execute("SELECT response_body FROM idempotency_records WHERE response_body IS NOT NULL")]
    assert stored
    assert all(secret not in text and "CH-" not in text for text in stored)


def test_a_key_of_another_branch_sees_nothing_of_mine(world: World) -> None:
    """Another level-1 distributor's key: my order and my webhook endpoint answer 404, lists leave them out."""
    admin = world.deployment.admin()
    stranger = new_key(world.deployment, new_distributor(world.deployment, admin))
    mine = send_signed(world.a, world.key, "POST", PURCHASES, _purchase_body(world, "mine-only")).json()["order"]["number"]
    assert_problem(send_signed(world.a, stranger, "GET", f"/api/v1/distributor/orders/{mine}"), 404, "not_found")
    listed = send_signed(world.b, stranger, "GET", "/api/v1/distributor/orders?limit=500")
    assert listed.status_code == 200
    assert mine not in {o["number"] for o in listed.json()}
    hook = send_signed(world.a, world.key, "POST", "/api/v1/distributor/webhooks", b'{"url":"http://127.0.0.1:9/hook"}')
    if hook.status_code == 404:
        return  # a build without webhooks
    assert hook.status_code == 201, hook.text
    endpoint = hook.json()["id"]
    for method, path, body in [
        ("GET", f"/api/v1/distributor/webhooks/{endpoint}", b""),
        ("PATCH", f"/api/v1/distributor/webhooks/{endpoint}", b'{"enabled":false}'),
        ("POST", f"/api/v1/distributor/webhooks/{endpoint}/test", b""),
        ("DELETE", f"/api/v1/distributor/webhooks/{endpoint}", b""),
    ]:
        assert_problem(send_signed(world.a, stranger, method, path, body), 404, "not_found")
    assert endpoint not in {e["id"] for e in send_signed(world.a, stranger, "GET", "/api/v1/distributor/webhooks").json()}


def test_a_repeated_withdrawal_request_locks_the_money_once(world: World) -> None:
    path, idem = "/api/v1/distributor/withdrawals", str(uuid.uuid4())
    body = b'{"amount_minor":2000,"currency":"CNY","payee":"Alipay: shop@example.com"}'
    replies = [send_signed(world.a if i % 2 else world.b, world.key, "POST", path, body, {"Idempotency-Key": idem}) for i in range(3)]
    assert [r.status_code for r in replies] == [201, 201, 201], [r.text for r in replies]
    assert len({r.json()["id"] for r in replies}) == 1
    assert [r.headers.get("Idempotent-Replayed") for r in replies] == [None, "true", "true"]
    mine = send_signed(world.a, world.key, "GET", path).json()
    assert [w["id"] for w in mine].count(replies[0].json()["id"]) == 1
    assert int(send_signed(world.a, world.key, "GET", WALLET).json()["locked_minor"]) == 2000
