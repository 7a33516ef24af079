"""Channel API test helpers: a distributor with money and an API key, and raw signed requests.

The raw signer here is written from the SPEC independently of the client
package, so the e2e tests check the server against the written contract.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
import time
import uuid
from dataclasses import dataclass
from typing import Any

import httpx

from .harness import Admin, Deployment, make_keys

ALL_SCOPES = ("catalog:read", "orders:write", "money:write", "network:manage", "webhooks:manage", "keys:manage")


@dataclass(frozen=True)
class Distributor:
    email: str
    password: str
    user_id: int
    token: str

    @property
    def bearer(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token}"}


@dataclass(frozen=True)
class Key:
    key_id: str
    secret: str


def new_distributor(deployment: Deployment, admin: Admin, *, credit_minor: int = 0) -> Distributor:
    """A level-1 distributor made through the API (operator invite, join, sign in), optionally funded."""
    invite = admin.http.post("/api/v1/admin/invites", json={})
    assert invite.status_code == 201, invite.text
    tag = uuid.uuid4().hex[:8]
    email, password = f"chan-{tag}@example.com", "channel-pass-1"
    body = {"code": invite.json()["code"], "email": email, "password": password, "name": f"Shop {tag}", "slug": f"shop-{tag}"}
    joined = httpx.post(f"{deployment.url}/api/v1/join", json=body)
    assert joined.status_code == 201, joined.text
    login = httpx.post(f"{deployment.url}/api/v1/auth/token", json={"email": email, "password": password})
    assert login.status_code == 200, login.text
    token = login.json()["access_token"]
    me = httpx.get(f"{deployment.url}/api/v1/me/wallet", headers={"Authorization": f"Bearer {token}"})
    assert me.status_code == 200, me.text
    user_id = int(me.json()["user_id"])
    if credit_minor:
        credit = admin.http.post(f"/api/v1/admin/wallets/{user_id}/credit", json={"amount_minor": credit_minor})
        assert credit.status_code == 200, credit.text
    return Distributor(email, password, user_id, token)


def new_key(deployment: Deployment, who: Distributor, scopes: tuple[str, ...] = ALL_SCOPES, name: str = "e2e") -> Key:
    reply = httpx.post(f"{deployment.url}/api/v1/distributor/api-keys", json={"name": name, "scopes": list(scopes)}, headers=who.bearer)
    assert reply.status_code == 201, reply.text
    return Key(reply.json()["key_id"], reply.json()["secret"])


def stocked_product(admin: Admin, count: int, *, price_minor: int = 1000, **fields: Any) -> dict[str, Any]:
    """A card-key product with ``count`` keys (``CH-…``), limits high enough for any test."""
    limits = {"max_per_order": 50, "max_per_contact": 100000, **fields}
    return admin.create_product(keys=make_keys(count, prefix="CH"), price_minor=price_minor, **limits)


def canonical(method: str, path_and_query: str, timestamp: str, nonce: str, body: bytes) -> bytes:
    """SPEC: METHOD\\nPATH?QUERY\\nTIMESTAMP\\nNONCE\\nhex(sha256(BODY))."""
    return b"\n".join(
        [method.encode(), path_and_query.encode(), timestamp.encode(), nonce.encode(), hashlib.sha256(body).hexdigest().encode()]
    )


def sign_headers(
    key: Key, method: str, path_and_query: str, body: bytes = b"", *, timestamp: int | None = None, nonce: str | None = None
) -> dict[str, str]:
    ts = str(int(time.time()) if timestamp is None else timestamp)
    nonce = nonce or secrets.token_hex(16)
    mac = hmac.new(key.secret.encode(), canonical(method, path_and_query, ts, nonce, body), hashlib.sha256).hexdigest()
    return {"X-Key-Id": key.key_id, "X-Timestamp": ts, "X-Nonce": nonce, "X-Signature": mac}


def send_signed(
    http: httpx.Client, key: Key, method: str, path_and_query: str, body: bytes = b"", extra: dict[str, str] | None = None
) -> httpx.Response:
    headers = sign_headers(key, method, path_and_query, body)
    if body:
        headers["Content-Type"] = "application/json"
    return http.request(method, path_and_query, content=body, headers={**headers, **(extra or {})})
