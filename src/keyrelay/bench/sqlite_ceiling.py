"""The ``sqlite`` scenario's ceiling: the purchase's own statements run by plain ``sqlite3``, in one process.

What SQLite alone does with the statements and the one ``BEGIN IMMEDIATE``
transaction a signed purchase sends (those of ``purchase.pgbench``, in
SQLite's dialect), purchase after purchase on one connection with the app's
pragmas — SQLite has one writer, so more connections would only queue.
Values the app computes in Python (a nonce, an order number, the chain's ids)
are computed here the same way; what the app's key cache holds (the key's
owner and e-mail) is read once per buyer before the clock starts.
``tests/integration/test_bench.py`` keeps the statement sequence in step with
the app's (``pgbench.signature`` of each, repeated executions of one
``executemany`` counted once).
"""

from __future__ import annotations

import json
import secrets
import sqlite3
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

from keyrelay.bench.scenario import SCENARIOS, Buyer, Plan

_DISTRIBUTOR = "id, user_id, parent_id, level, path, status, slug, name, host, logo_url, notice, contact, invite_id, created_at"
_PRODUCT = (
    "id, category_id, supplier_id, name, slug, description, kind, price_minor, currency, supply_price_minor, map_minor, "
    "max_markup_bp, max_per_order, max_per_contact, low_stock_threshold, fixed_content, is_active, sort_order, created_at, updated_at"
)
_ACCOUNT = "id, code, kind, currency, owner_user_id, balance_minor, created_at"
_ORDER_COLUMNS = (
    "number, product_id, product_name, quantity, unit_price_minor, amount_minor, currency, status, contact, "
    "query_password_hash, channel, channel_id, distributor_id, sale_mode, unit_cost_minor, declared_retail_minor, buyer_ref, "
    "pricing, payment_provider, buyer_user_id, client_ip, needs_attention, manual_content, expires_at, paid_at, delivered_at, "
    "created_at, updated_at"
)
_OUTBOX_TOPICS = ("stock.changed", "order.placed", "order.paid", "order.delivered")


@dataclass(frozen=True)
class _Known:
    """What the app's per-process key cache holds for a buyer."""

    key_id: str
    user_id: int
    email: str
    level: int


def _stamp(moment: datetime) -> str:
    """A timestamp as SQLAlchemy stores it on SQLite."""
    return moment.strftime("%Y-%m-%d %H:%M:%S.%f")


def _placeholders(count: int) -> str:
    return ", ".join("?" * count)


