"""API keys and webhooks in the distributor console, over HTTP on both backends.

Secrets are shown once (no-store) and work; another distributor's key, endpoint
or delivery is "not found" and stays as it was; bad input names its field and
changes nothing; a form without the session's CSRF token is refused.
"""

from __future__ import annotations

import re
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass

import pytest
from factories import PASSWORD
from fastapi.testclient import TestClient
from httpx import Response
from sqlalchemy import select
from standardwebhooks import Webhook
from webhook_receiver import receiver

from keyrelay.app import create_app
from keyrelay.config import Settings
from keyrelay.distribution import channels, network
from keyrelay.identity import api_keys
from keyrelay.kit.db import Database
from keyrelay.webhooks import service as webhooks
from keyrelay.webhooks.models import WebhookDelivery, WebhookEndpoint

from .network_factories import fast_passwords, make_distributor, make_operator
from .support import count

__all__ = ["fast_passwords"]
pytestmark = pytest.mark.usefixtures("fast_passwords")
CSRF = re.compile(r'name="csrf" value="([0-9a-f]{32})"')
SECRET = re.compile(r'data-testid="secret">([^<]+)</code>')


@dataclass(frozen=True)
class Shop:
    email: str
    user_id: int
    distributor_id: int


@dataclass(frozen=True)
class People:
    ann: Shop
    bob: Shop


@pytest.fixture
def people(db: Database) -> People:
    """Two level-1 distributors in separate branches."""
    with db.transaction() as session:
        operator_id = make_operator(session).id
        shops = []
        for _ in range(2):
            email = f"{uuid.uuid4().hex[:10]}@example.com"
            made = make_distributor(session, None, operator_id=operator_id, email=email)
            shops.append(Shop(email, made.user_id, made.id))
    return People(*shops)


def _client(settings: Settings, **overrides: object) -> TestClient:
    return TestClient(create_app(settings.model_copy(update=overrides)))


@pytest.fixture
def client(settings: Settings, db: Database) -> Iterator[TestClient]:
    """The app with loopback receivers allowed, as the test receivers live there."""
    with _client(settings, webhooks_allow_private=True) as test_client:
        yield test_client


def sign_in(client: TestClient, shop: Shop) -> str:
    """A fresh session for ``shop``; returns the CSRF token its forms carry."""
    client.cookies.clear()
    reply = client.post("/distributor/login", data={"email": shop.email, "password": PASSWORD})
    assert reply.status_code == 200, reply.text
    found = CSRF.search(reply.text)
    assert found
    return found.group(1)


def secret_of(reply: Response, prefix: str) -> str:
    assert reply.status_code == 200, reply.text
    assert reply.headers["cache-control"] == "no-store"
    found = SECRET.search(reply.text)
    assert found
    assert found.group(1).startswith(prefix)
    assert found.group(1) not in str(reply.url)
    return found.group(1)


def signed_get(client: TestClient, key_id: str, secret: str, path: str) -> Response:
    stamp, nonce = str(int(time.time())), uuid.uuid4().hex
    signature = api_keys.sign(secret, api_keys.canonical_request("GET", path, stamp, nonce, b""))
    reply: Response = client.get(path, headers={"X-Key-Id": key_id, "X-Timestamp": stamp, "X-Nonce": nonce, "X-Signature": signature})
    return reply


def keys_of(db: Database, user_id: int) -> list[api_keys.ApiKey]:
    with db.transaction(write=False) as session:
        return api_keys.list_for(session, user_id)


def test_a_key_made_in_the_console_signs_requests_until_revoked(client: TestClient, db: Database, people: People) -> None:
    csrf = sign_in(client, people.ann)
    with db.transaction() as session:
        channel = channels.create(session, network.get(session, people.ann.distributor_id), name="Taobao", kind="taobao")
        channel_id = channel.id
    made = client.post(
        "/distributor/api-keys",
        data={"csrf": csrf, "name": "Taobao tool", "scopes": ["catalog:read", "orders:write"], "channel_id": channel_id},
    )
    secret = secret_of(made, "krsk_")
    (key,) = keys_of(db, people.ann.user_id)
    assert (key.name, key.scopes, key.channel_id, key.revoked) == ("Taobao tool", "catalog:read orders:write", channel_id, False)
    assert key.key_id in made.text
    listing = client.get("/distributor/api-keys")
    assert key.key_id in listing.text
    assert secret not in listing.text

    me = signed_get(client, key.key_id, secret, "/api/v1/distributor/me")
    assert me.status_code == 200, me.text
    assert me.json()["id"] == people.ann.distributor_id
    assert keys_of(db, people.ann.user_id)[0].last_used_at is not None

    bob_csrf = sign_in(client, people.bob)
    refused = client.post(f"/distributor/api-keys/{key.key_id}/revoke", data={"csrf": bob_csrf})
    assert refused.status_code == 404
    assert not keys_of(db, people.ann.user_id)[0].revoked

    csrf = sign_in(client, people.ann)
    assert client.post(f"/distributor/api-keys/{key.key_id}/revoke", data={}).status_code == 403
    assert not keys_of(db, people.ann.user_id)[0].revoked
    revoked = client.post(f"/distributor/api-keys/{key.key_id}/revoke", data={"csrf": csrf}, follow_redirects=False)
    assert (revoked.status_code, revoked.headers["location"]) == (303, "/distributor/api-keys?done=key_revoked")
    assert keys_of(db, people.ann.user_id)[0].revoked
    after = signed_get(client, key.key_id, secret, "/api/v1/distributor/me")
    assert (after.status_code, after.json()["code"]) == (401, "key_revoked")


