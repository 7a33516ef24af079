"""The distributor tree through its use cases: invites, joining, depth, approval, suspension, slugs."""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta

import pytest
from factories import unique
from sqlalchemy import func, select, update

from keyrelay.checkout import Terms
from keyrelay.distribution import network
from keyrelay.distribution.models import Channel, Distributor, Invite
from keyrelay.identity.models import User
from keyrelay.kit.clock import utcnow
from keyrelay.kit.db import Database
from keyrelay.kit.errors import Conflict, Forbidden, ValidationFailed
from keyrelay.kit.vault import Vault
from keyrelay.orders.models import Order

from .network_factories import (
    buy_wholesale,
    fast_passwords,
    invite,
    join,
    make_chain,
    make_distributor,
    make_network_product,
    make_operator,
    place_hosted,
    top_up,
)

__all__ = ["fast_passwords"]
pytestmark = pytest.mark.usefixtures("fast_passwords")


def _operator(db: Database) -> int:
    with db.transaction() as s:
        return make_operator(s).id


def _count(db: Database, model: type, *where: object) -> int:
    with db.transaction(write=False) as s:
        return int(s.scalar(select(func.count()).select_from(model).where(*where)) or 0)  # type: ignore[arg-type]


def test_operator_invite_joins_level_1_and_level_1_invites_level_2(db: Database) -> None:
    op = _operator(db)
    with db.transaction() as s:
        top = join(s, invite(s, None, operator_id=op))
        child = join(s, invite(s, top, operator_id=op))
    assert (top.level, top.parent_id, top.path, top.status) == (1, None, f"/{top.id}/", "active")
    assert (child.level, child.parent_id, child.path) == (2, top.id, f"/{top.id}/{child.id}/")
    with db.transaction(write=False) as s:
        assert s.get(User, child.user_id).role == "distributor"  # type: ignore[union-attr]
        assert [d.id for d in network.downline(s, network.get(s, top.id))] == [child.id]
        assert [c.kind for c in s.scalars(select(Channel).where(Channel.distributor_id == child.id))] == ["subsite"]


def test_level_3_cannot_invite_a_fourth_level(db: Database) -> None:
    op = _operator(db)
    with db.transaction() as s:
        _, _, third = make_chain(s, op, 3)
    invites_before = _count(db, Invite)
    with pytest.raises(ValidationFailed) as refused, db.transaction() as s:
        invite(s, third, operator_id=op)
    assert refused.value.field == "parent_id"
    assert _count(db, Invite) == invites_before
    # The operator cannot slip one in under level 3 either.
    with pytest.raises(ValidationFailed), db.transaction() as s:
        network.create_invite(s, network.Actor(op, "operator"), parent_id=third.id, max_depth=3)


def test_a_distributor_invites_only_under_itself(db: Database) -> None:
    op = _operator(db)
    with db.transaction() as s:
        a1, a2 = make_chain(s, op, 2)
    with pytest.raises(Forbidden), db.transaction() as s:
        network.create_invite(s, network.Actor(a2.user_id, "distributor"), parent_id=a1.id, max_depth=3)


def test_invite_used_twice_is_a_conflict(db: Database) -> None:
    op = _operator(db)
    with db.transaction() as s:
        code = invite(s, None, operator_id=op)
        join(s, code)
    before = _count(db, Distributor), _count(db, User)
    with pytest.raises(Conflict) as second, db.transaction() as s:
        join(s, code)
    assert second.value.field == "code"
    assert (_count(db, Distributor), _count(db, User)) == before


def test_expired_invite_is_a_conflict(db: Database) -> None:
    op = _operator(db)
    with db.transaction() as s:
        code = invite(s, None, operator_id=op)
        s.execute(update(Invite).where(Invite.code == code).values(expires_at=utcnow() - timedelta(seconds=1)))
    with pytest.raises(Conflict), db.transaction() as s:
        join(s, code)
    assert _count(db, Distributor) == 0
    with db.transaction(write=False) as s:
        assert s.scalar(select(Invite.uses).where(Invite.code == code)) == 0