def purchase(db: sqlite3.Connection, buyer: _Known, product_id: int) -> None:
    """One wholesale purchase of one key, statement for statement as the app sends it."""
    now = datetime.now(UTC)
    stamp = _stamp(now)
    db.execute("BEGIN IMMEDIATE")
    nonce = secrets.token_hex(16)
    db.execute(
        "INSERT INTO api_nonces (key_id, nonce, seen_at, ts) SELECT k.key_id, ?, ?, ? FROM api_keys k JOIN users u ON u.id = k.user_id"
        " WHERE k.key_id = ? AND NOT k.revoked AND u.is_active ON CONFLICT (key_id, nonce) DO NOTHING RETURNING id",
        (nonce, stamp, int(now.timestamp()), buyer.key_id),
    ).fetchone()
    claim = db.execute(
        "INSERT INTO idempotency_records (owner, key, request_hash, status, created_at) VALUES (?, ?, ?, 'running', ?)"
        " ON CONFLICT (owner, key) DO NOTHING RETURNING id",
        (f"key:{buyer.key_id}", secrets.token_hex(16), secrets.token_hex(32), stamp),
    ).fetchone()
    shop = db.execute(f"SELECT {_DISTRIBUTOR} FROM distributors WHERE user_id = ?", (buyer.user_id,)).fetchone()  # noqa: S608
    shop_id, path = shop[0], shop[4]
    product = db.execute(f"SELECT {_PRODUCT} FROM products WHERE id = ?", (product_id,)).fetchone()  # noqa: S608
    name = product[3]
    channel = db.execute(
        "SELECT id, distributor_id, name, kind, is_active, created_at FROM channels WHERE distributor_id = ? AND name = 'Wholesale'",
        (shop_id,),
    ).fetchone()
    chain = [int(part) for part in path.strip("/").split("/")]
    above = chain[:-1]
    parents: list[tuple[int, int]] = []
    if above:
        rows = db.execute(f"SELECT {_DISTRIBUTOR} FROM distributors WHERE id IN ({_placeholders(len(above))})", above).fetchall()  # noqa: S608
        parents = [(row[0], row[1]) for row in rows]
    levels = list(range(1, buyer.level + 1))
    db.execute(
        f"SELECT id, level, product_id, rule, value, updated_at FROM level_prices WHERE level IN ({_placeholders(len(levels))})"  # noqa: S608
        " AND (product_id = ? OR product_id IS NULL)",
        (*levels, product_id),
    ).fetchall()
    if above:
        db.execute(
            f"SELECT id, parent_id, product_id, rule, value, updated_at FROM child_prices WHERE parent_id IN ({_placeholders(len(above))})"  # noqa: S608
            " AND (product_id = ? OR product_id IS NULL)",
            (*above, product_id),
        ).fetchall()
        db.execute(f"SELECT id, email FROM users WHERE id IN ({_placeholders(len(parents))})", [u for _, u in parents]).fetchall()  # noqa: S608
    wallet = db.execute(
        f"SELECT {_ACCOUNT} FROM ledger_accounts WHERE code = ? AND currency = ?",  # noqa: S608
        (f"wallet:user:{buyer.user_id}", "CNY"),
    ).fetchone()
    supply = int(product[9])
    cost = supply + (supply * 1000 * buyer.level + 5_000) // 10_000  # the scenario's level markups, roughly
    pricing = json.dumps({"unit_price": cost, "unit_cost": cost, "chain": [], "shares": []})
    number = f"KRSQ{secrets.token_hex(9).upper()}"
    expires = _stamp(now + timedelta(minutes=15))
    order_values = (
        number, product_id, name, 1, cost, cost, "CNY", "delivered", buyer.email, None, "Wholesale", channel[0], shop_id,
        "wholesale", cost, None, "", pricing, "balance", buyer.user_id, "127.0.0.1", 0, None, expires, stamp, stamp, stamp, stamp,
    )  # fmt: skip
    order_id = db.execute(
        f"INSERT INTO orders ({_ORDER_COLUMNS}) VALUES ({_placeholders(len(order_values))}) RETURNING id",  # noqa: S608
        order_values,
    ).fetchone()[0]
    events = [(order_id, "created", f"1 × {name} via Wholesale", stamp), (order_id, "paid", "", stamp), (order_id, "delivered", "", stamp)]
    db.executemany("INSERT INTO order_events (order_id, kind, note, created_at) VALUES (?, ?, ?, ?)", events)
    db.execute(
        "UPDATE card_keys SET status = 'sold', order_id = ?, sold_at = ? WHERE id IN ("
        " SELECT id FROM card_keys WHERE product_id = ? AND status = 'available' ORDER BY id LIMIT ?) RETURNING id, ciphertext",
        (order_id, stamp, product_id, 1),
    ).fetchall()
    db.execute(
        "INSERT INTO payments (order_id, provider, provider_ref, amount_minor, currency, status, created_at)"
        " VALUES (?, 'balance', ?, ?, 'CNY', 'succeeded', ?) ON CONFLICT (provider, provider_ref) DO NOTHING RETURNING id",
        (order_id, f"BAL-{number}", cost, stamp),
    ).fetchone()
    codes = ["platform:revenue", *(f"pending:user:{user_id}" for _, user_id in parents)]
    payouts = db.execute(
        f"SELECT {_ACCOUNT} FROM ledger_accounts WHERE code IN ({_placeholders(len(codes))}) AND currency = ?",  # noqa: S608
        (*codes, "CNY"),
    ).fetchall()
    txn_id = db.execute(
        "INSERT INTO ledger_transactions (kind, ref, memo, created_at) VALUES ('sale', ?, ?, ?)"
        " ON CONFLICT (kind, ref) DO NOTHING RETURNING id",
        (number, f"1 × {name}", stamp),
    ).fetchone()[0]
    platform, pending = payouts[0][0], [account[0] for account in payouts[1:]]
    # As many legs as the app books: the payer, supply and margin to the platform, one commission per parent.
    legs = [(txn_id, wallet[0], -cost, "CNY"), (txn_id, platform, supply, "CNY"), (txn_id, platform, cost - supply, "CNY")]
    legs += [(txn_id, account_id, 0, "CNY") for account_id in pending]
    db.executemany("INSERT INTO ledger_postings (transaction_id, account_id, amount_minor, currency) VALUES (?, ?, ?, ?)", legs)
    db.execute(
        "UPDATE ledger_accounts SET balance_minor = (balance_minor + ?) WHERE id = ? AND balance_minor + ? >= 0 RETURNING balance_minor",
        (-cost, wallet[0], -cost),
    ).fetchone()
    if parents:
        holds = [(user_id, order_id, 0, "CNY", "commission", "pending", stamp, stamp) for _, user_id in parents]
        db.executemany(
            "INSERT INTO ledger_holds (user_id, order_id, amount_minor, currency, role, status, release_at, created_at)"
            " VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
            holds,
        )
    db.execute(
        "INSERT INTO audit_log (actor, action, target_type, target_id, ip, detail, created_at)"
        " VALUES (?, 'key.reveal', 'order', ?, ?, ?, ?)",
        (f"user:{buyer.user_id}/key:{buyer.key_id}", str(order_id), "127.0.0.1", '{"key_ids": [1]}', stamp),
    )
    db.execute(
        "UPDATE idempotency_records SET status = 'done', response_status = ?, response_body = ? WHERE id = ?",
        (201, "vault:" + secrets.token_hex(640), claim[0]),
    )
    outbox = [(topic, json.dumps({"order": number, "product_id": product_id}), stamp, 0, "", stamp) for topic in _OUTBOX_TOPICS]
    db.executemany("INSERT INTO outbox (topic, payload, available_at, attempts, last_error, created_at) VALUES (?, ?, ?, ?, ?, ?)", outbox)
    db.execute("COMMIT")


