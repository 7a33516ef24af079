"""Rate limits on a live server started with low limits: 429 + Retry-After + RateLimit-* headers."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

import httpx
import pytest
from keyrelay_client import Client, RateLimited

from .channel_support import Key, new_distributor, new_key, send_signed
from .harness import Deployment, assert_problem, deployments

pytestmark = pytest.mark.e2e

PER_KEY, PER_IP = 5, 40
WALLET = "/api/v1/distributor/wallet"


@dataclass
class World:
    deployment: Deployment
    http: httpx.Client
    keys: list[Key]


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory, test_secrets: dict[str, str]) -> Iterator[World]:
    limits = {"KEYRELAY_RATE_LIMIT_PER_KEY": f"{PER_KEY}/minute", "KEYRELAY_RATE_LIMIT_PER_IP": f"{PER_IP}/minute"}
    factory = deployments(tmp_path_factory, {**test_secrets, **limits})
    deployment = next(factory)("sqlite")
    admin = deployment.admin()
    who = new_distributor(deployment, admin)
    keys = [new_key(deployment, who, name=f"limited {i}") for i in range(2)]
    yield World(deployment, deployment.client(), keys)
    factory.close()


def test_an_api_key_over_its_limit_gets_429_with_retry_after(world: World) -> None:
    key = world.keys[0]
    for _ in range(PER_KEY):
        reply = send_signed(world.http, key, "GET", WALLET)
        assert reply.status_code == 200, reply.text
        assert int(reply.headers["RateLimit-Limit"]) == PER_IP
        assert int(reply.headers["RateLimit-Remaining"]) >= 0
    over = send_signed(world.http, key, "GET", WALLET)
    assert_problem(over, 429, "rate_limited")
    assert 1 <= int(over.headers["Retry-After"]) <= 60
    for name in ("RateLimit-Limit", "RateLimit-Remaining", "RateLimit-Reset"):
        assert over.headers[name].isdigit(), name
    # The limit is per key: another key of the same distributor still passes.
    assert send_signed(world.http, world.keys[1], "GET", WALLET).status_code == 200


def test_the_client_raises_rate_limited_rather_than_waiting_a_minute(world: World) -> None:
    key = world.keys[0]
    with (
        Client(world.deployment.url, key.key_id, key.secret, max_retries=3, max_retry_after=2) as client,
        pytest.raises(RateLimited) as caught,
    ):
        client.wallet()
    assert caught.value.code == "rate_limited"
    assert caught.value.status == 429
    assert caught.value.retry_after is not None
    assert caught.value.retry_after >= 1


def test_an_address_over_its_limit_gets_429_before_any_check(world: World) -> None:
    replies = [world.http.get("/api/v1/catalog/products") for _ in range(PER_IP + 1)]
    limited = [r for r in replies if r.status_code == 429]
    assert limited, [r.status_code for r in replies]
    body = assert_problem(limited[0], 429, "rate_limited")
    assert "address" in body["detail"]
    assert int(limited[0].headers["Retry-After"]) >= 1
    assert limited[0].headers["RateLimit-Remaining"] == "0"
