"""Money through the services: the 3-level split, the hold, refunds and claw-back, withdrawals, self-dealing.

The worked example is the one in docs/distributors.md: supply ¥60.00, MAP
¥90.00, level-1 list +25 %, level 1 charges its children +5 %, level 2 its
child +¥2.00, level 3 sells 3 units at ¥99.00.
"""

from __future__ import annotations

from dataclasses import dataclass

import pytest
from sqlalchemy import select

from keyrelay import checkout
from keyrelay.catalog.models import Product
from keyrelay.checkout import Terms
from keyrelay.distribution.models import Distributor
from keyrelay.identity.models import User
from keyrelay.kit.db import Database
from keyrelay.kit.errors import IllegalTransition, InsufficientBalance, ValidationFailed
from keyrelay.kit.vault import Vault
from keyrelay.ledger import earnings, withdrawals
from keyrelay.ledger import service as ledger
from keyrelay.ledger.models import Hold
from keyrelay.orders.models import Order

from .network_factories import (
    Money,
    account_balance,
    buy_wholesale,
    child_price,
    expected_postings,
    fast_passwords,
    later,
    level_price,
    make_chain,
    make_network_product,
    make_operator,
    money,
    platform_revenue,
    postings_of,
    release_all,
    retail,
    sell_hosted,
    supplier_payable,
    top_up,
)
from .support import audit_trail

__all__ = ["fast_passwords"]
pytestmark = pytest.mark.usefixtures("fast_passwords")
MINIMUM = 1000


@dataclass
class World:
    operator_id: int
    chain: list[Distributor]
    product: Product

    @property
    def users(self) -> list[int]:
        return [d.user_id for d in self.chain]


def worked_example(db: Database, vault: Vault) -> World:
    """The documented 3-level network, built through the price use cases."""
    with db.transaction() as s:
        op = make_operator(s).id
        chain = make_chain(s, op, 3)
        product = make_network_product(s, vault, supply=6000, price=10000, map_price=9000, keys=30)
        level_price(s, 1, None, "markup_pct", 2500)
        child_price(s, chain[0], None, "markup_pct", 500)
        child_price(s, chain[1], None, "markup_fixed", 200)
        retail(s, chain[2], product, 9900)
    return World(op, chain, product)


def _balances(db: Database, world: World) -> tuple[int, int, list[Money], int]:
    return (
        supplier_payable(db, world.product),
        platform_revenue(db),
        [money(db, u) for u in world.users],
        account_balance(db, "clearing:sandbox"),
    )


def _refund(db: Database, order: Order) -> None:
    with db.transaction() as s:
        checkout.refund(s, s.get(Order, order.id), actor="test", reason="buyer complained")  # type: ignore[arg-type]


def _books_ok(db: Database) -> None:
    with db.transaction(write=False) as s:
        report = ledger.check_books(s)
    assert report.ok, report


def test_worked_example_three_level_split(db: Database, vault: Vault, providers: Terms) -> None:
    world = worked_example(db, vault)
    order = sell_hosted(db, providers, world.chain[2], world.product.id, 3)
    assert (order.unit_price_minor, order.unit_cost_minor, order.amount_minor) == (9900, 8075, 29_700)
    assert [step["cost"] for step in order.pricing["chain"]] == [7500, 7875, 8075]  # type: ignore[index]
    supplier, platform, wallets, clearing = _balances(db, world)
    assert (supplier, platform, clearing) == (18_000, 4_500, -29_700)
    assert wallets == [Money(0, 1_125, 0), Money(0, 600, 0), Money(0, 5_475, 0)]
    assert 18_000 + 4_500 + 1_125 + 600 + 5_475 == 29_700
    assert postings_of(db, "sale", order.number) == expected_postings(order, "clearing:sandbox")
    with db.transaction(write=False) as s:
        holds = {h.user_id: (h.role, h.amount_minor, h.status) for h in s.scalars(select(Hold).where(Hold.order_id == order.id))}
    assert holds == {
        world.users[0]: ("commission", 1_125, "pending"),
        world.users[1]: ("commission", 600, "pending"),
        world.users[2]: ("seller_profit", 5_475, "pending"),
    }
    _books_ok(db)


def test_holds_release_after_the_settlement_hold(db: Database, vault: Vault, providers: Terms) -> None:
    world = worked_example(db, vault)
    sell_hosted(db, providers, world.chain[2], world.product.id, 3)
    with db.transaction() as s:
        assert earnings.release_due(s, now=later(6)) == 0  # the 7-day hold has not run out
    assert [money(db, u).available for u in world.users] == [0, 0, 0]
    assert release_all(db, days=8) == 3
    assert [money(db, u) for u in world.users] == [Money(1_125, 0, 0), Money(600, 0, 0), Money(5_475, 0, 0)]
    assert release_all(db, days=8) == 0  # released once only
    _books_ok(db)


