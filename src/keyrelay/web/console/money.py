"""Operator pages for money that leaves or sits in the books: the withdrawal queue and account statements."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from sqlalchemy.orm import Session

from keyrelay.distribution import reach
from keyrelay.identity import errors as identity_errors
from keyrelay.identity import service as identity
from keyrelay.identity.models import User
from keyrelay.kit.errors import DomainError, NotFound
from keyrelay.kit.money import CURRENCY
from keyrelay.ledger import reading, withdrawals
from keyrelay.ledger import service as ledger
from keyrelay.web import codes
from keyrelay.web.console import forms, inputs, wording
from keyrelay.web.console.guard import ConsoleRoute
from keyrelay.web.console.session import operator
from keyrelay.web.console.views import page
from keyrelay.web.state import client_ip, state_of

router = APIRouter(route_class=ConsoleRoute)
QUEUES = {"open": ("requested", "approved"), "paid": ("paid",), "rejected": ("rejected",)}
"""Tabs of the queue: "open" is the work waiting (to approve, then to pay)."""
DONE = {"approve": "approved", "reject": "rejected", "paid": "paid"}
STATEMENT_ACCOUNTS = ("available", "pending")


def _queue_page(request: Request, *, status_code: int = 200, **extra: Any) -> HTMLResponse:
    tab = request.query_params.get("status", "open")
    tab = tab if tab in QUEUES else "open"
    with state_of(request).db.transaction(write=False) as session:
        everyone = reach.of(session, operator(request))
        items = [item for status in QUEUES[tab] for item in reading.readable_withdrawals(session, everyone, status=status, limit=200)]
        people = _emails(session, {item.user_id for item in items})
    return page(
        request,
        "console/withdrawals.html",
        status_code=status_code,
        section="withdrawals",
        items=sorted(items, key=lambda item: item.id),
        people=people,
        tab=tab,
        tabs=tuple(QUEUES),
        flash_code=request.query_params.get("done", ""),
        **extra,
    )


def _emails(session: Session, user_ids: set[int]) -> dict[int, str]:
    return {uid: identity.get_user(session, uid).email for uid in sorted(user_ids)}


@router.get("/withdrawals", response_class=HTMLResponse)
def queue(request: Request) -> HTMLResponse:
    """Oldest first: requests wait for approval, approved ones for the payout and its reference."""
    return _queue_page(request)


@router.post("/withdrawals/{withdrawal_id}/{decision}")
def decide(request: Request, withdrawal_id: inputs.PathId, decision: str, form: forms.Posted) -> Response:
    """approve; reject with a note (the money goes back to the wallet); paid with the payout reference."""
    me = operator(request)
    try:
        with state_of(request).db.transaction() as session:
            op, actor, ip = me.user_id, me.actor, client_ip(request)
            if decision == "approve":
                item = withdrawals.approve(session, withdrawal_id, operator_id=op, actor=actor, ip=ip)
            elif decision == "reject":
                note = forms.text(form, "note").strip()
                item = withdrawals.reject(session, withdrawal_id, operator_id=op, note=note, actor=actor, ip=ip)
            elif decision == "paid":
                reference = forms.text(form, "reference")
                item = withdrawals.mark_paid(session, withdrawal_id, operator_id=op, reference=reference, actor=actor, ip=ip)
            else:
                raise codes.UNKNOWN_DECISION(decision=decision)
            currency = item.currency
    except DomainError as exc:
        if exc.code == "not_found":
            raise
        problem = wording.reword(request, exc, state_of(request).settings.currency)
        return _queue_page(request, status_code=exc.status, problem=problem, problem_id=withdrawal_id)
    return RedirectResponse(f"/admin/withdrawals?done={DONE[decision]}&currency={currency}", status_code=303)


def _find_user(session: Session, who: str) -> User:
    """An id (digits, optionally ``#``-prefixed) or an e-mail address, as operators type them."""
    who = who.strip().removeprefix("#")
    if not who:
        raise codes.USER_MISSING(field="user")
    if who.isdigit():
        found = inputs.parse_id(who)
        if found is None:
            raise identity_errors.USER_NOT_FOUND(field="user")
        return identity.get_user(session, found)
    return identity.get_user_by_email(session, who)


@router.get("/books/statement", response_class=HTMLResponse)
def statement(request: Request, user: str = "", account: str = "available", currency: str = "") -> HTMLResponse:
    """One user's balances and the newest postings of their available or pending account."""
    st = state_of(request)
    currency = currency.strip().upper() or st.settings.currency
    account = account if account in STATEMENT_ACCOUNTS else "available"
    form = {"user": user, "account": account, "currency": currency}
    if not CURRENCY.match(currency):
        errors = {"currency": forms.FieldError("currency", "use a currency code such as CNY")}
        return page(request, "console/statement.html", status_code=422, section="books", form=form, errors=errors)
    try:
        with st.db.transaction(write=False) as session:
            found = _find_user(session, user)
            summary = ledger.wallet_summary(session, found.id, currency)
            lines = ledger.user_statement(session, found.id, currency, account=account, limit=200)
    except NotFound as exc:
        status = 200 if not user.strip() else exc.status
        errors = {} if not user.strip() else {"user": forms.field_error(exc)}
        return page(request, "console/statement.html", status_code=status, section="books", form=form, errors=errors)
    return page(
        request,
        "console/statement.html",
        section="books",
        form=form,
        errors={},
        person=found,
        summary=summary,
        lines=lines,
        accounts=STATEMENT_ACCOUNTS,
    )
