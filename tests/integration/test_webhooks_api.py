"""The webhook endpoints API over HTTP (the real app, both backends): lifecycle, ownership, scopes, idempotency, errors."""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest
from fastapi.testclient import TestClient
from httpx import Response
from standardwebhooks import Webhook
from webhook_receiver import receiver

from keyrelay.app import create_app
from keyrelay.config import Settings
from keyrelay.identity import api_keys
from keyrelay.identity import service as identity
from keyrelay.identity.models import User
from keyrelay.kit.db import Database
from keyrelay.kit.vault import Vault

from .network_factories import fast_passwords, make_chain, make_distributor, make_operator

__all__ = ["fast_passwords"]
pytestmark = pytest.mark.usefixtures("fast_passwords")
BASE = "/api/v1/distributor/webhooks"


@dataclass
class People:
    tokens: dict[str, str]
    user_ids: dict[str, int]

    def auth(self, who: str) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.tokens[who]}"}


def _client(settings: Settings, **overrides: Any) -> TestClient:
    return TestClient(create_app(settings.model_copy(update=overrides)))


@pytest.fixture
def client(settings: Settings, db: Database) -> Iterator[TestClient]:
    """The app with loopback receivers allowed (as the tests' receivers live there)."""
    with _client(settings, webhooks_allow_private=True) as test_client:
        yield test_client


@pytest.fixture
def people(client: TestClient, db: Database) -> People:
    secret = client.app.state.keyrelay.jwt_secret  # type: ignore[attr-defined]
    with db.transaction() as s:
        op = make_operator(s)
        (a1,) = make_chain(s, op.id, 1)
        b1 = make_distributor(s, None, operator_id=op.id)
        users = {"A1": s.get(User, a1.user_id), "B1": s.get(User, b1.user_id), "op": op}
        tokens = {k: identity.issue_token(u, secret=secret, ttl_seconds=600) for k, u in users.items() if u is not None}
        return People(tokens, {k: u.id for k, u in users.items() if u is not None})


def create(client: TestClient, people: People, who: str, url: str, **body: Any) -> Response:
    return client.post(BASE, json={"url": url, **body}, headers=people.auth(who))


def problem(reply: Response, status: int, code: str) -> dict[str, Any]:
    assert reply.status_code == status, reply.text
    assert reply.headers["content-type"].startswith("application/problem+json")
    body: dict[str, Any] = reply.json()
    assert body["code"] == code, body
    return body


def test_endpoint_lifecycle(client: TestClient, people: People) -> None:
    with receiver() as rx:
        made = create(client, people, "A1", rx.url, description="shop sync", events=["order.delivered", "stock.changed"])
        assert made.status_code == 201, made.text
        endpoint = made.json()
        assert endpoint["id"].startswith("ep_")
        assert endpoint["secret"].startswith("whsec_")
        assert (endpoint["enabled"], endpoint["events"], endpoint["description"]) == (
            True,
            ["order.delivered", "stock.changed"],
            "shop sync",
        )
        url = f"{BASE}/{endpoint['id']}"

        listed = client.get(BASE, headers=people.auth("A1")).json()
        assert [e["id"] for e in listed] == [endpoint["id"]]
        assert "secret" not in listed[0]
        assert "secret" not in client.get(url, headers=people.auth("A1")).json()

        patched = client.patch(url, json={"events": [], "enabled": False}, headers=people.auth("A1")).json()
        assert (patched["events"], patched["enabled"], patched["disabled_reason"]) == ([], False, "by_owner")
        problem(client.post(f"{url}/test", headers=people.auth("A1")), 409, "webhook_endpoint_disabled")
        assert client.patch(url, json={"enabled": True}, headers=people.auth("A1")).json()["disabled_reason"] == ""

        rotated = client.post(f"{url}/rotate-secret", headers=people.auth("A1"))
        assert rotated.status_code == 200, rotated.text
        new_secret = rotated.json()["secret"]
        assert new_secret != endpoint["secret"]
        assert rotated.json()["previous_secret_expires_at"] is not None

        tested = client.post(f"{url}/test", headers=people.auth("A1"))
        assert tested.status_code == 201, tested.text
        delivery = tested.json()
        assert (delivery["event_type"], delivery["status"], delivery["attempt_count"]) == ("webhook.test", "succeeded", 1)
        assert delivery["attempts"][0]["status_code"] == 200
        (got,) = rx.wait_for(1)
        assert Webhook(new_secret).verify(got.body, got.headers)["type"] == "webhook.test"
        assert got.headers["webhook-id"] == delivery["event_id"]

        log = client.get(f"{url}/deliveries", headers=people.auth("A1"))
        assert [d["id"] for d in log.json()] == [delivery["id"]]
        assert log.json()[0]["attempts"][0]["response_excerpt"] == "ok"
        assert client.get(f"{url}/deliveries", params={"status": "dead"}, headers=people.auth("A1")).json() == []

        again = client.post(f"{BASE}/deliveries/{delivery['id']}/redeliver", headers=people.auth("A1"))
        assert again.status_code == 202, again.text
        assert (again.json()["status"], again.json()["attempt_count"]) == ("pending", 1)

        assert client.delete(url, headers=people.auth("A1")).status_code == 204
        problem(client.get(url, headers=people.auth("A1")), 404, "not_found")
        assert client.get(BASE, headers=people.auth("A1")).json() == []


