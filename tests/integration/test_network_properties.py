"""Property test: random trees, price rules and money moves keep the books exact.

Each Hypothesis example starts from an empty database, grows a random tree
(depth ≤ 3) through invites, sets random level / parent / retail prices, then
replays a random sequence of hosted sales (paid by sandbox callbacks, some by
an upline's own e-mail), wholesale purchases, top-ups, refunds, hold releases
and withdrawals. A small model mirrors what each user must hold; prices are
recomputed independently from the documented resolution order. After every
step: every transaction balances and the books sum to zero (wallet caches
agree with postings); balances equal the model; an available balance is
negative only after a claw-back; each order has at most one sale and one
refund; a sale's postings are exactly the split frozen on its order.
"""

from __future__ import annotations

import os
from collections import Counter
from dataclasses import dataclass, field

from factories import PASSWORD, unique
from hypothesis import HealthCheck, event, example, given, settings
from hypothesis import strategies as st
from sqlalchemy import func, select

from keyrelay import checkout
from keyrelay.catalog.models import Product
from keyrelay.checkout import Terms
from keyrelay.distribution import network
from keyrelay.distribution.models import Distributor
from keyrelay.kit.db import Database
from keyrelay.kit.errors import Conflict, IllegalTransition, InsufficientBalance, ValidationFailed
from keyrelay.kit.vault import Vault
from keyrelay.ledger import earnings, withdrawals
from keyrelay.ledger import service as ledger
from keyrelay.ledger.models import Transaction
from keyrelay.orders.models import Order

from .network_factories import (
    MAX_DEPTH,
    buy_wholesale,
    child_price,
    expected_postings,
    fast_passwords,
    invite,
    later,
    level_price,
    make_network_product,
    make_operator,
    pay,
    place_hosted,
    postings_of,
    retail,
    top_up,
    wipe,
)

__all__ = ["fast_passwords"]
MINIMUM = 100
BP = 10_000

RULE = st.one_of(
    st.none(),
    st.tuples(st.just("markup_pct"), st.integers(0, 5000)),
    st.tuples(st.just("markup_fixed"), st.integers(0, 2000)),
)
CHILD_DEFAULT = st.one_of(RULE, st.just(("inherit", 0)))
PRODUCT_OFFSET = st.one_of(st.none(), st.integers(-300, 2500))
"""A product rule as a fixed price = base + offset (a negative offset must be refused)."""


@st.composite
def networks(draw: st.DrawFn) -> dict[str, object]:
    parents = draw(st.lists(st.integers(0, 50), min_size=1, max_size=6))
    n = len(parents)
    supply = draw(st.integers(500, 5000))
    map_price = supply + draw(st.integers(0, 3000))
    return {
        "parents": parents,
        "supply": supply,
        "map": map_price,
        "price": map_price + draw(st.integers(0, 3000)),
        "max_markup": draw(st.one_of(st.none(), st.integers(0, 8000))),
        "level_default": draw(st.lists(RULE, min_size=MAX_DEPTH, max_size=MAX_DEPTH)),
        "level_product": draw(st.lists(PRODUCT_OFFSET, min_size=MAX_DEPTH, max_size=MAX_DEPTH)),
        "child_default": draw(st.lists(CHILD_DEFAULT, min_size=n, max_size=n)),
        "child_product": draw(st.lists(PRODUCT_OFFSET, min_size=n, max_size=n)),
        "retail": draw(st.lists(st.one_of(st.none(), st.integers(0, 100), st.integers(0, 100)), min_size=n, max_size=n)),
    }


WORKED_EXAMPLE: dict[str, object] = {
    "parents": [0, 1, 2],  # a chain of three levels
    "supply": 6000,
    "map": 9000,
    "price": 10000,
    "max_markup": None,
    "level_default": [("markup_pct", 2500), None, None],
    "level_product": [None, None, None],
    "child_default": [("markup_pct", 500), ("markup_fixed", 200), None],
    "child_product": [None, None, None],
    "retail": [None, None, 30],
}
"""The docs' worked example as a spec: level 3 retails at ¥99.00 (30 % into the ¥90.00–¥120.00 window)."""

