"""Operator API for the network and the money: tree, approvals, level prices, withdrawals, refunds."""

from __future__ import annotations

from dataclasses import asdict
from typing import Annotated

from fastapi import APIRouter, Query, Request

from keyrelay import checkout
from keyrelay.catalog import service as catalog
from keyrelay.distribution import network, prices, reach
from keyrelay.ledger import reading, withdrawals
from keyrelay.ledger import service as ledger
from keyrelay.orders import service as orders
from keyrelay.web import codes
from keyrelay.web.api.v1.distributor import explain_out
from keyrelay.web.api.v1.network_schemas import (
    AccountBalanceOut,
    AdminInviteIn,
    DistributorOut,
    ExplainOut,
    InviteOut,
    JoinIn,
    LevelPriceIn,
    PriceRuleOut,
    RefundIn,
    StatementLineOut,
    StatusChangeIn,
    WalletSummaryOut,
    WithdrawalDecisionIn,
    WithdrawalOut,
)
from keyrelay.web.api.v1.schemas import OrderOut
from keyrelay.web.auth import GuardedRoute, Operator
from keyrelay.web.state import base_url, client_ip, state_of
from keyrelay.web.uow import ReadSession, WriteSession

router = APIRouter(prefix="/admin", tags=["admin network"], route_class=GuardedRoute)
public = APIRouter(tags=["distributor"], route_class=GuardedRoute)


@public.post("/join", response_model=DistributorOut, status_code=201)
def join(body: JoinIn, request: Request, session: WriteSession) -> DistributorOut:
    """Redeem an invite: creates the distributor account (pending if the invite needs approval)."""
    st = state_of(request)
    joined = network.join(
        session,
        network.JoinRequest(code=body.code, email=body.email, password=body.password, name=body.name, slug=body.slug),
        max_depth=st.settings.distribution_max_depth,
    )
    return DistributorOut.of(joined)


@router.get("/distributors", response_model=list[DistributorOut])
def tree(who: Operator, session: ReadSession) -> list[DistributorOut]:
    """The whole network, parents before children."""
    return [DistributorOut.of(d) for d in reach.of(session, who).downline(session)]


@router.post("/distributors/{distributor_id}/{action}", response_model=DistributorOut)
def change_status(
    distributor_id: int, action: Annotated[str, "approve | suspend | reinstate"], body: StatusChangeIn, who: Operator, request: Request
) -> DistributorOut:
    """approve (pending → active), suspend (stops its sub-site and purchases at once), reinstate."""
    target = {"approve": "active", "reinstate": "active", "suspend": "suspended"}.get(action)
    if target is None:
        raise codes.UNKNOWN_ACTION(action=action)
    with state_of(request).db.transaction() as session:
        changed = network.set_status(session, distributor_id, target, actor=network.Actor(who.user_id, who.role), reason=body.reason)
        return DistributorOut.of(changed)


@router.post("/invites", response_model=InviteOut, status_code=201)
def create_invite(body: AdminInviteIn, who: Operator, request: Request, session: WriteSession) -> InviteOut:
    """An invite link for a level-1 distributor, or one under ``parent_id``."""
    st = state_of(request)
    invite = network.create_invite(
        session,
        network.Actor(who.user_id, who.role),
        parent_id=body.parent_id,
        max_uses=body.max_uses,
        ttl_hours=body.ttl_hours,
        requires_approval=body.requires_approval,
        max_depth=st.settings.distribution_max_depth,
    )
    return InviteOut.of(invite, base_url(request))


@router.get("/level-prices", response_model=list[PriceRuleOut])
def list_level_prices(who: Operator, session: ReadSession) -> list[PriceRuleOut]:
    """What each distributor level pays the platform (per product and defaults)."""
    return [PriceRuleOut(level=r.level, product_id=r.product_id, rule=r.rule, value=r.value) for r in prices.level_rules(session)]


