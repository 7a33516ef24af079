"""Property test: any sequence of place / pay / cancel / expire keeps stock and money consistent.

Each Hypothesis example gets its own product (the database is shared by the
examples of one test), replays random operations against the real services,
mirrors them in a tiny model, and after every step checks the invariants:
no key sold twice, every key accounted for exactly once, reserved keys belong
to open orders, and the books balance.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field

from factories import import_keys, make_product, make_user, place, sandbox_notification, unique
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st
from sqlalchemy import func, select

from keyrelay import checkout
from keyrelay.checkout import Terms
from keyrelay.inventory.models import CardKey
from keyrelay.kit.db import Database
from keyrelay.kit.errors import IllegalTransition, InsufficientBalance, OutOfStock
from keyrelay.kit.vault import Vault
from keyrelay.ledger import service as ledger
from keyrelay.orders import rules
from keyrelay.orders.models import Order
from keyrelay.payments.models import Payment

from .support import backdate_hold

STOCK = 6
PRICE = 700
WALLET_FUNDS = 2 * PRICE + 300  # enough for two units, then refusals

OPERATIONS = st.lists(
    st.tuples(st.sampled_from(["place", "place_wallet", "pay", "pay_again", "cancel", "expire"]), st.integers(min_value=0, max_value=50)),
    min_size=2,
    max_size=16,
)
"""(operation, argument): a quantity for the places, else which order (modulo the orders placed so far)."""


@dataclass
class Model:
    """What the services should have done, tracked independently of the database."""

    product_id: int
    buyer_id: int
    wallet: int
    available: int = STOCK
    orders: list[tuple[int, Order]] = field(default_factory=list)
    """(id, order as placed) in placing order."""
    status: dict[int, str] = field(default_factory=dict)
    notification: dict[int, dict[str, str]] = field(default_factory=dict)
    """The gateway notification already sent for an order, to be redelivered."""


class Run:
    """Applies one operation to the real services and to the model, checking the verdict."""

    def __init__(self, db: Database, providers: Terms, model: Model) -> None:
        self.db, self.providers, self.m = db, providers, model

    def place(self, quantity: int, *, wallet: bool = False) -> None:
        kwargs: dict[str, object] = {"provider": "balance", "buyer_user_id": self.m.buyer_id} if wallet else {}
        try:
            with self.db.transaction() as s:
                order = place(s, self.providers, self.m.product_id, quantity, contact=f"{unique('p')}@example.com", **kwargs)
        except OutOfStock:
            assert quantity > self.m.available
            event("out of stock")
            return
        except InsufficientBalance:
            assert wallet
            assert quantity * PRICE > self.m.wallet
            event("insufficient balance")
            return
        assert quantity <= self.m.available
        self.m.available -= quantity
        self.m.orders.append((order.id, order))
        if wallet:
            assert order.status == rules.DELIVERED
            self.m.wallet -= quantity * PRICE
        else:
            assert order.status == rules.PENDING
        self.m.status[order.id] = order.status

    def _pick(self, ref: int) -> tuple[int, Order] | None:
        return self.m.orders[ref % len(self.m.orders)] if self.m.orders else None

    def pay(self, ref: int, *, fresh: bool) -> None:
        picked = self._pick(ref)
        if picked is None or picked[1].payment_provider == "balance":
            return
        order_id, order = picked
        repeat = not fresh and order_id in self.m.notification
        params = self.m.notification[order_id] if repeat else sandbox_notification(self.providers, order)
        self.m.notification.setdefault(order_id, params)
        with self.db.transaction() as s:
            verdict = checkout.accept_notification(s, provider_name="sandbox", params=params, terms=self.providers)
        if repeat:
            expected = "duplicate"
        elif self.m.status[order_id] == rules.PENDING:
            expected = "accepted"
            self.m.status[order_id] = rules.DELIVERED
        else:
            expected = "late"  # expired, cancelled, or paid a second time
        assert verdict == expected, (verdict, expected, self.m.status[order_id])
        event(f"notification {verdict}")

    def cancel(self, ref: int) -> None:
        picked = self._pick(ref)
        if picked is None:
            return
        order_id, order = picked
        try:
            with self.db.transaction() as s:
                checkout.cancel(s, s.get_one(Order, order_id), actor="property")
        except IllegalTransition:
            assert self.m.status[order_id] != rules.PENDING
            return
        assert self.m.status[order_id] == rules.PENDING
        self.m.status[order_id] = rules.CANCELLED
        self.m.available += order.quantity

    def expire(self, ref: int) -> None:
        picked = self._pick(ref)
        if picked is None:
            return
        order_id, order = picked
        with self.db.transaction() as s:
            backdate_hold(s, order_id)
        with self.db.transaction() as s:
            expired = checkout.expire_due(s)
        if self.m.status[order_id] == rules.PENDING:
            assert expired == 1
            self.m.status[order_id] = rules.EXPIRED
            self.m.available += order.quantity
        else:
            assert expired == 0


def check_invariants(db: Database, m: Model) -> None:
    with db.transaction(write=False) as s:
        keys = s.execute(select(CardKey.status, CardKey.order_id).where(CardKey.product_id == m.product_id)).all()
        statuses = dict(s.execute(select(Order.id, Order.status).where(Order.product_id == m.product_id)).tuples().all())
        quantities = dict(s.execute(select(Order.id, Order.quantity).where(Order.product_id == m.product_id)).tuples().all())
        order_ids = list(statuses)
        succeeded = s.scalar(
            select(func.count()).select_from(Payment).where(Payment.order_id.in_(order_ids), Payment.status == "succeeded")
        )
        books = ledger.check_books(s)
        wallet = ledger.wallet(s, m.buyer_id, "CNY").balance_minor

    by_status = Counter(status for status, _ in keys)
    assert len(keys) == STOCK  # every imported key is still there, in exactly one state
    assert set(by_status) <= {"available", "reserved", "sold"}
    assert by_status["available"] == m.available >= 0
    assert all(order_id is None for status, order_id in keys if status == "available")

    sold_per_order = Counter(order_id for status, order_id in keys if status == "sold")
    reserved_per_order = Counter(order_id for status, order_id in keys if status == "reserved")
    delivered = {oid for oid, status in statuses.items() if status == rules.DELIVERED}
    pending = {oid for oid, status in statuses.items() if status == rules.PENDING}
    # A sold key belongs to exactly one delivered order, which holds exactly its quantity.
    assert set(sold_per_order) == delivered
    assert all(sold_per_order[oid] == quantities[oid] for oid in delivered)
    assert by_status["sold"] == sum(quantities[oid] for oid in delivered)
    assert set(reserved_per_order) == pending
    assert all(reserved_per_order[oid] == quantities[oid] for oid in pending)

    assert statuses == m.status
    assert succeeded == len(delivered)
    assert wallet == m.wallet
    assert books.ok, books


@settings(
    max_examples=25,
    deadline=None,
    database=None,  # no example database written into the checkout
    # The database fixtures are shared by the examples on purpose; each example makes its own product and buyer state.
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(first_quantity=st.integers(min_value=1, max_value=4), operations=OPERATIONS)
def test_random_operation_sequences_keep_stock_and_books_consistent(
    db: Database, vault: Vault, providers: Terms, first_quantity: int, operations: list[tuple[str, int]]
) -> None:
    with db.transaction() as s:
        product = make_product(s, vault, price_minor=PRICE, max_per_order=4)
        import_keys(s, vault, product.id, STOCK)
        buyer = make_user(s)
        ledger.credit_wallet(s, user_id=buyer.id, amount_minor=WALLET_FUNDS, currency="CNY", ref=f"topup-{buyer.id}")
    model = Model(product_id=product.id, buyer_id=buyer.id, wallet=WALLET_FUNDS)
    run = Run(db, providers, model)
    check_invariants(db, model)
    run.place(first_quantity)
    for name, arg in operations:
        if name == "place":
            run.place(1 + arg % 4)
        elif name == "place_wallet":
            run.place(1 + arg % 2, wallet=True)
        elif name in ("pay", "pay_again"):
            run.pay(arg, fresh=name == "pay_again")
        elif name == "cancel":
            run.cancel(arg)
        else:
            run.expire(arg)
        check_invariants(db, model)
