"""Factories and read helpers for the distribution-network tests.

Everything is built through the real use cases (invites, joins, price rules,
checkout, gateway callbacks); the only shortcut is ``supplier_id`` on a
product, which no use case sets yet. Read helpers open their own read-only
transaction, so they see exactly what was committed.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from typing import Any

import pytest
from argon2 import PasswordHasher
from factories import PASSWORD, import_keys, make_product, make_user, sandbox_notification, unique
from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from keyrelay import checkout
from keyrelay.catalog.models import Product
from keyrelay.checkout import Terms
from keyrelay.distribution import network, prices
from keyrelay.distribution.models import Distributor
from keyrelay.identity.models import User
from keyrelay.kit.clock import utcnow
from keyrelay.kit.db import Database
from keyrelay.kit.vault import Vault
from keyrelay.ledger import earnings
from keyrelay.ledger import service as ledger
from keyrelay.ledger.models import Posting, Transaction
from keyrelay.models import metadata
from keyrelay.orders.models import Order

MAX_DEPTH = 3
CUR = "CNY"
_cheap = PasswordHasher(time_cost=1, memory_cost=8, parallelism=1)


@pytest.fixture
def fast_passwords(monkeypatch: pytest.MonkeyPatch) -> None:
    """Cheap argon2 for accounts made in these tests (verification still works: the hash carries its parameters)."""
    monkeypatch.setattr("keyrelay.identity.service.hash_password", _cheap.hash)


def wipe(db: Database) -> None:
    """Delete every row (children first), as the ``db`` fixture does after a test."""
    with db.transaction() as session:
        for table in reversed(metadata.sorted_tables):
            session.execute(delete(table))


# --- the network ----------------------------------------------------------------------------


def make_operator(session: Session) -> User:
    return make_user(session, role="operator")


def invite(
    session: Session,
    parent: Distributor | None,
    *,
    operator_id: int,
    requires_approval: bool = False,
    max_uses: int = 1,
    ttl_hours: int = 72,
) -> str:
    """An invite code under ``parent`` (from the parent itself), or a level-1 code from the operator."""
    actor = network.Actor(operator_id, "operator") if parent is None else network.Actor(parent.user_id, "distributor")
    made = network.create_invite(
        session,
        actor,
        parent_id=parent.id if parent else None,
        max_uses=max_uses,
        ttl_hours=ttl_hours,
        requires_approval=requires_approval,
        max_depth=MAX_DEPTH,
    )
    return made.code


def join(session: Session, code: str, *, email: str | None = None, slug: str | None = None) -> Distributor:
    tag = unique("shop")
    request = network.JoinRequest(code=code, email=email or f"{tag}@example.com", password=PASSWORD, name=f"Shop {tag}", slug=slug or tag)
    return network.join(session, request, max_depth=MAX_DEPTH)


def make_distributor(
    session: Session, parent: Distributor | None, *, operator_id: int, requires_approval: bool = False, email: str | None = None
) -> Distributor:
    """A new distributor one level below ``parent`` (level 1 if None), through invite + join."""
    return join(session, invite(session, parent, operator_id=operator_id, requires_approval=requires_approval), email=email)


def make_chain(session: Session, operator_id: int, depth: int = 3) -> list[Distributor]:
    """Level 1 … ``depth``, each the child of the previous one."""
    chain: list[Distributor] = []
    for _ in range(depth):
        chain.append(make_distributor(session, chain[-1] if chain else None, operator_id=operator_id))
    return chain


# --- products and prices --------------------------------------------------------------------


def make_network_product(
    session: Session,
    vault: Vault,
    *,
    supply: int = 6000,
    price: int = 10000,
    map_price: int = 9000,
    max_markup_bp: int | None = None,
    keys: int = 20,
    supplier: bool = True,
) -> Product:
    """A card-key product with supply price, MAP, optional ceiling, stock and (by default) an outside supplier."""
    product = make_product(
        session,
        vault,
        price_minor=price,
        supply_price_minor=supply,
        map_minor=map_price,
        max_markup_bp=max_markup_bp,
        max_per_order=1000,
    )
    if supplier:
        product.supplier_id = make_user(session, role="supplier").id
        session.flush()
    if keys:
        import_keys(session, vault, product.id, keys)
    return product


def level_price(session: Session, level: int, product: Product | None, rule: str, value: int) -> None:
    prices.set_level_price(session, level=level, product=product, rule=rule, value=value, max_depth=MAX_DEPTH, actor="test")


def child_price(session: Session, parent: Distributor, product: Product | None, rule: str, value: int) -> None:
    prices.set_child_price(session, parent, product=product, rule=rule, value=value, actor="test")


def retail(session: Session, seller: Distributor, product: Product, price_minor: int) -> None:
    prices.set_retail(session, seller, product, price_minor=price_minor, actor="test")


# --- selling --------------------------------------------------------------------------------


def place_hosted(
    session: Session, providers: Terms, seller: Distributor, product_id: int, quantity: int = 1, *, contact: str | None = None
) -> Order:
    """A buyer checks out on ``seller``'s sub-site (sandbox gateway, not yet paid)."""
    request = checkout.PlaceOrder(
        product_id=product_id,
        quantity=quantity,
        contact=contact or f"{unique('buyer')}@example.com",
        payment_provider="sandbox",
        seller_id=seller.id,
    )
    return checkout.place_order(session, request, terms=providers)