@router.put("/level-prices", response_model=PriceRuleOut)
def set_level_price(body: LevelPriceIn, who: Operator, request: Request, session: WriteSession) -> PriceRuleOut:
    """What a level-k distributor pays the platform (per product, or the level's default markup)."""
    st = state_of(request)
    product = catalog.get_product(session, body.product_id) if body.product_id else None
    row = prices.set_level_price(
        session,
        level=body.level,
        product=product,
        rule=body.rule,
        value=body.value,
        max_depth=st.settings.distribution_max_depth,
        actor=who.actor,
    )
    return PriceRuleOut(level=row.level, product_id=row.product_id, rule=row.rule, value=row.value)


@router.get("/prices/explain", response_model=ExplainOut)
def explain(who: Operator, session: ReadSession, distributor_id: int, product_id: int) -> ExplainOut:
    """The price chain of one product for one distributor: who pays and earns what per unit."""
    return explain_out(session, reach.of(session, who).distributor(session, distributor_id), product_id)


@router.get("/withdrawals", response_model=list[WithdrawalOut])
def withdrawal_queue(who: Operator, session: ReadSession, status: str | None = "requested") -> list[WithdrawalOut]:
    """Payout requests to decide (``status`` empty: all)."""
    return [WithdrawalOut.of(w) for w in reading.readable_withdrawals(session, reach.of(session, who), status=status or None)]


@router.post("/withdrawals/{withdrawal_id}/{decision}", response_model=WithdrawalOut)
def decide_withdrawal(withdrawal_id: int, decision: str, body: WithdrawalDecisionIn, who: Operator, request: Request) -> WithdrawalOut:
    """approve, reject (unlocks the money) or paid (needs the payout ``reference``)."""
    with state_of(request).db.transaction() as session:
        op, actor, ip = who.user_id, who.actor, client_ip(request)
        if decision == "approve":
            item = withdrawals.approve(session, withdrawal_id, operator_id=op, actor=actor, ip=ip)
        elif decision == "reject":
            item = withdrawals.reject(session, withdrawal_id, operator_id=op, note=body.note, actor=actor, ip=ip)
        elif decision == "paid":
            item = withdrawals.mark_paid(session, withdrawal_id, operator_id=op, reference=body.reference, actor=actor, ip=ip)
        else:
            raise codes.UNKNOWN_DECISION(decision=decision)
        return WithdrawalOut.of(item)


@router.get("/accounts/{user_id}", response_model=WalletSummaryOut)
def account_summary(user_id: int, who: Operator, session: ReadSession, currency: str = "CNY") -> WalletSummaryOut:
    """A user's available, pending and locked money in one currency."""
    s = ledger.wallet_summary(session, user_id, currency.upper())
    return WalletSummaryOut(currency=s.currency, available_minor=s.available, pending_minor=s.pending, locked_minor=s.locked)


@router.get("/accounts/{user_id}/statement", response_model=list[StatementLineOut])
def account_statement(
    user_id: int,
    who: Operator,
    session: ReadSession,
    currency: str = "CNY",
    account: Annotated[str, Query(pattern="^(available|pending)$")] = "available",
) -> list[StatementLineOut]:
    """Ledger lines of a user's available or pending account."""
    return [
        StatementLineOut(transaction_id=t.id, kind=t.kind, ref=t.ref, memo=t.memo, amount_minor=amount, at=t.created_at)
        for t, amount in ledger.user_statement(session, user_id, currency.upper(), account=account)
    ]


@router.get("/ledger/accounts", response_model=list[AccountBalanceOut])
def trial_balance(who: Operator, session: ReadSession) -> list[AccountBalanceOut]:
    """Reconciliation: every account's balance derived from its postings; they sum to zero per currency."""
    return [AccountBalanceOut(**asdict(row)) for row in ledger.trial_balance(session)]


@router.post("/orders/{number}/refund", response_model=OrderOut)
def refund_order(number: str, body: RefundIn, who: Operator, request: Request, session: WriteSession) -> OrderOut:
    """Refund a paid order: the whole split is reversed, uplines included."""
    order = orders.get_by_number(session, number)
    checkout.refund(session, order, actor=who.actor, reason=body.reason, terms=state_of(request).terms)
    return OrderOut.of(order)
