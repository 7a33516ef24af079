"""Booking a sale's split, the settlement hold, and reversing it all on refund.

A sale is one transaction: the payer's account pays the whole amount; the
platform, the supplier and every earner (seller profit, each upline's
commission) receive their exact shares. Earners are credited to their
*pending* account with a ``Hold`` row; the worker releases matured holds to the
wallet. A refund books the mirror image of the sale, taking released earnings
back from wallets even if that leaves a debt.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import insert, select, update
from sqlalchemy.orm import Session

from keyrelay.kit.clock import utcnow
from keyrelay.kit.db import table_of
from keyrelay.ledger import errors
from keyrelay.ledger import service as ledger
from keyrelay.ledger.models import Account, Hold, Posting, Transaction


@dataclass(frozen=True)
class Payout:
    """One beneficiary of a sale: ``to`` is platform, supplier or earner (a user with a wallet)."""

    to: str
    amount: int
    user_id: int | None = None
    role: str = ""


def book_sale(
    session: Session,
    *,
    ref: str,
    order_id: int,
    currency: str,
    payer: Account,
    payouts: Sequence[Payout],
    release_at: datetime,
    memo: str = "",
) -> int | None:
    """Book the whole split in one balanced transaction; earners' shares go on hold.

    A sale of nothing (a free product at every level) moves no money: no
    transaction is booked, and None comes back.
    """
    total = sum(p.amount for p in payouts)
    if total == 0:
        return None
    paid = [p for p in payouts if p.amount]
    found = ledger.accounts(session, [_payout_account(p) for p in paid], currency)
    legs = [ledger.Leg(payer, -total), *(ledger.Leg(found[_payout_account(p).code], p.amount) for p in paid)]
    txn = ledger.post(session, kind="sale", ref=ref, legs=legs, memo=memo)
    holds = [
        {
            "user_id": p.user_id,
            "order_id": order_id,
            "amount_minor": p.amount,
            "currency": currency,
            "role": p.role,
            "release_at": release_at,
        }
        for p in paid
        if p.to == "earner"
    ]
    if holds:
        session.connection().execute(_INSERT_HOLDS, holds)
    return txn


_INSERT_HOLDS = insert(table_of(Hold))


def _payout_account(payout: Payout) -> ledger.AccountSpec:
    if payout.to == "platform":
        return ledger.PLATFORM_REVENUE
    assert payout.user_id is not None, "supplier and earner payouts name a user"
    if payout.to == "supplier":
        return ledger.supplier_payable_spec(payout.user_id)
    return ledger.pending_spec(payout.user_id)


def release_due(session: Session, *, now: datetime | None = None, limit: int = 500) -> int:
    """Move matured holds from pending to available; safe with several workers."""
    due = session.scalars(
        select(Hold)
        .where(Hold.status == "pending", Hold.release_at <= (now or utcnow()))
        .order_by(Hold.id)
        .limit(limit)
        .with_for_update(skip_locked=True)
    ).all()
    for hold in due:
        claimed = session.execute(update(Hold).where(Hold.id == hold.id, Hold.status == "pending").values(status="released"))
        if claimed.rowcount != 1:  # type: ignore[attr-defined]
            continue
        pending = ledger.pending_account(session, hold.user_id, hold.currency)
        wallet = ledger.wallet(session, hold.user_id, hold.currency)
        ledger.post(
            session,
            kind="release",
            ref=f"hold:{hold.id}",
            legs=[ledger.Leg(pending, -hold.amount_minor), ledger.Leg(wallet, hold.amount_minor)],
        )
    return len(due)


def refund_sale(session: Session, *, sale_ref: str, order_id: int, memo: str = "") -> int:
    """Book the exact reverse of the sale ``sale_ref``; released earnings are clawed back.

    The payer's account gets the whole amount back (the buyer's wallet, or the
    gateway's clearing account from which the gateway refund is paid).
    """
    sale = session.scalar(select(Transaction).where(Transaction.kind == "sale", Transaction.ref == sale_ref))
    if sale is None:
        raise errors.NO_SALE(ref=sale_ref)
    postings = session.scalars(select(Posting).where(Posting.transaction_id == sale.id).order_by(Posting.id)).all()
    # Lock the holds: the release worker skips locked rows, so a hold cannot be released mid-refund.
    holds = {h.user_id: h for h in session.scalars(select(Hold).where(Hold.order_id == order_id).with_for_update())}
    legs = []
    for posting in postings:
        target = session.get(Account, posting.account_id)
        assert target is not None
        allow_negative = False
        if target.kind == "pending" and target.owner_user_id in holds:
            hold = holds[target.owner_user_id]
            if hold.status == "released":  # already withdrawable: claw back from the wallet, debt if need be
                target, allow_negative = ledger.wallet(session, hold.user_id, hold.currency), True
            hold.status = "reversed"
        legs.append(ledger.Leg(target, -posting.amount_minor, allow_negative=allow_negative))
    return ledger.post(session, kind="refund", ref=sale_ref, legs=legs, memo=memo)


def pending_total(session: Session, user_id: int, currency: str) -> int:
    return ledger.balance(session, ledger.pending_account(session, user_id, currency).id)