def pay(session: Session, providers: Terms, order: Order, *, hold_days: int = 7) -> str:
    """The sandbox gateway's signed callback for ``order``; returns the verdict."""
    params = sandbox_notification(providers, order)
    return checkout.accept_notification(
        session, provider_name="sandbox", params=params, terms=replace(providers, commission_hold_days=hold_days)
    )


def sell_hosted(db: Database, providers: Terms, seller: Distributor, product_id: int, quantity: int = 1, **kw: Any) -> Order:
    """Place and pay a sub-site sale in two transactions, as a buyer and the gateway would."""
    with db.transaction() as session:
        order = place_hosted(session, providers, seller, product_id, quantity, **kw)
    with db.transaction() as session:
        assert pay(session, providers, order) == "accepted"
        paid = session.get(Order, order.id)
        assert paid is not None
        return paid


def buy_wholesale(session: Session, providers: Terms, buyer: Distributor, product_id: int, quantity: int = 1) -> Order:
    """The distributor buys for itself at cost from its wallet."""
    email = session.get(User, buyer.user_id)
    assert email is not None
    request = checkout.PlaceOrder(
        product_id=product_id,
        quantity=quantity,
        contact=email.email,
        payment_provider="balance",
        buyer_user_id=buyer.user_id,
        seller_id=buyer.id,
        wholesale=True,
    )
    return checkout.place_order(session, request, terms=providers)


def top_up(session: Session, user_id: int, amount: int) -> None:
    ledger.credit_wallet(session, user_id=user_id, amount_minor=amount, currency=CUR, ref=unique("topup"), memo="test")


def release_all(db: Database, *, days: int = 8) -> int:
    """Run the hold release as if ``days`` had passed."""
    with db.transaction() as session:
        return earnings.release_due(session, now=later(days))


def later(days: int) -> datetime:
    return utcnow() + timedelta(days=days)


# --- reading --------------------------------------------------------------------------------


@dataclass(frozen=True)
class Money:
    """A user's three balances."""

    available: int
    pending: int
    locked: int


def money(db: Database, user_id: int) -> Money:
    with db.transaction() as session:
        s = ledger.wallet_summary(session, user_id, CUR)
        return Money(s.available, s.pending, s.locked)


def account_balance(db: Database, code: str) -> int:
    """Balance (from postings) of an account by code; 0 if it does not exist yet."""
    with db.transaction(write=False) as session:
        from keyrelay.ledger.models import Account

        found = session.scalar(select(Account).where(Account.code == code, Account.currency == CUR))
        return ledger.balance(session, found.id) if found else 0


def platform_revenue(db: Database) -> int:
    return account_balance(db, "platform:revenue")


def supplier_payable(db: Database, product: Product) -> int:
    return account_balance(db, f"payable:supplier:{product.supplier_id}")


def postings_of(db: Database, kind: str, ref: str) -> dict[str, int]:
    """``{account code: amount}`` of the transaction (kind, ref); empty if none."""
    from keyrelay.ledger.models import Account

    with db.transaction(write=False) as session:
        txn = session.scalar(select(Transaction).where(Transaction.kind == kind, Transaction.ref == ref))
        if txn is None:
            return {}
        query = select(Account.code, Posting.amount_minor).join(Account, Account.id == Posting.account_id)
        rows = session.execute(query.where(Posting.transaction_id == txn.id))
        result: dict[str, int] = {}
        for code, amount in rows.tuples():
            result[code] = result.get(code, 0) + int(amount)
        return result


def expected_postings(order: Order, payer_code: str) -> dict[str, int]:
    """What the sale of ``order`` must book: its frozen split, account by account."""
    expected: dict[str, int] = {payer_code: -order.amount_minor}
    assert order.pricing is not None
    for share in order.pricing["shares"]:
        party, amount = share["party"], int(share["amount"])
        if not amount:
            continue
        if party == "platform":
            code = "platform:revenue"
        elif party.startswith("supplier:"):
            code = f"payable:supplier:{share['user_id']}"
        else:
            code = f"pending:user:{share['user_id']}"
        expected[code] = expected.get(code, 0) + amount
    return expected


def fresh(db: Database, model: Any, ident: int) -> Any:
    """A row as committed now."""
    with db.transaction(write=False) as session:
        return session.get(model, ident)
