"""Races made to happen with real threads at the service layer (both backends).

Expected conflicts must come out as typed errors (4xx at the edge), never as a
database IntegrityError (a 500): first purchases racing to create the
distributor's "Wholesale" channel, two shops racing for one address, many
purchases racing for one wallet.
"""

from __future__ import annotations

import threading
from collections import Counter
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor

import pytest
from factories import unique
from sqlalchemy import func, select

from keyrelay.checkout import Terms
from keyrelay.distribution import network
from keyrelay.distribution.models import Channel, Distributor
from keyrelay.kit.db import Database
from keyrelay.kit.errors import DomainError
from keyrelay.kit.vault import Vault
from keyrelay.ledger import service as ledger

from .network_factories import (
    buy_wholesale,
    fast_passwords,
    invite,
    join,
    level_price,
    make_distributor,
    make_network_product,
    make_operator,
    top_up,
)

__all__ = ["fast_passwords"]
pytestmark = pytest.mark.usefixtures("fast_passwords")


def race(count: int, attempt: Callable[[int], None]) -> Counter[str]:
    """Run ``attempt`` in ``count`` threads released together; tally ``ok`` or the error code."""
    barrier = threading.Barrier(count, timeout=30)

    def run(i: int) -> str:
        barrier.wait()
        try:
            attempt(i)
        except DomainError as exc:
            return exc.code
        return "ok"

    with ThreadPoolExecutor(count) as pool:
        return Counter(pool.map(run, range(count)))


def test_first_wholesale_purchases_race_for_one_wallet(db: Database, vault: Vault, providers: Terms) -> None:
    with db.transaction() as s:
        op = make_operator(s).id
        buyer = make_distributor(s, None, operator_id=op)
        product = make_network_product(s, vault, supply=600, price=1000, map_price=900, keys=20)
        level_price(s, 1, product, "markup_pct", 2500)  # 750
        top_up(s, buyer.user_id, 3 * 750)

    def buy(_: int) -> None:
        with db.transaction() as s:
            buy_wholesale(s, providers, network.get(s, buyer.id), product.id)

    assert race(8, buy) == Counter({"ok": 3, "insufficient_balance": 5})
    with db.transaction() as s:
        assert ledger.wallet_summary(s, buyer.user_id, "CNY").available == 0
        mine = select(func.count()).select_from(Channel).where(Channel.distributor_id == buyer.id, Channel.name == "Wholesale")
        assert s.scalar(mine) == 1
        assert ledger.check_books(s).ok


def test_two_shops_racing_for_one_address(db: Database) -> None:
    with db.transaction() as s:
        op = make_operator(s).id
        codes = [invite(s, None, operator_id=op) for _ in range(4)]
    slug = unique("wanted")

    def claim(i: int) -> None:
        with db.transaction() as s:
            join(s, codes[i], slug=slug)

    assert race(4, claim) == Counter({"ok": 1, "shop_address_taken": 3})
    with db.transaction(write=False) as s:
        assert s.scalar(select(func.count()).select_from(Distributor).where(Distributor.slug == slug)) == 1
