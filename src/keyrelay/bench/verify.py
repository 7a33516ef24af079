"""What must hold after any benchmark run, read straight from the tables.

Speed never excuses disorder: a run whose checks fail is reported as failed,
whatever its throughput.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from sqlalchemy import text

from keyrelay.bench.scenario import CREDIT_MINOR, Plan
from keyrelay.kit.db import Database
from keyrelay.ledger import service as ledger

_CHECKS = {
    "keys_sold_twice": "SELECT count(*) FROM (SELECT 1 FROM card_keys GROUP BY product_id, fingerprint HAVING count(*) > 1) AS twice",
    "sold_keys_without_order": "SELECT count(*) FROM card_keys WHERE status = 'sold' AND order_id IS NULL",
    "orders_short_of_keys": """
        SELECT count(*) FROM orders o
        WHERE o.status = 'delivered' AND o.quantity <> (SELECT count(*) FROM card_keys k WHERE k.order_id = o.id AND k.status = 'sold')
    """,
    "keys_on_undelivered_orders": """
        SELECT count(*) FROM card_keys k JOIN orders o ON o.id = k.order_id WHERE k.status = 'sold' AND o.status <> 'delivered'
    """,
    "charged_without_key": """
        SELECT count(*) FROM ledger_transactions t LEFT JOIN orders o ON o.number = t.ref
        WHERE t.kind = 'sale' AND (o.id IS NULL OR o.status <> 'delivered')
    """,
}


@dataclass
class Verdict:
    counts: dict[str, int] = field(default_factory=dict)
    delivered: int = 0
    problems: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.problems


def delivered_orders(db: Database) -> int:
    with db.transaction(write=False) as session:
        return int(session.scalar(text("SELECT count(*) FROM orders WHERE status = 'delivered'")) or 0)


def verify(db: Database, plan: Plan, *, successes: int, delivered_before: int) -> Verdict:
    """Every check on the whole database; ``successes`` is what the load generator saw answered 201."""
    verdict = Verdict()
    with db.transaction(write=False) as session:
        for name, sql in _CHECKS.items():
            verdict.counts[name] = found = int(session.scalar(text(sql)) or 0)
            if found:
                verdict.problems.append(f"{name}: {found}")
        verdict.delivered = int(session.scalar(text("SELECT count(*) FROM orders WHERE status = 'delivered'")) or 0) - delivered_before
        if verdict.delivered != successes:
            verdict.problems.append(f"delivered orders {verdict.delivered} != successful purchases {successes}")
        for buyer in plan.buyers:
            spent = int(
                session.scalar(
                    text("SELECT coalesce(sum(amount_minor), 0) FROM orders WHERE buyer_user_id = :u AND status = 'delivered'"),
                    {"u": buyer.user_id},
                )
                or 0
            )
            balance = ledger.wallet_balance(session, buyer.user_id, plan.currency)
            if balance != CREDIT_MINOR - spent:
                verdict.problems.append(f"wallet of user {buyer.user_id}: {balance} != credited {CREDIT_MINOR} - spent {spent}")
        books = ledger.check_books(session)
        if not books.ok:
            verdict.problems.append(
                f"books: unbalanced {books.unbalanced[:5]}, totals {books.currency_totals}, wallets {books.wallet_mismatches[:5]}"
            )
    return verdict