OPS = st.lists(
    st.tuples(
        st.sampled_from(["sale"] * 3 + ["wholesale", "topup", "refund", "release", "withdraw"] * 2 + ["decide"] * 3),
        st.integers(0, 1000),
        st.integers(0, 1000),
    ),
    min_size=6,
    max_size=24,
)


def apply(rule: tuple[str, int], base: int) -> int:
    """The documented rule arithmetic: percentages are basis points, rounded half up per unit."""
    kind, value = rule
    if kind == "markup_pct":
        return base + (base * value + BP // 2) // BP
    if kind == "markup_fixed":
        return base + value
    return value if kind == "fixed" else base


@dataclass
class Node:
    distributor: Distributor
    email: str
    parent: int | None
    """Index of the parent node."""

    @property
    def user(self) -> int:
        return self.distributor.user_id


@dataclass
class Model:
    product: Product
    supply: int
    main_price: int
    nodes: list[Node] = field(default_factory=list)
    level_rules: dict[int, tuple[str, int]] = field(default_factory=dict)
    child_rules: dict[int, tuple[str, int]] = field(default_factory=dict)
    retail: dict[int, int] = field(default_factory=dict)
    available: Counter[int] = field(default_factory=Counter)
    pending: Counter[int] = field(default_factory=Counter)
    locked: Counter[int] = field(default_factory=Counter)
    holds: dict[tuple[int, int], list[object]] = field(default_factory=dict)
    """(order id, user) → [amount, status]."""
    orders: list[tuple[Order, str]] = field(default_factory=list)
    """(order as paid, payer account code)."""
    refunded: dict[int, set[int]] = field(default_factory=dict)
    """Refunded order id → users whose released earnings were clawed back from the wallet."""
    withdrawals: dict[int, tuple[int, int, str]] = field(default_factory=dict)
    """id → (user, amount, status)."""
    clawed: set[int] = field(default_factory=set)

    def path(self, index: int) -> list[int]:
        chain = [index]
        while (parent := self.nodes[chain[0]].parent) is not None:
            chain.insert(0, parent)
        return chain

    def costs(self, index: int) -> list[int]:
        """Product rule > default rule > level list, never below the parent's cost."""
        parent_cost, result = self.supply, []
        for level, node in enumerate(self.path(index), start=1):
            parent = self.nodes[node].parent
            rule = self.child_rules.get(parent) if parent is not None else None
            if rule is not None:
                raw = apply(rule, parent_cost)
            elif level in self.level_rules:
                raw = apply(self.level_rules[level], self.supply)
            else:
                raw = self.main_price
            parent_cost = max(raw, parent_cost)
            result.append(parent_cost)
        return result

    def split(self, index: int, unit: int, quantity: int, *, wholesale: bool, contact: str) -> Counter[str]:
        path, costs = self.path(index), self.costs(index)
        dealing = {n for n in path if self.nodes[n].email == contact}
        shares: Counter[str] = Counter({f"supplier:{self.product.supplier_id}": self.supply * quantity})
        shares["platform"] += (costs[0] - self.supply) * quantity
        for k, up in enumerate(path[:-1]):  # each upline earns its child's cost over its own
            party = "platform" if up in dealing else f"distributor:{self.nodes[up].distributor.id}"
            shares[party] += (costs[k + 1] - costs[k]) * quantity
        if not wholesale:
            party = "platform" if index in dealing else f"distributor:{self.nodes[index].distributor.id}"
            shares[party] += (unit - costs[-1]) * quantity
        return +shares


class Run:
    def __init__(self, db: Database, providers: Terms, model: Model, operator_id: int) -> None:
        self.db, self.providers, self.m, self.op = db, providers, model, operator_id

    def _book(self, order: Order, payer: str) -> None:
        assert order.status == "delivered"
        assert order.pricing is not None
        frozen = Counter({s["party"]: int(s["amount"]) for s in order.pricing["shares"]})
        assert sum(frozen.values()) == order.amount_minor
        for share in order.pricing["shares"]:
            if share["role"] in ("commission", "seller_profit"):
                self.m.pending[int(share["user_id"])] += int(share["amount"])
                self.m.holds[(order.id, int(share["user_id"]))] = [int(share["amount"]), "pending"]
        self.m.orders.append((order, payer))

    def sale(self, a: int, b: int) -> None:
        index, quantity = a % len(self.m.nodes), 1 + b % 2
        path = self.m.path(index)
        contact = self.m.nodes[path[(b // 8) % len(path)]].email if (b // 2) % 4 == 0 else f"{unique('buyer')}@example.com"
        unit = self.m.retail.get(index, self.m.main_price)
        try:
            with self.db.transaction() as s:
                order = place_hosted(s, self.providers, self.m.nodes[index].distributor, self.m.product.id, quantity, contact=contact)
        except Conflict:
            assert unit < self.m.costs(index)[-1], "a sale at or above cost was refused"
            event("retail below cost")
            return
        assert (order.unit_price_minor, order.unit_cost_minor) == (unit, self.m.costs(index)[-1])
        assert Counter({s["party"]: s["amount"] for s in order.pricing["shares"]}) == self.m.split(  # type: ignore[index]
            index, unit, quantity, wholesale=False, contact=contact
        )
        with self.db.transaction() as s:
            assert pay(s, self.providers, order) == "accepted"
            paid = s.get(Order, order.id)
        assert paid is not None
        if any(self.m.nodes[n].email == contact for n in path):
            event("self-dealing sale")
        self._book(paid, "clearing:sandbox")

    def wholesale(self, a: int, b: int) -> None:
        index, quantity = a % len(self.m.nodes), 1 + b % 2
        node = self.m.nodes[index]
        amount = self.m.costs(index)[-1] * quantity
        try:
            with self.db.transaction() as s:
                order = buy_wholesale(s, self.providers, node.distributor, self.m.product.id, quantity)
        except InsufficientBalance:
            assert amount > self.m.available[node.user]
            event("wholesale refused: balance")
            return
        assert order.amount_minor == amount
        assert Counter({s["party"]: s["amount"] for s in order.pricing["shares"]}) == self.m.split(  # type: ignore[index]
            index, amount // quantity, quantity, wholesale=True, contact=node.email
        )
        self.m.available[node.user] -= amount
        event("wholesale bought")
        self._book(order, f"wallet:user:{node.user}")

    def topup(self, a: int, b: int) -> None:
        user = self.m.nodes[a % len(self.m.nodes)].user
        with self.db.transaction() as s:
            top_up(s, user, 1000 + b * 37)
        self.m.available[user] += 1000 + b * 37

    def refund(self, a: int, _: int) -> None:
        if not self.m.orders:
            return
        order, payer = self.m.orders[a % len(self.m.orders)]
        try:
            with self.db.transaction() as s:
                checkout.refund(s, s.get(Order, order.id), actor="test", reason="property")  # type: ignore[arg-type]
        except IllegalTransition:
            assert order.id in self.m.refunded
            return
        assert order.id not in self.m.refunded
        clawed = self.m.refunded[order.id] = set()
        if payer.startswith("wallet:"):
            self.m.available[int(payer.rsplit(":", 1)[1])] += order.amount_minor
        for (order_id, user), hold in self.m.holds.items():
            if order_id != order.id:
                continue
            amount, status = hold
            assert isinstance(amount, int)
            if status == "pending":
                self.m.pending[user] -= amount
            else:
                self.m.available[user] -= amount
                self.m.clawed.add(user)
                clawed.add(user)
                event("claw-back" if self.m.available[user] >= 0 else "claw-back into debt")
            hold[1] = "reversed"

    def release(self, a: int, _: int) -> None:
        days = 1 if a % 4 == 0 else 8
        with self.db.transaction() as s:
            released = earnings.release_due(s, now=later(days))
        due = [key for key, hold in self.m.holds.items() if hold[1] == "pending"] if days >= 7 else []
        assert released == len(due)
        for key in due:
            amount = self.m.holds[key][0]
            assert isinstance(amount, int)
            self.m.pending[key[1]] -= amount
            self.m.available[key[1]] += amount
            self.m.holds[key][1] = "released"

    def withdraw(self, a: int, b: int) -> None:
        users = [node.user for node in self.m.nodes]
        user = users[a % len(users)] if a % 2 else max(users, key=lambda u: self.m.available[u])  # often the richest
        # Mostly a share of what is available (exactly all of it a quarter of the time), sometimes any amount.
        share = (100, 0, 40, 75)[b % 4]
        amount = self.m.available[user] * share // 100 if share else b * 20
        try:
            with self.db.transaction() as s:
                item = withdrawals.request(s, user_id=user, amount_minor=amount, currency="CNY", payee="bank", minimum=MINIMUM)
        except ValidationFailed:
            assert amount < MINIMUM
            event("withdrawal refused: minimum")
            return
        except InsufficientBalance:
            assert amount > self.m.available[user]
            event("withdrawal refused: balance")
            return
        assert MINIMUM <= amount <= self.m.available[user]
        event("withdrawal requested")
        self.m.available[user] -= amount
        self.m.locked[user] += amount
        self.m.withdrawals[item.id] = (user, amount, "requested")

    def decide(self, a: int, b: int) -> None:
        if not self.m.withdrawals:
            return
        ident = sorted(self.m.withdrawals)[a % len(self.m.withdrawals)]
        user, amount, status = self.m.withdrawals[ident]
        decision = ("approved", "paid", "rejected", "approved", "paid")[b % 5]
        allowed = {"requested": {"approved", "rejected"}, "approved": {"paid", "rejected"}}.get(status, set())
        try:
            with self.db.transaction() as s:
                if decision == "approved":
                    withdrawals.approve(s, ident, operator_id=self.op)
                elif decision == "paid":
                    withdrawals.mark_paid(s, ident, operator_id=self.op, reference=unique("REF"))
                else:
                    withdrawals.reject(s, ident, operator_id=self.op)
        except IllegalTransition:
            assert decision not in allowed
            return
        assert decision in allowed
        event(f"withdrawal {decision}")
        self.m.withdrawals[ident] = (user, amount, decision)
        if decision in ("paid", "rejected"):
            self.m.locked[user] -= amount
        if decision == "rejected":
            self.m.available[user] += amount


def check_invariants(db: Database, m: Model) -> None:
    with db.transaction() as s:
        books = ledger.check_books(s)
        assert books.ok, books
        doubled = s.execute(
            select(Transaction.kind, Transaction.ref)
            .where(Transaction.kind.in_(["sale", "refund"]))
            .group_by(Transaction.kind, Transaction.ref)
            .having(func.count() > 1)
        ).all()
        assert doubled == []
        for node in m.nodes:
            summary = ledger.wallet_summary(s, node.user, "CNY")
            assert (summary.available, summary.pending, summary.locked) == (
                m.available[node.user],
                m.pending[node.user],
                m.locked[node.user],
            ), node.distributor.id
            assert summary.available >= 0 or node.user in m.clawed
            assert summary.pending >= 0
            assert summary.locked >= 0
    for order, payer in m.orders:
        sale = postings_of(db, "sale", order.number)
        assert sale == expected_postings(order, payer)
        expected: dict[str, int] = {}
        if order.id in m.refunded:  # the mirror image; released earnings come back out of the wallet
            for code, amount in sale.items():
                user = code.rsplit(":", 1)[1]
                if code.startswith("pending:") and int(user) in m.refunded[order.id]:
                    code = f"wallet:user:{user}"
                expected[code] = expected.get(code, 0) - amount
        assert postings_of(db, "refund", order.number) == expected


def build(db: Database, vault: Vault, spec: dict[str, object]) -> tuple[Model, int]:
    with db.transaction() as s:
        op = make_operator(s).id
        product = make_network_product(
            s,
            vault,
            supply=spec["supply"],  # type: ignore[arg-type]
            price=spec["price"],  # type: ignore[arg-type]
            map_price=spec["map"],  # type: ignore[arg-type]
            max_markup_bp=spec["max_markup"],  # type: ignore[arg-type]
            keys=40,
        )
        m = Model(product=product, supply=product.supply_price_minor, main_price=product.price_minor)
        for choice in spec["parents"]:  # type: ignore[attr-defined]
            eligible = [i for i in range(len(m.nodes)) if len(m.path(i)) < MAX_DEPTH]
            pick = choice % (len(eligible) + 1)
            parent = eligible[pick - 1] if pick else None
            email = f"{unique('d')}@example.com"
            code = invite(s, m.nodes[parent].distributor if parent is not None else None, operator_id=op)
            joined = network.join(
                s, network.JoinRequest(code=code, email=email, password=PASSWORD, name="Shop", slug=unique("shop")), max_depth=MAX_DEPTH
            )
            m.nodes.append(Node(joined, email, parent))
    _set_prices(db, m, spec)
    return m, op


def _set_prices(db: Database, m: Model, spec: dict[str, object]) -> None:
    product = m.product
    with db.transaction() as s:
        for level, (default, offset) in enumerate(zip(spec["level_default"], spec["level_product"], strict=True), start=1):  # type: ignore[call-overload]
            if default is not None:
                level_price(s, level, None, *default)
                m.level_rules[level] = default
            if offset is not None:
                if offset < 0:  # below the supply price
                    try:
                        with s.begin_nested():
                            level_price(s, level, product, "fixed", m.supply + offset)
                    except ValidationFailed:
                        continue
                    raise AssertionError("a level price below supply was accepted")
                level_price(s, level, product, "fixed", m.supply + offset)
                m.level_rules[level] = ("fixed", m.supply + offset)
    with db.transaction() as s:  # parents first: a child rule is checked against the parent's own cost
        order = sorted(range(len(m.nodes)), key=lambda i: len(m.path(i)))
        for i in order:
            parent = m.nodes[i].distributor
            default, offset = spec["child_default"][i], spec["child_product"][i]  # type: ignore[index]
            if default is not None:
                child_price(s, parent, None, *default)
                m.child_rules[i] = default
            if offset is not None:
                own = m.costs(i)[-1]
                if offset < 0:
                    try:
                        with s.begin_nested():
                            child_price(s, parent, product, "fixed", own + offset)
                    except ValidationFailed:
                        continue
                    raise AssertionError("a child price below the parent's cost was accepted")
                child_price(s, parent, product, "fixed", own + offset)
                m.child_rules[i] = ("fixed", own + offset)
    with db.transaction() as s:
        ceiling = None
        if product.max_markup_bp is not None:
            base = product.map_minor or product.price_minor
            ceiling = base + (base * product.max_markup_bp + BP // 2) // BP
        for i, position in enumerate(spec["retail"]):  # type: ignore[arg-type]
            if position is None:
                continue
            low = max(product.map_minor, m.costs(i)[-1])
            high = ceiling if ceiling is not None else low + 3000
            if low > high:
                try:
                    with s.begin_nested():
                        retail(s, m.nodes[i].distributor, product, low)
                except ValidationFailed:
                    event("cost above the retail ceiling")
                    continue
                raise AssertionError("retail above the ceiling was accepted")
            price = low + (high - low) * position // 100
            retail(s, m.nodes[i].distributor, product, price)
            m.retail[i] = price


@settings(
    max_examples=int(os.environ.get("KEYRELAY_NETWORK_EXAMPLES", "20")),
    deadline=None,
    database=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow, HealthCheck.data_too_large],
)
@given(spec=networks(), operations=OPS)
@example(  # always run once: earn, release, withdraw and get paid, a refund claws back into debt, later earnings repay it
    spec=WORKED_EXAMPLE,
    operations=[
        *[("sale", 2, 3), ("release", 1, 0), ("withdraw", 2, 4), ("decide", 0, 0), ("decide", 0, 1), ("refund", 0, 0)],
        *[("withdraw", 5, 5), ("sale", 2, 3), ("release", 1, 0), ("topup", 2, 300), ("wholesale", 2, 0), ("withdraw", 2, 2)],
        *[("decide", 1, 2), ("refund", 2, 0), ("refund", 1, 0), ("release", 1, 0)],
    ],
)
def test_random_networks_keep_the_books_exact(
    db: Database, vault: Vault, providers: Terms, fast_passwords: None, spec: dict[str, object], operations: list[tuple[str, int, int]]
) -> None:
    wipe(db)
    model, operator_id = build(db, vault, spec)
    run = Run(db, providers, model, operator_id)
    check_invariants(db, model)
    for name, a, b in operations:
        getattr(run, name)(a, b)
        check_invariants(db, model)
    event(f"tree of {len(model.nodes)}, depth {max(len(model.path(i)) for i in range(len(model.nodes)))}")
