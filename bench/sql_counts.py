"""Count the SQL statements and transactions of the hot paths, through the real HTTP app in-process.

    .venv/bin/python bench/sql_counts.py --backend both

Measured per request (the worker is not running, so nothing else touches the
database): one signed wholesale purchase (``POST /api/v1/distributor/purchases``,
quantity 1, paid from balance) and one guest order (``POST /api/v1/orders``)
followed by its gateway notification (``POST /api/v1/payments/sandbox/notify``).
Counts are exact and repeatable, unlike timings on a shared machine: they are
the figure to compare before and after a change to the order path.
"""

from __future__ import annotations

import argparse
import hashlib
import hmac
import json
import secrets
import tempfile
import time
import uuid
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import psycopg
from fastapi.testclient import TestClient
from sqlalchemy import event
from sqlalchemy.engine import Engine

from keyrelay.app import create_app
from keyrelay.config import Settings
from keyrelay.kit.migrate import upgrade
from keyrelay.kit.vault import format_vault_keys, generate_vault_key

PG_ADMIN = "postgresql://postgres@127.0.0.1:5432/test"


@dataclass
class Tally:
    statements: Counter[str] = field(default_factory=Counter)
    transactions: int = 0

    @property
    def total(self) -> int:
        return sum(self.statements.values())


@contextmanager
def counting(engines: list[Engine]) -> Iterator[Tally]:
    tally = Tally()

    def on_statement(_conn: Any, _cursor: Any, statement: str, *_args: Any) -> None:
        tally.statements[statement.split(None, 1)[0].upper()] += 1

    def on_begin(_conn: Any) -> None:
        tally.transactions += 1

    for engine in engines:
        event.listen(engine, "before_cursor_execute", on_statement)
        event.listen(engine, "begin", on_begin)
    try:
        yield tally
    finally:
        for engine in engines:
            event.remove(engine, "before_cursor_execute", on_statement)
            event.remove(engine, "begin", on_begin)


def signed(secret: str, key_id: str, method: str, path: str, body: bytes) -> dict[str, str]:
    ts, nonce = str(int(time.time())), secrets.token_hex(16)
    message = "\n".join([method, path, ts, nonce, hashlib.sha256(body).hexdigest()]).encode()
    sig = hmac.new(secret.encode(), message, hashlib.sha256).hexdigest()
    return {"X-Key-Id": key_id, "X-Timestamp": ts, "X-Nonce": nonce, "X-Signature": sig, "Content-Type": "application/json"}


def setup(http: TestClient, admin: dict[str, str]) -> tuple[int, str, str, dict[str, str]]:
    """A product with keys and a funded level-1 distributor with a key; returns (product, key id, secret, bearer headers)."""
    tag = uuid.uuid4().hex[:8]
    category = http.post("/api/v1/admin/categories", json={"name": f"B {tag}", "slug": f"b-{tag}"}, headers=admin).json()
    product = http.post(
        "/api/v1/admin/products",
        json={"category_id": category["id"], "name": f"B {tag}", "slug": f"b-{tag}", "price_minor": 1000, "max_per_contact": 0},
        headers=admin,
    ).json()
    text = "\n".join(f"SQLC-{tag}-{i:05d}" for i in range(50))
    assert http.post(f"/api/v1/admin/products/{product['id']}/keys", json={"text": text}, headers=admin).status_code in (200, 201)
    code = http.post("/api/v1/admin/invites", json={}, headers=admin).json()["code"]
    email, password = f"d-{tag}@example.com", "bench-pass-1"
    joined = http.post("/api/v1/join", json={"code": code, "email": email, "password": password, "name": "B", "slug": f"d-{tag}"})
    assert joined.status_code == 201, joined.text
    token = http.post("/api/v1/auth/token", json={"email": email, "password": password}).json()["access_token"]
    bearer = {"Authorization": f"Bearer {token}"}
    user_id = http.get("/api/v1/me/wallet", headers=bearer).json()["user_id"]
    assert http.post(f"/api/v1/admin/wallets/{user_id}/credit", json={"amount_minor": 10**7}, headers=admin).status_code == 200
    all_scopes = http.get("/openapi.json").json()  # the key gets every scope the server knows
    scopes = _scopes_from(all_scopes)
    made = http.post("/api/v1/distributor/api-keys", json={"name": "bench", "scopes": scopes}, headers=bearer)
    assert made.status_code == 201, made.text
    return int(product["id"]), made.json()["key_id"], made.json()["secret"], bearer


def _scopes_from(openapi: dict[str, Any]) -> list[str]:
    schemas = openapi.get("components", {}).get("schemas", {})
    items = schemas.get("ApiKeyIn", {}).get("properties", {}).get("scopes", {}).get("items", {})
    enum = items.get("enum") or schemas.get(items.get("$ref", "#/x").rsplit("/", 1)[-1], {}).get("enum")
    return list(enum or ["catalog:read", "orders:write"])


