"""Withdrawals: request (locks the money), approve or reject, mark paid with a reference."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session

from keyrelay.audit.service import record
from keyrelay.kit.states import move_row
from keyrelay.ledger import errors, rules
from keyrelay.ledger import service as ledger
from keyrelay.ledger.models import Withdrawal

__all__ = ["Withdrawal", "approve", "get", "list_for", "mark_paid", "reject", "request"]


def request(session: Session, *, user_id: int, amount_minor: int, currency: str, payee: str, minimum: int) -> Withdrawal:
    """Lock ``amount`` of the user's available balance for payout."""
    if isinstance(amount_minor, bool) or not isinstance(amount_minor, int) or amount_minor <= 0:
        raise errors.BAD_AMOUNT(field="amount_minor")
    if amount_minor < minimum:
        raise errors.BELOW_MINIMUM_WITHDRAWAL(field="amount_minor", minimum_minor=minimum)
    if not payee.strip():
        raise errors.PAYEE_MISSING(field="payee")
    item = Withdrawal(user_id=user_id, amount_minor=amount_minor, currency=currency, payee=payee.strip()[:500])
    session.add(item)
    session.flush()
    wallet = ledger.wallet(session, user_id, currency)
    locked = ledger.withdrawing_account(session, user_id, currency)
    # The wallet leg refuses to go below zero, so "≤ available" is enforced atomically.
    ledger.post(
        session, kind="withdraw_lock", ref=f"wd:{item.id}", legs=[ledger.Leg(wallet, -amount_minor), ledger.Leg(locked, amount_minor)]
    )
    return item


def get(session: Session, withdrawal_id: int, *, user_id: int | None = None) -> Withdrawal:
    item = session.get(Withdrawal, withdrawal_id)
    if item is None or (user_id is not None and item.user_id != user_id):
        raise errors.NOT_FOUND(resource="withdrawal", id=withdrawal_id)
    return item


def _move(session: Session, item: Withdrawal, target: str, decided_by: int, **values: object) -> None:
    move_row(session, item, rules.WITHDRAWAL, target, decided_by=decided_by, **values)


def _audit(session: Session, item: Withdrawal, action: str, *, operator_id: int, actor: str | None, ip: str, **detail: object) -> None:
    """One audit row per decision, in its transaction: who decided which withdrawal, for how much."""
    record(
        session,
        actor=actor or f"user:{operator_id}",
        action=action,
        target_type="withdrawal",
        target_id=str(item.id),
        ip=ip,
        user_id=item.user_id,
        amount_minor=item.amount_minor,
        currency=item.currency,
        **detail,
    )


def approve(session: Session, withdrawal_id: int, *, operator_id: int, actor: str | None = None, ip: str = "") -> Withdrawal:
    """Agree to pay out; the money stays locked until it is marked paid (``actor`` defaults to the operator)."""
    item = get(session, withdrawal_id)
    _move(session, item, "approved", operator_id)
    _audit(session, item, "withdrawal.approve", operator_id=operator_id, actor=actor, ip=ip)
    return item


def reject(session: Session, withdrawal_id: int, *, operator_id: int, note: str = "", actor: str | None = None, ip: str = "") -> Withdrawal:
    """Refuse the payout and unlock the money back to the wallet."""
    item = get(session, withdrawal_id)
    _move(session, item, "rejected", operator_id, note=note[:500])
    locked = ledger.withdrawing_account(session, item.user_id, item.currency)
    wallet = ledger.wallet(session, item.user_id, item.currency)
    ledger.post(
        session,
        kind="withdraw_unlock",
        ref=f"wd:{item.id}",
        legs=[ledger.Leg(locked, -item.amount_minor), ledger.Leg(wallet, item.amount_minor)],
    )
    _audit(session, item, "withdrawal.reject", operator_id=operator_id, actor=actor, ip=ip, note=item.note)
    return item


def mark_paid(
    session: Session, withdrawal_id: int, *, operator_id: int, reference: str, actor: str | None = None, ip: str = ""
) -> Withdrawal:
    """Record that the money left (bank/gateway ``reference``); the locked funds leave the books."""
    if not reference.strip():
        raise errors.REFERENCE_MISSING(field="reference")
    item = get(session, withdrawal_id)
    _move(session, item, "paid", operator_id, reference=reference.strip()[:120])
    locked = ledger.withdrawing_account(session, item.user_id, item.currency)
    payouts = ledger.account(session, "clearing:payouts", kind="clearing", currency=item.currency)
    ledger.post(
        session,
        kind="withdraw_paid",
        ref=f"wd:{item.id}",
        legs=[ledger.Leg(locked, -item.amount_minor), ledger.Leg(payouts, item.amount_minor)],
    )
    _audit(session, item, "withdrawal.mark_paid", operator_id=operator_id, actor=actor, ip=ip, reference=item.reference)
    return item


def list_for(session: Session, *, user_id: int | None = None, status: str | None = None, limit: int = 100) -> list[Withdrawal]:
    query = select(Withdrawal).order_by(Withdrawal.id.desc()).limit(limit)
    if user_id is not None:
        query = query.where(Withdrawal.user_id == user_id)
    if status:
        query = query.where(Withdrawal.status == status)
    return list(session.scalars(query))