def test_refund_inside_the_hold_reverses_everything(db: Database, vault: Vault, providers: Terms) -> None:
    world = worked_example(db, vault)
    keep = sell_hosted(db, providers, world.chain[2], world.product.id, 1)
    before = _balances(db, world)
    refunded = sell_hosted(db, providers, world.chain[2], world.product.id, 3)
    _refund(db, refunded)
    assert _balances(db, world) == before
    assert postings_of(db, "refund", refunded.number) == {k: -v for k, v in postings_of(db, "sale", refunded.number).items()}
    with db.transaction(write=False) as s:
        assert set(s.scalars(select(Hold.status).where(Hold.order_id == refunded.id))) == {"reversed"}
    release_all(db)  # only the kept order's earnings become available
    assert [money(db, u) for u in world.users] == [Money(375, 0, 0), Money(200, 0, 0), Money(1_825, 0, 0)]
    with pytest.raises(IllegalTransition), db.transaction() as s:
        checkout.refund(s, s.get(Order, refunded.id), actor="test", reason="again")  # type: ignore[arg-type]
    assert keep.status == "delivered"
    _books_ok(db)


def test_refund_after_release_claws_back_into_debt_that_later_earnings_repay(db: Database, vault: Vault, providers: Terms) -> None:
    world = worked_example(db, vault)
    seller = world.users[2]
    order = sell_hosted(db, providers, world.chain[2], world.product.id, 3)
    release_all(db)
    with db.transaction() as s:  # the seller takes most of its profit out
        item = withdrawals.request(s, user_id=seller, amount_minor=5_000, currency="CNY", payee="alipay:me", minimum=MINIMUM)
        withdrawals.approve(s, item.id, operator_id=world.operator_id)
        withdrawals.mark_paid(s, item.id, operator_id=world.operator_id, reference="BANK-1")
    assert money(db, seller) == Money(475, 0, 0)
    _refund(db, order)
    assert [money(db, u) for u in world.users] == [Money(0, 0, 0), Money(0, 0, 0), Money(-5_000, 0, 0)]
    assert (supplier_payable(db, world.product), platform_revenue(db), account_balance(db, "clearing:sandbox")) == (0, 0, 0)
    with pytest.raises(InsufficientBalance), db.transaction() as s:  # no payout while in debt
        withdrawals.request(s, user_id=seller, amount_minor=MINIMUM, currency="CNY", payee="alipay:me", minimum=MINIMUM)
    _books_ok(db)
    sell_hosted(db, providers, world.chain[2], world.product.id, 3)
    release_all(db)
    assert [money(db, u).available for u in world.users] == [1_125, 600, 475]  # the debt was repaid first
    _books_ok(db)


def test_withdrawal_lifecycle(db: Database, vault: Vault, providers: Terms) -> None:
    world = worked_example(db, vault)
    seller, op = world.users[2], world.operator_id
    sell_hosted(db, providers, world.chain[2], world.product.id, 3)
    with pytest.raises(InsufficientBalance), db.transaction() as s:  # pending money is not withdrawable
        withdrawals.request(s, user_id=seller, amount_minor=MINIMUM, currency="CNY", payee="bank", minimum=MINIMUM)
    release_all(db)

    def ask(amount: int) -> int:
        with db.transaction() as s:
            return withdrawals.request(s, user_id=seller, amount_minor=amount, currency="CNY", payee="bank 123", minimum=MINIMUM).id

    with pytest.raises(ValidationFailed):
        ask(MINIMUM - 1)
    with pytest.raises(InsufficientBalance):
        ask(5_476)
    assert money(db, seller) == Money(5_475, 0, 0)
    first = ask(3_000)
    assert money(db, seller) == Money(2_475, 0, 3_000)
    with pytest.raises(InsufficientBalance):  # locked money cannot be asked for twice
        ask(3_000)
    with db.transaction() as s:
        withdrawals.reject(s, first, operator_id=op, note="wrong account")
    assert money(db, seller) == Money(5_475, 0, 0)
    with pytest.raises(IllegalTransition), db.transaction() as s:
        withdrawals.approve(s, first, operator_id=op)

    second = ask(5_475)
    with pytest.raises(IllegalTransition), db.transaction() as s:  # requested → paid skips approval
        withdrawals.mark_paid(s, second, operator_id=op, reference="X")
    with db.transaction() as s:
        withdrawals.approve(s, second, operator_id=op)
    with pytest.raises(IllegalTransition), db.transaction() as s:
        withdrawals.approve(s, second, operator_id=op)
    with pytest.raises(ValidationFailed), db.transaction() as s:
        withdrawals.mark_paid(s, second, operator_id=op, reference="  ")
    assert money(db, seller) == Money(0, 0, 5_475)
    with db.transaction() as s:
        paid = withdrawals.mark_paid(s, second, operator_id=op, reference="BANK-77")
    assert (paid.status, paid.reference) == ("paid", "BANK-77")
    with pytest.raises(IllegalTransition), db.transaction() as s:
        withdrawals.mark_paid(s, second, operator_id=op, reference="BANK-78")
    with pytest.raises(IllegalTransition), db.transaction() as s:
        withdrawals.reject(s, second, operator_id=op)
    assert money(db, seller) == Money(0, 0, 0)
    # One audit row per decision that happened; refused moves left none.
    mine = {"user_id": seller, "currency": "CNY"}
    assert audit_trail(db, "withdrawal", first) == [
        ("withdrawal.reject", f"user:{op}", "", {**mine, "amount_minor": 3_000, "note": "wrong account"}),
    ]
    assert audit_trail(db, "withdrawal", second) == [
        ("withdrawal.approve", f"user:{op}", "", {**mine, "amount_minor": 5_475}),
        ("withdrawal.mark_paid", f"user:{op}", "", {**mine, "amount_minor": 5_475, "reference": "BANK-77"}),
    ]
    assert account_balance(db, "clearing:payouts") == 5_475
    _books_ok(db)