def test_concurrent_redemption_of_a_single_use_invite_makes_one_distributor(db: Database) -> None:
    op = _operator(db)
    with db.transaction() as s:
        code = invite(s, None, operator_id=op)
    barrier = threading.Barrier(5, timeout=30)

    def redeem(i: int) -> str:
        barrier.wait()
        try:
            with db.transaction() as s:
                join(s, code, slug=unique("race"))
        except Conflict:
            return "conflict"
        return "joined"

    with ThreadPoolExecutor(5) as pool:
        verdicts = sorted(pool.map(redeem, range(5)))
    assert verdicts == ["conflict"] * 4 + ["joined"]
    assert _count(db, Distributor) == 1
    with db.transaction(write=False) as s:
        assert s.scalar(select(Invite.uses).where(Invite.code == code)) == 1


def test_pending_distributor_cannot_buy_until_approved(db: Database, vault: Vault, providers: Terms) -> None:
    op = _operator(db)
    with db.transaction() as s:
        pending = make_distributor(s, None, operator_id=op, requires_approval=True)
        product = make_network_product(s, vault)
        top_up(s, pending.user_id, 50_000)
    assert pending.status == "pending"
    with pytest.raises(Forbidden), db.transaction() as s:
        buy_wholesale(s, providers, pending, product.id)
    with pytest.raises(Forbidden), db.transaction() as s:
        place_hosted(s, providers, pending, product.id)
    with pytest.raises(Forbidden), db.transaction() as s:
        invite(s, pending, operator_id=op)
    assert _count(db, Order) == 0
    with db.transaction() as s:
        network.set_status(s, pending.id, "active", actor=network.Actor(op, "operator"))
    with db.transaction() as s:
        order = buy_wholesale(s, providers, network.get(s, pending.id), product.id)
    assert order.status == "delivered"


def test_suspension_stops_wholesale_and_sub_site_sales_at_once(db: Database, vault: Vault, providers: Terms) -> None:
    op = _operator(db)
    with db.transaction() as s:
        top, child = make_chain(s, op, 2)
        product = make_network_product(s, vault)
        top_up(s, child.user_id, 50_000)
        place_hosted(s, providers, child, product.id)  # sells fine while active
    with db.transaction() as s:
        network.set_status(s, child.id, "suspended", actor=network.Actor(op, "operator"), reason="test")
    orders_before = _count(db, Order)
    with pytest.raises(Forbidden), db.transaction() as s:
        buy_wholesale(s, providers, child, product.id)
    with pytest.raises(Forbidden), db.transaction() as s:
        place_hosted(s, providers, child, product.id)
    assert _count(db, Order) == orders_before
    with db.transaction() as s:  # the parent is untouched
        place_hosted(s, providers, top, product.id)
    with db.transaction() as s:
        network.set_status(s, child.id, "active", actor=network.Actor(op, "operator"))
        place_hosted(s, providers, network.get(s, child.id), product.id)
    assert _count(db, Order) == orders_before + 2


def test_duplicate_slug_is_a_conflict_and_reserved_slug_is_refused(db: Database) -> None:
    op = _operator(db)
    slug = unique("taken")
    with db.transaction() as s:
        join(s, invite(s, None, operator_id=op), slug=slug)
        spare = invite(s, None, operator_id=op)
    with pytest.raises(Conflict) as taken, db.transaction() as s:
        join(s, spare, slug=slug.upper())
    assert taken.value.field == "slug"
    for bad in ("admin", "api", "join", "a", "-x-", "bad slug", "double--hyphen"):
        with pytest.raises(ValidationFailed) as refused, db.transaction() as s:
            join(s, spare, slug=bad)
        assert refused.value.field == "slug"
    assert _count(db, Distributor) == 1
    with db.transaction(write=False) as s:  # the refused joins did not use the invite up
        assert s.scalar(select(Invite.uses).where(Invite.code == spare)) == 0
