"""The benchmark's own guarantees: its ceiling replays the app's real SQL, and its checks catch disorder."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import event, text

from keyrelay import checkout
from keyrelay.app import build_state, create_app
from keyrelay.bench import pgbench, sqlite_ceiling
from keyrelay.bench.load import PATH, signed_headers
from keyrelay.bench.scenario import SCENARIOS, Plan, load_store
from keyrelay.bench.verify import delivered_orders, verify
from keyrelay.config import Settings
from keyrelay.kit.db import Database


@pytest.fixture
def plan(db: Database, settings: Settings) -> Plan:
    return load_store(db, SCENARIOS["spread"], vault=settings.vault, keys_total=40, products=2, distributors=3)


def _purchase_statements(settings: Settings, plan: Plan, buyer_index: int) -> list[str]:
    """The statements (and BEGIN/COMMIT) of one signed purchase over HTTP, after a first one warmed every cache."""
    app = create_app(settings.model_copy(update={"rate_limit_per_ip": "100000/minute", "rate_limit_per_key": "100000/minute"}))
    engines = {app.state.keyrelay.db.engine, app.state.keyrelay.db.write_engine}  # two on SQLite
    seen: list[str] = []

    def on_statement(_conn: Any, _cursor: Any, statement: str, *_args: Any) -> None:
        seen.append(statement)

    with TestClient(app) as http:
        buyer = plan.buyers[buyer_index]
        for attempt in range(2):
            body = json.dumps({"product_id": plan.products[0], "quantity": 1}).encode()
            for engine in engines if attempt else ():
                event.listen(engine, "before_cursor_execute", on_statement)
                event.listen(engine, "begin", lambda _conn: seen.append("BEGIN"))
                event.listen(engine, "commit", lambda _conn: seen.append("COMMIT"))
            reply = http.post(PATH, content=body, headers=signed_headers(buyer, body))
            assert reply.status_code == 201, reply.text
            assert len(reply.json()["keys"]) == 1
    return seen


@pytest.mark.parametrize("db_url", ["postgresql"], indirect=True)
@pytest.mark.parametrize("level", [1, 2, 3])
def test_the_ceiling_script_sends_what_a_purchase_sends(settings: Settings, plan: Plan, level: int) -> None:
    assert plan.buyers[level - 1].level == level
    app_side = [pgbench.signature(statement) for statement in _purchase_statements(settings, plan, level - 1)]
    assert app_side == pgbench.script_signature(below_level_1=level > 1), (
        "the purchase's SQL changed: update src/keyrelay/bench/purchase.pgbench to send the same statements"
    )


def _collapsed(signatures: list[str]) -> list[str]:
    """Runs of one signature counted once: an executemany is one event in the app and one trace line per row in sqlite3."""
    return [s for n, s in enumerate(signatures) if n == 0 or signatures[n - 1] != s]


@pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)
@pytest.mark.parametrize("level", [1, 2, 3])
def test_the_sqlite_ceiling_sends_what_a_purchase_sends(settings: Settings, plan: Plan, level: int, db_url: str) -> None:
    assert plan.buyers[level - 1].level == level
    app_side = _collapsed([pgbench.signature(statement) for statement in _purchase_statements(settings, plan, level - 1)])
    traced: list[str] = []
    one = Plan(plan.scenario, [plan.buyers[level - 1]], plan.products[:1], plan.keys_per_product)
    done = sqlite_ceiling.replay(Path(db_url.removeprefix("sqlite:///")), one, seconds=0.01, trace=traced.append)
    assert done["transactions"] >= 1
    first = traced[: traced.index("COMMIT") + 1]
    assert app_side == _collapsed([pgbench.signature(statement) for statement in first]), (
        "the purchase's SQL changed: update src/keyrelay/bench/sqlite_ceiling.py to send the same statements"
    )


def test_signatures_name_verb_and_table() -> None:
    assert pgbench.signature("SELECT a.id FROM api_keys AS a WHERE a.key_id = %(k)s") == "SELECT api_keys"
    assert pgbench.signature("INSERT INTO orders (number) VALUES (%(n)s) RETURNING orders.id") == "INSERT orders"
    assert pgbench.signature("UPDATE card_keys SET status = 'sold' WHERE id IN (SELECT id FROM card_keys)") == "UPDATE card_keys"
    assert pgbench.signature("BEGIN") == "BEGIN"
    assert pgbench.signature("COMMIT;") == "COMMIT"
    with pytest.raises(ValueError, match="not a statement"):
        pgbench.signature("VACUUM")


def _buy(settings: Settings, plan: Plan, times: int) -> None:
    state = build_state(settings)
    for n in range(times):
        buyer = plan.buyers[n % len(plan.buyers)]
        with state.db.transaction() as session:
            purchase = checkout.WholesalePurchase(
                user_id=buyer.user_id,
                email=f"bench-d{n}@example.com",
                product_id=plan.products[n % len(plan.products)],
                quantity=1,
                channel_id=None,
                declared_retail_minor=None,
                buyer_ref="",
                client_ip="127.0.0.1",
            )
            checkout.buy_wholesale(session, purchase, terms=state.terms)
    state.db.dispose()


@pytest.fixture
def bought(db: Database, settings: Settings, plan: Plan) -> int:
    before = delivered_orders(db)
    _buy(settings, plan, 5)
    return before


def test_a_clean_run_passes_every_check(db: Database, plan: Plan, bought: int) -> None:
    verdict = verify(db, plan, successes=5, delivered_before=bought)
    assert verdict.ok, verdict.problems
    assert verdict.delivered == 5
    assert set(verdict.counts.values()) == {0}


def test_a_purchase_the_client_never_saw_is_reported(db: Database, plan: Plan, bought: int) -> None:
    verdict = verify(db, plan, successes=4, delivered_before=bought)
    assert verdict.problems == ["delivered orders 5 != successful purchases 4"]


def test_a_key_taken_back_and_a_wallet_off_by_one_are_reported(db: Database, plan: Plan, bought: int) -> None:
    with db.transaction() as session:
        first_sold = "SELECT min(id) FROM card_keys WHERE status = 'sold'"
        session.execute(text(f"UPDATE card_keys SET status = 'available', order_id = NULL WHERE id = ({first_sold})"))
        session.execute(
            text("UPDATE ledger_accounts SET balance_minor = balance_minor + 1 WHERE code = :c"),
            {"c": f"wallet:user:{plan.buyers[0].user_id}"},
        )
    problems = verify(db, plan, successes=5, delivered_before=bought).problems
    assert any(p.startswith("orders_short_of_keys: 1") for p in problems), problems
    assert any(p.startswith(f"wallet of user {plan.buyers[0].user_id}") for p in problems), problems
    assert any(p.startswith("books:") for p in problems), problems


def test_a_sale_without_its_key_is_reported(db: Database, plan: Plan, bought: int) -> None:
    with db.transaction() as session:
        session.execute(text("UPDATE orders SET status = 'paid' WHERE id = (SELECT min(id) FROM orders)"))
    problems = verify(db, plan, successes=4, delivered_before=bought).problems
    assert "charged_without_key: 1" in problems
    assert "keys_on_undelivered_orders: 1" in problems
