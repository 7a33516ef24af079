"""A distributor's money: balances, the statement of its available and pending accounts, withdrawals."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from keyrelay.distribution import reach
from keyrelay.kit.errors import DomainError
from keyrelay.ledger import reading, withdrawals
from keyrelay.ledger import service as ledger
from keyrelay.web.console import forms, inputs, wording
from keyrelay.web.distributor_console.area import DistributorRoute, me, own, shop_page
from keyrelay.web.state import state_of

router = APIRouter(route_class=DistributorRoute)
ACCOUNTS = ("available", "pending")


def _wallet_page(request: Request, *, status_code: int = 200, **extra: Any) -> HTMLResponse:
    st = state_of(request)
    account = request.query_params.get("account", "available")
    account = account if account in ACCOUNTS else "available"
    user_id, currency = me(request).user_id, st.settings.currency
    with st.db.transaction(write=False) as session:
        shop = own(session, request)
        summary = ledger.wallet_summary(session, user_id, currency)
        lines = ledger.user_statement(session, user_id, currency, account=account, limit=100)
        requests = reading.readable_withdrawals(session, reach.Reach.branch(shop), limit=50)
    extra.setdefault("form", {})
    extra.setdefault("errors", {})
    return shop_page(
        request,
        "distributor/wallet.html",
        shop,
        section="wallet",
        status_code=status_code,
        summary=summary,
        account=account,
        accounts=ACCOUNTS,
        lines=lines,
        requests=requests,
        minimum=st.settings.withdraw_min_minor,
        **extra,
    )


@router.get("/wallet", response_class=HTMLResponse)
def wallet(request: Request) -> HTMLResponse:
    return _wallet_page(request)


@router.post("/withdrawals")
def request_withdrawal(request: Request, form: forms.Posted) -> Response:
    """Ask for a payout: the amount is locked at once and stays locked until the operator pays or rejects it."""
    st = state_of(request)
    errors: forms.Errors = {}
    amount = inputs.amount(form, "amount", st.settings.currency, errors)
    if amount is None:
        return _wallet_page(request, status_code=422, form=form, errors=errors)
    try:
        with st.db.transaction() as session:
            withdrawals.request(
                session,
                user_id=me(request).user_id,
                amount_minor=amount,
                currency=st.settings.currency,
                payee=forms.text(form, "payee"),
                minimum=st.settings.withdraw_min_minor,
            )
    except DomainError as exc:
        # The wallet leg refuses to go below zero: "more than available" arrives as insufficient balance.
        fields = {"amount_minor": "amount", "": "amount"}
        return _wallet_page(
            request, status_code=exc.status, form=form, errors=wording.errors_of(request, exc, st.settings.currency, fields)
        )
    return RedirectResponse("/distributor/wallet?done=requested", status_code=303)