def measure(url: str, label: str) -> None:
    upgrade(url)
    with tempfile.TemporaryDirectory() as tmp:
        settings = Settings(
            database_url=url,
            data_dir=Path(tmp),
            vault_keys=format_vault_keys([generate_vault_key("b1")]),
            secret_key=secrets.token_hex(32),
            rate_limit_per_ip="1000000/minute",  # the timed reads must not be throttled
            rate_limit_per_key="1000000/minute",
            _env_file=None,  # type: ignore[call-arg]
        )
        app = create_app(settings)
        state = app.state.keyrelay
        engines = [state.db.engine] + ([state.db.write_engine] if state.db.write_engine is not state.db.engine else [])
        from keyrelay.identity import service as identity

        with state.db.transaction() as session:
            identity.create_user(session, email="ops@example.com", password="ops-pass-123", role="operator")
        with TestClient(app) as http:
            tok = http.post("/api/v1/auth/token", json={"email": "ops@example.com", "password": "ops-pass-123"}).json()["access_token"]
            product_id, key_id, secret, bearer = setup(http, {"Authorization": f"Bearer {tok}"})
            path = "/api/v1/distributor/purchases"
            for n in range(3):  # the first call warms caches (channel creation, accounts); report the steady state
                body = json.dumps({"product_id": product_id, "quantity": 1}).encode()
                headers = signed(secret, key_id, "POST", path, body) | {"Idempotency-Key": uuid.uuid4().hex}
                with counting(engines) as purchase:
                    reply = http.post(path, content=body, headers=headers)
                assert reply.status_code == 201, reply.text
                body = json.dumps({"product_id": product_id, "quantity": 1, "contact": f"g{n}@example.com"}).encode()
                with counting(engines) as guest:
                    placed = http.post("/api/v1/orders", content=body, headers={"Content-Type": "application/json"})
                assert placed.status_code == 201, placed.text
                number = placed.json()["order"]["number"]
                params = _sandbox_notification(app, number)
                with counting(engines) as notify:
                    paid = http.post("/api/v1/payments/sandbox/notify", data=params)
                assert paid.text == "success", paid.text
            reads = _signed_read(http, engines, key_id, secret, bearer)
        print(f"{label} run {n + 1}")
        for name, tally in (("signed wholesale purchase", purchase), ("guest order", guest), ("sandbox notify", notify), *reads[:2]):
            kinds = ", ".join(f"{k} {v}" for k, v in sorted(tally.statements.items()))
            print(f"  {name:28s} {tally.total:3d} statements, {tally.transactions} transaction(s)  [{kinds}]")
        print(f"  GET /distributor/wallet, median of {READS} in-process: {reads[2]}")


READS = 300
WALLET = "/api/v1/distributor/wallet"


def _signed_read(http: TestClient, engines: list[Engine], key_id: str, secret: str, bearer: dict[str, str]) -> Any:
    """One wallet read signed and one with a bearer token (counted), then the median time of each.

    The difference is the signed request's own nonce transaction (``web/auth.py``: it stays outside
    the request's unit of work so a spent nonce stays spent when the work fails).
    """
    with counting(engines) as signed_read:
        assert http.get(WALLET, headers=signed(secret, key_id, "GET", WALLET, b"")).status_code == 200
    with counting(engines) as bearer_read:
        assert http.get(WALLET, headers=bearer).status_code == 200
    timings: dict[str, list[float]] = {"signed": [], "bearer": []}
    for _ in range(READS):
        for kind in timings:
            headers = signed(secret, key_id, "GET", WALLET, b"") if kind == "signed" else bearer
            start = time.perf_counter()
            assert http.get(WALLET, headers=headers).status_code == 200
            timings[kind].append(time.perf_counter() - start)
    medians = ", ".join(f"{kind} {sorted(t)[len(t) // 2] * 1000:.2f} ms" for kind, t in timings.items())
    return ("signed wallet read", signed_read), ("bearer wallet read", bearer_read), medians


def _sandbox_notification(app: Any, number: str) -> dict[str, str]:
    state = app.state.keyrelay
    from keyrelay.orders import service as orders

    with state.db.transaction(write=False) as session:
        order = orders.get_by_number(session, number)
        amount, currency = order.amount_minor, order.currency
    sandbox = state.providers.gateway("sandbox")
    params = {
        "order_no": number,
        "trade_no": f"SBX{secrets.token_hex(8)}",
        "amount": str(amount),
        "currency": currency,
        "status": "paid",
        "timestamp": str(int(time.time())),
    }
    params["sign"] = sandbox.sign(params)
    return params


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--backend", choices=["sqlite", "postgresql", "both"], default="both")
    args = parser.parse_args()
    if args.backend in ("sqlite", "both"):
        with tempfile.TemporaryDirectory() as tmp:
            measure(f"sqlite:///{tmp}/bench.db", "SQLite")
    if args.backend in ("postgresql", "both"):
        name = f"kr_bench_{uuid.uuid4().hex[:10]}"
        with psycopg.connect(PG_ADMIN, autocommit=True) as conn:
            conn.execute(f'CREATE DATABASE "{name}"')
        try:
            measure(f"postgresql+psycopg://postgres@127.0.0.1:5432/{name}", "PostgreSQL")
        finally:
            with psycopg.connect(PG_ADMIN, autocommit=True) as conn:
                conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


if __name__ == "__main__":
    main()