def connect(path: Path) -> sqlite3.Connection:
    """A connection with the app's pragmas (``kit.db``), transactions opened by hand."""
    db = sqlite3.connect(path, isolation_level=None, timeout=30)
    for pragma in ("journal_mode=WAL", "synchronous=NORMAL", "foreign_keys=ON", "busy_timeout=30000"):
        db.execute(f"PRAGMA {pragma}")
    return db


def known_buyers(db: sqlite3.Connection, buyers: list[Buyer]) -> list[_Known]:
    known = []
    for buyer in buyers:
        email = db.execute("SELECT email FROM users WHERE id = ?", (buyer.user_id,)).fetchone()[0]
        known.append(_Known(buyer.key_id, buyer.user_id, email, buyer.level))
    return known


def replay(path: Path, plan: Plan, *, seconds: float, trace: Callable[[str], None] | None = None) -> dict[str, float]:
    """Purchases one after another for ``seconds``; purchases/s and latency percentiles, as ``pgbench.replay`` reports them."""
    buyers, products = plan.chosen(SCENARIOS[plan.scenario])
    db = connect(path)
    try:
        known = known_buyers(db, buyers)
        if trace is not None:
            db.set_trace_callback(trace)
        latencies: list[float] = []
        started = time.perf_counter()
        deadline = started + seconds
        n = 0
        while time.perf_counter() < deadline:
            begun = time.perf_counter()
            purchase(db, known[n % len(known)], products[n % len(products)])
            latencies.append(time.perf_counter() - begun)
            n += 1
        elapsed = time.perf_counter() - started
    finally:
        db.close()
    latencies.sort()

    def at(q: float) -> float:
        return 1000 * latencies[min(len(latencies) - 1, int(q * len(latencies)))] if latencies else 0.0

    return {"per_s": n / elapsed, "p50_ms": at(0.50), "p95_ms": at(0.95), "p99_ms": at(0.99), "transactions": float(n)}