def test_bad_key_forms_name_the_field_and_change_nothing(client: TestClient, db: Database, people: People) -> None:
    with db.transaction() as session:
        theirs = channels.create(session, network.get(session, people.bob.distributor_id), name="Bot", kind="telegram").id
    csrf = sign_in(client, people.ann)
    empty = client.post("/distributor/api-keys", data={"csrf": csrf, "name": "  "})
    assert empty.status_code == 422
    assert 'data-testid="error-name"' in empty.text
    assert 'data-testid="error-scopes"' in empty.text
    assert "Give the key a name" in empty.text
    assert "Choose at least one scope." in empty.text
    foreign = client.post("/distributor/api-keys", data={"csrf": csrf, "name": "x", "scopes": "catalog:read", "channel_id": theirs})
    assert foreign.status_code == 404
    assert 'data-testid="error-channel_id"' in foreign.text
    forged = client.post("/distributor/api-keys", data={"csrf": "0" * 32, "name": "x", "scopes": "catalog:read"})
    assert forged.status_code == 403
    assert keys_of(db, people.ann.user_id) == []


def test_private_webhook_urls_are_refused_unless_allowed(settings: Settings, db: Database, people: People) -> None:
    with _client(settings) as strict:
        csrf = sign_in(strict, people.ann)
        for url in ("http://127.0.0.1:9/hook", "http://localhost/hook", "http://169.254.169.254/"):
            reply = strict.post("/distributor/webhooks", data={"csrf": csrf, "url": url, "events": "order.delivered"})
            assert reply.status_code == 422, url
            assert 'data-testid="error-url"' in reply.text
            assert "private, loopback or reserved" in reply.text
        empty = strict.post("/distributor/webhooks", data={"csrf": csrf, "url": ""})
        assert empty.status_code == 422
        assert "Enter the address that receives the events." in empty.text
    assert count(db, WebhookEndpoint) == 0
    with _client(settings, webhooks_allow_private=True) as lenient:
        csrf = sign_in(lenient, people.ann)
        secret_of(lenient.post("/distributor/webhooks", data={"csrf": csrf, "url": "http://127.0.0.1:9/hook"}), "whsec_")
    assert count(db, WebhookEndpoint) == 1


def _endpoint(db: Database, user_id: int) -> WebhookEndpoint:
    with db.transaction(write=False) as session:
        (endpoint,) = webhooks.list_endpoints(session, user_id)
        return endpoint


def _delivery(db: Database, delivery_id: int) -> WebhookDelivery:
    with db.transaction(write=False) as session:
        found = session.get(WebhookDelivery, delivery_id)
        assert found is not None
        return found


