"""Redis in front of the nonce table: a replay seen by any process is refused without a database round trip.

Real Redis (127.0.0.1:6379, started by ``scripts/services.sh``), two app
instances standing for two server processes, one database. The database stays
the source of truth: with Redis unreachable, replays are still refused.
"""

from __future__ import annotations

import socket
import time
import uuid
from typing import Any

import pytest
import redis
from fastapi.testclient import TestClient

from keyrelay.app import create_app
from keyrelay.config import Settings
from keyrelay.identity import api_keys
from keyrelay.kit.db import Database
from keyrelay.ledger.models import Withdrawal
from keyrelay.web.nonces import RedisNonces

from .network_factories import fast_passwords, make_distributor, make_operator, top_up
from .support import count, statements_during

pytestmark = pytest.mark.usefixtures("fast_passwords")
REDIS = "redis://127.0.0.1:6379/0"
PAYOUTS = "/api/v1/distributor/withdrawals"
__all__ = ["fast_passwords"]


@pytest.fixture(scope="module")
def redis_up() -> None:
    try:
        redis.Redis.from_url(REDIS, socket_timeout=1).ping()
    except redis.RedisError as exc:  # scripts/services.sh starts it; CI without it must say so, not pass
        pytest.fail(f"Redis is not running at {REDIS}: {exc}")


def _app(settings: Settings, redis_url: str) -> TestClient:
    lifted = {"rate_limit_per_ip": "100000/minute", "rate_limit_per_key": "100000/minute", "redis_url": redis_url}
    return TestClient(create_app(settings.model_copy(update=lifted)))


def _payout(client: TestClient, key: api_keys.NewKey, body: bytes, nonce: str, stamp: str) -> Any:
    signature = api_keys.sign(key.secret, api_keys.canonical_request("POST", PAYOUTS, stamp, nonce, body))
    headers = {"X-Key-Id": key.key.key_id, "X-Timestamp": stamp, "X-Nonce": nonce, "X-Signature": signature}
    return client.post(PAYOUTS, content=body, headers={**headers, "content-type": "application/json", "Idempotency-Key": uuid.uuid4().hex})


def _known(client: TestClient, key: api_keys.NewKey) -> None:
    """One signed read, so this process knows the key (its payouts then defer the nonce)."""
    stamp, nonce = str(int(time.time())), uuid.uuid4().hex
    path = "/api/v1/distributor/wallet"
    signature = api_keys.sign(key.secret, api_keys.canonical_request("GET", path, stamp, nonce, b""))
    reply = client.get(path, headers={"X-Key-Id": key.key.key_id, "X-Timestamp": stamp, "X-Nonce": nonce, "X-Signature": signature})
    assert reply.status_code == 200, reply.text


def _shop_with_key(db: Database, settings: Settings) -> api_keys.NewKey:
    with db.transaction() as s:
        shop = make_distributor(s, None, operator_id=make_operator(s).id)
        top_up(s, shop.user_id, 1_000_000)
        return api_keys.create(s, user_id=shop.user_id, name="nonces", scopes=["money:write", "catalog:read"], vault=settings.vault)


@pytest.mark.usefixtures("redis_up")
def test_a_replay_another_process_saw_is_refused_before_the_database(db: Database, settings: Settings) -> None:
    key = _shop_with_key(db, settings)
    with _app(settings, REDIS) as a, _app(settings, REDIS) as b:
        _known(a, key)
        _known(b, key)
        body, nonce, stamp = b'{"amount_minor": 1000, "payee": "bank"}', uuid.uuid4().hex, str(int(time.time()))
        assert _payout(a, key, body, nonce, stamp).status_code == 201
        with statements_during(b.app.state.keyrelay.db) as sent:  # type: ignore[attr-defined]
            replay = _payout(b, key, body, nonce, stamp)
        assert (replay.status_code, replay.json()["code"]) == (401, "replayed_nonce"), replay.text
        assert sent == [], "refused by Redis: not one statement"
    assert count(db, Withdrawal) == 1


def _closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def test_with_redis_unreachable_the_database_still_refuses_replays(db: Database, settings: Settings) -> None:
    key = _shop_with_key(db, settings)
    with _app(settings, "") as a:  # the rate limits in memory; only the nonce cache points at a dead Redis
        a.app.state.keyrelay.seen_nonces = RedisNonces(f"redis://127.0.0.1:{_closed_port()}/0")  # type: ignore[attr-defined]
        _known(a, key)
        body, nonce, stamp = b'{"amount_minor": 1000, "payee": "bank"}', uuid.uuid4().hex, str(int(time.time()))
        assert _payout(a, key, body, nonce, stamp).status_code == 201
        replay = _payout(a, key, body, nonce, stamp)
        assert (replay.status_code, replay.json()["code"]) == (401, "replayed_nonce"), replay.text
    assert count(db, Withdrawal) == 1


def test_with_redis_unreachable_the_rate_limits_let_requests_through(db: Database, settings: Settings) -> None:
    """Fail open: the limits protect capacity, the database guards nonces and money; a lost Redis is not a 500."""
    key = _shop_with_key(db, settings)
    with _app(settings, f"redis://127.0.0.1:{_closed_port()}/0") as a:
        a.app.state.keyrelay.seen_nonces = RedisNonces(f"redis://127.0.0.1:{_closed_port()}/0")  # type: ignore[attr-defined]
        _known(a, key)
        body, nonce, stamp = b'{"amount_minor": 1000, "payee": "bank"}', uuid.uuid4().hex, str(int(time.time()))
        assert _payout(a, key, body, nonce, stamp).status_code == 201
        assert _payout(a, key, body, nonce, stamp).json()["code"] == "replayed_nonce"