def test_create_is_idempotent(client: TestClient, people: People) -> None:
    headers = {**people.auth("A1"), "Idempotency-Key": uuid.uuid4().hex}
    body = {"url": "http://127.0.0.1:9/hook"}
    first = client.post(BASE, json=body, headers=headers)
    second = client.post(BASE, json=body, headers=headers)
    assert (first.status_code, second.status_code) == (201, 201)
    assert second.headers["Idempotent-Replayed"] == "true"
    assert second.json() == first.json()
    assert len(client.get(BASE, headers=people.auth("A1")).json()) == 1
    problem(client.post(BASE, json={"url": "http://127.0.0.1:10/hook"}, headers=headers), 422, "idempotency_key_reused")


def test_objects_of_other_accounts_answer_404(client: TestClient, people: People) -> None:
    theirs = create(client, people, "B1", "http://127.0.0.1:9/hook").json()
    delivery = client.post(f"{BASE}/{theirs['id']}/test", headers=people.auth("B1")).json()
    url = f"{BASE}/{theirs['id']}"
    attempts = [
        ("GET", url, None),
        ("PATCH", url, {"enabled": False}),
        ("DELETE", url, None),
        ("POST", f"{url}/rotate-secret", None),
        ("POST", f"{url}/test", None),
        ("GET", f"{url}/deliveries", None),
        ("POST", f"{BASE}/deliveries/{delivery['id']}/redeliver", None),
    ]
    for method, path, body in attempts:
        problem(client.request(method, path, json=body, headers=people.auth("A1")), 404, "not_found")
    assert client.get(BASE, headers=people.auth("A1")).json() == []
    still = client.get(url, headers=people.auth("B1")).json()
    assert still["enabled"] is True
    problem(client.get(BASE, headers=people.auth("op")), 404, "not_found")  # not a distributor: nothing here
    problem(client.get(BASE), 401, "unauthorized")


def signed(client: TestClient, key: api_keys.NewKey, method: str, path: str, body: dict[str, Any] | None = None) -> Response:
    raw = json.dumps(body).encode() if body is not None else b""
    stamp, nonce = str(int(time.time())), uuid.uuid4().hex
    signature = api_keys.sign(key.secret, api_keys.canonical_request(method, path, stamp, nonce, raw))
    headers = {"X-Key-Id": key.key.key_id, "X-Timestamp": stamp, "X-Nonce": nonce, "X-Signature": signature}
    if body is not None:
        headers["content-type"] = "application/json"
    return client.request(method, path, content=raw, headers=headers)


def test_api_keys_need_the_webhooks_manage_scope(client: TestClient, people: People, db: Database, vault: Vault) -> None:
    with db.transaction() as s:
        user_id = people.user_ids["A1"]
        without = api_keys.create(s, user_id=user_id, name="sync", scopes=["catalog:read", "orders:write"], vault=vault)
        with_scope = api_keys.create(s, user_id=user_id, name="hooks", scopes=["webhooks:manage"], vault=vault)
    problem(signed(client, without, "GET", BASE), 403, "missing_scope")
    problem(signed(client, without, "POST", BASE, {"url": "http://127.0.0.1:9/hook"}), 403, "missing_scope")
    made = signed(client, with_scope, "POST", BASE, {"url": "http://127.0.0.1:9/hook"})
    assert made.status_code == 201, made.text
    listed = signed(client, with_scope, "GET", BASE)
    assert [e["id"] for e in listed.json()] == [made.json()["id"]]
    problem(signed(client, without, "GET", f"{BASE}/{made.json()['id']}/deliveries"), 403, "missing_scope")


def test_bad_input_is_problem_json(settings: Settings, db: Database, people: People) -> None:
    with _client(settings) as strict:  # the default: private addresses refused
        for url in ("http://127.0.0.1:8080/hook", "http://169.254.169.254/", "ftp://93.184.216.34/"):
            body = problem(strict.post(BASE, json={"url": url}, headers=people.auth("A1")), 422, "webhook_url_forbidden")
            assert body["errors"][0]["field"] == "url"
            assert body["reason"] in ("private_address", "scheme")
        problem(
            strict.post(BASE, json={"url": "https://93.184.216.34/", "events": ["order.exploded"]}, headers=people.auth("A1")),
            422,
            "validation_failed",
        )
        problem(
            strict.post(BASE, json={"url": "https://93.184.216.34/", "secret": "mine"}, headers=people.auth("A1")), 422, "validation_failed"
        )
        made = strict.post(BASE, json={"url": "https://93.184.216.34/hook"}, headers=people.auth("A1"))
        assert made.status_code == 201, made.text
        patched = strict.patch(f"{BASE}/{made.json()['id']}", json={"url": "http://10.0.0.1/"}, headers=people.auth("A1"))
        problem(patched, 422, "webhook_url_forbidden")
        problem(strict.post(f"{BASE}/deliveries/999999/redeliver", headers=people.auth("A1")), 404, "not_found")
        problem(strict.post(f"{BASE}/deliveries/{2**64}/redeliver", headers=people.auth("A1")), 422, "validation_failed")
        log = strict.get(f"{BASE}/{made.json()['id']}/deliveries", params={"before_id": 2**64}, headers=people.auth("A1"))
        problem(log, 422, "validation_failed")