def test_webhook_endpoint_lifecycle_in_the_console(client: TestClient, db: Database, people: People) -> None:
    csrf = sign_in(client, people.ann)
    with receiver() as rx:
        made = client.post(
            "/distributor/webhooks", data={"csrf": csrf, "url": "http://127.0.0.1:9/old", "description": "bot", "events": ["stock.low"]}
        )
        first_secret = secret_of(made, "whsec_")
        endpoint = _endpoint(db, people.ann.user_id)
        page = f"/distributor/webhooks/{endpoint.public_id}"
        assert (endpoint.url, endpoint.event_types, endpoint.description) == ("http://127.0.0.1:9/old", ["stock.low"], "bot")

        form = {"url": rx.url, "description": "order bot", "events": ["order.delivered", "stock.changed"], "enabled": "on"}
        assert client.post(page, data=form).status_code == 403  # no CSRF token: refused, unchanged
        assert _endpoint(db, people.ann.user_id).url == "http://127.0.0.1:9/old"
        bad = client.post(page, data={**form, "csrf": csrf, "url": "gopher://example.com/"})
        assert bad.status_code == 422
        assert 'data-testid="error-url"' in bad.text
        saved = client.post(page, data={**form, "csrf": csrf}, follow_redirects=False)
        assert (saved.status_code, saved.headers["location"]) == (303, f"{page}?done=saved")
        endpoint = _endpoint(db, people.ann.user_id)
        assert (endpoint.url, endpoint.event_types, endpoint.description, endpoint.enabled) == (
            rx.url,
            ["order.delivered", "stock.changed"],
            "order bot",
            True,
        )

        rotated = secret_of(client.post(f"{page}/rotate-secret", data={"csrf": csrf}), "whsec_")
        assert rotated != first_secret
        tested = client.post(f"{page}/test", data={"csrf": csrf})
        assert tested.status_code == 200
        assert "Test event sent" in tested.text
        (got,) = rx.wait_for(1)
        assert Webhook(rotated).verify(got.body, got.headers)["type"] == "webhook.test"
        with db.transaction(write=False) as session:
            (log,) = webhooks.list_deliveries(session, user_id=people.ann.user_id, public_id=endpoint.public_id)
        delivery_id = log.delivery.id
        assert (log.delivery.status, [a.status_code for a in log.attempts]) == ("succeeded", [200])
        assert f'data-testid="delivery-{delivery_id}"' in tested.text
        assert "webhook.test" in tested.text
        assert ">200<" in tested.text

        bob_csrf = sign_in(client, people.bob)
        assert client.get(page).status_code == 404
        assert client.post(f"/distributor/webhooks/deliveries/{delivery_id}/redeliver", data={"csrf": bob_csrf}).status_code == 404
        assert client.post(f"{page}/delete", data={"csrf": bob_csrf}).status_code == 404
        assert _delivery(db, delivery_id).status == "succeeded"

        csrf = sign_in(client, people.ann)
        again = client.post(f"/distributor/webhooks/deliveries/{delivery_id}/redeliver", data={"csrf": csrf}, follow_redirects=False)
        assert (again.status_code, again.headers["location"]) == (303, f"{page}?done=hook_redelivered#d{delivery_id}")
        reset = _delivery(db, delivery_id)
        assert (reset.status, reset.retry_step, reset.attempts, reset.next_attempt_at is not None) == ("pending", 0, 1, True)

        client.post(page, data={**form, "csrf": csrf, "enabled": ""})
        assert _endpoint(db, people.ann.user_id).disabled_reason == "by_owner"
        off = client.post(f"{page}/test", data={"csrf": csrf})
        assert off.status_code == 409
        assert "switched off" in off.text

        gone = client.post(f"{page}/delete", data={"csrf": csrf}, follow_redirects=False)
        assert (gone.status_code, gone.headers["location"]) == (303, "/distributor/webhooks?done=hook_deleted")
    assert count(db, WebhookEndpoint) == 0
    assert count(db, WebhookDelivery) == 0


def test_the_form_offers_every_scope_and_a_key_gets_exactly_those_ticked(client: TestClient, db: Database, people: People) -> None:
    csrf = sign_in(client, people.ann)
    page = client.get("/distributor/api-keys").text
    for scope in api_keys.SCOPES:
        assert f'name="scopes" value="{scope}"' in page, scope
    made = client.post("/distributor/api-keys", data={"csrf": csrf, "name": "payouts", "scopes": ["money:write", "keys:manage"]})
    secret = secret_of(made, "krsk_")
    (key,) = keys_of(db, people.ann.user_id)
    assert key.scopes == "keys:manage money:write"
    assert signed_get(client, key.key_id, secret, "/api/v1/distributor/api-keys").status_code == 200
    assert signed_get(client, key.key_id, secret, "/api/v1/distributor/wallet").json()["code"] == "missing_scope"
    client.cookies.set("lang", "zh_CN")
    chinese = client.get("/distributor/api-keys").text
    for label in ("申请提现", "修改分站设置、零售价、下级拿货价、邀请和渠道", "查看和吊销 API 密钥", "密钥只能做勾选的事"):
        assert label in chinese, label


def test_the_pages_speak_chinese(client: TestClient, db: Database, people: People) -> None:
    csrf = sign_in(client, people.ann)
    client.cookies.set("lang", "zh_CN")
    secret_of(client.post("/distributor/webhooks", data={"csrf": csrf, "url": "http://127.0.0.1:9/hook"}), "whsec_")
    with db.transaction() as session:
        endpoint = session.scalars(select(WebhookEndpoint)).one()
        webhooks.send_test(session, user_id=people.ann.user_id, public_id=endpoint.public_id, actor="test")
    for path, words in (
        ("/distributor/api-keys", ("API 密钥", "权限范围", "如何签名请求")),
        ("/distributor/webhooks", ("Webhook 端点", "新建端点")),
        (f"/distributor/webhooks/{endpoint.public_id}", ("投递记录", "重新投递", "轮换密钥", "发送测试事件")),
    ):
        page = client.get(path)
        assert page.status_code == 200
        for word in words:
            assert word in page.text, (path, word)
    refused = client.post("/distributor/api-keys", data={"csrf": csrf, "name": ""})
    assert "请至少选择一个权限范围。" in refused.text