def test_self_dealing_upline_share_goes_to_the_platform(db: Database, vault: Vault, providers: Terms) -> None:
    world = worked_example(db, vault)
    with db.transaction(write=False) as s:
        l1_email = s.get(User, world.users[0]).email  # type: ignore[union-attr]
    # Level 1 buys on its grandchild's sub-site with its own login e-mail (in another case).
    order = sell_hosted(db, providers, world.chain[2], world.product.id, 3, contact=l1_email.upper())
    assert [money(db, u).pending for u in world.users] == [0, 600, 5_475]
    assert platform_revenue(db) == 4_500 + 1_125
    assert postings_of(db, "sale", order.number) == expected_postings(order, "clearing:sandbox")
    # The seller buying on its own sub-site earns no profit on it either.
    with db.transaction(write=False) as s:
        seller_email = s.get(User, world.users[2]).email  # type: ignore[union-attr]
    sell_hosted(db, providers, world.chain[2], world.product.id, 1, contact=seller_email)
    assert [money(db, u).pending for u in world.users] == [375, 800, 5_475]
    assert platform_revenue(db) == 4_500 + 1_125 + 1_500 + 1_825
    _books_ok(db)


def test_wholesale_purchase_pays_uplines_and_refund_returns_it_to_the_wallet(db: Database, vault: Vault, providers: Terms) -> None:
    world = worked_example(db, vault)
    buyer = world.chain[2]
    with db.transaction() as s:
        top_up(s, buyer.user_id, 10_000)
        order = buy_wholesale(s, providers, buyer, world.product.id, 1)
    assert (order.status, order.amount_minor, order.sale_mode) == ("delivered", 8_075, "wholesale")
    assert [money(db, u) for u in world.users] == [Money(0, 375, 0), Money(0, 200, 0), Money(1_925, 0, 0)]
    assert postings_of(db, "sale", order.number) == expected_postings(order, f"wallet:user:{buyer.user_id}")
    _refund(db, order)
    assert [money(db, u) for u in world.users] == [Money(0, 0, 0), Money(0, 0, 0), Money(10_000, 0, 0)]
    _books_ok(db)


def test_a_wholesale_purchase_that_costs_nothing_delivers_and_books_nothing(db: Database, vault: Vault, providers: Terms) -> None:
    """Supply price 0 and a percentage markup: the cost is 0 at level 1. Delivered, no ledger transaction, refundable."""
    with db.transaction() as s:
        buyer = make_chain(s, make_operator(s).id, 1)[0]
        product = make_network_product(s, vault, supply=0, price=1000, map_price=0, keys=3)
        level_price(s, 1, None, "markup_pct", 1000)
    with db.transaction() as s:
        order = buy_wholesale(s, providers, buyer, product.id, 1)
    assert (order.status, order.amount_minor) == ("delivered", 0)
    assert postings_of(db, "sale", order.number) == {}
    assert money(db, buyer.user_id) == Money(0, 0, 0)
    _refund(db, order)
    with db.transaction(write=False) as s:
        assert s.get(Order, order.id).status == "refunded"  # type: ignore[union-attr]
    _books_ok(db)
