"""Console pages for people and their money: users (list, create) and wallet credits."""

from __future__ import annotations

from typing import Any
from urllib.parse import urlencode

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from sqlalchemy.orm import Session

from keyrelay.identity import service as identity
from keyrelay.identity.service import ROLES
from keyrelay.kit.errors import DomainError
from keyrelay.kit.money import CURRENCY, MoneyError, parse_decimal
from keyrelay.ledger import service as ledger
from keyrelay.web import codes
from keyrelay.web.console import forms
from keyrelay.web.console.guard import ConsoleRoute
from keyrelay.web.console.session import operator
from keyrelay.web.console.views import page
from keyrelay.web.state import client_ip, state_of

router = APIRouter(route_class=ConsoleRoute)


def _users_page(
    request: Request, *, form: dict[str, Any] | None = None, errors: forms.Errors | None = None, status_code: int = 200
) -> HTMLResponse:
    with state_of(request).db.transaction(write=False) as session:
        users = identity.list_users(session, limit=200)
    return page(
        request,
        "console/users.html",
        status_code=status_code,
        section="users",
        users=users,
        roles=ROLES,
        form=form or {"role": "buyer"},
        errors=errors or {},
        flash_code=request.query_params.get("done", ""),
    )


@router.get("/users", response_class=HTMLResponse)
def users(request: Request) -> HTMLResponse:
    return _users_page(request)


@router.post("/users")
def create_user(request: Request, form: forms.Posted) -> Response:
    """The service checks role, e-mail and password length; its field errors land beside the inputs."""
    try:
        with state_of(request).db.transaction() as session:
            identity.create_user(
                session,
                email=forms.text(form, "email"),
                password=forms.text(form, "password"),
                role=forms.text(form, "role"),
                display_name=forms.text(form, "display_name").strip()[:80],
            )
    except DomainError as exc:
        form.pop("password", None)
        return _users_page(request, form=form, errors=forms.from_domain(exc), status_code=exc.status)
    return RedirectResponse("/admin/users?done=created", status_code=303)


def _wallets_page(request: Request, *, status_code: int = 200, **extra: Any) -> HTMLResponse:
    extra.setdefault("form", {"currency": "CNY"})
    extra.setdefault("errors", {})
    return page(request, "console/wallets.html", status_code=status_code, section="wallets", **extra)


@router.get("/wallets", response_class=HTMLResponse)
def wallets(request: Request) -> HTMLResponse:
    """The credit form; after a credit (redirected here) also the user's new balance."""
    q = request.query_params
    user_id, currency, amount = q.get("user_id", ""), q.get("currency", ""), q.get("amount", "")
    if not (user_id.isdigit() and CURRENCY.match(currency) and amount.isdigit()):
        return _wallets_page(request)
    # A write transaction: reading a wallet creates its (empty) account row if it is missing.
    with state_of(request).db.transaction() as session:
        user = identity.get_user(session, int(user_id))
        account = ledger.wallet(session, user.id, currency)
        session.refresh(account)
    credited = {"user": user, "amount": int(amount), "currency": currency, "balance": account.balance_minor, "ref": q.get("ref", "")[:40]}
    return _wallets_page(request, credited=credited)


def _find_user(session: Session, who: str) -> int:
    """An id (digits, optionally ``#``-prefixed) or an e-mail address, as operators type them."""
    who = who.strip().removeprefix("#")
    if not who:
        raise codes.USER_MISSING(field="user")
    user = identity.get_user(session, int(who)) if who.isdigit() else identity.get_user_by_email(session, who)
    return user.id


@router.post("/wallets")
def credit_wallet(request: Request, form: forms.Posted) -> Response:
    """A balanced top-up plus its audit row in one transaction (both or neither), then redirect.

    Redirecting (not rendering) keeps a browser refresh from posting the credit twice.
    """
    currency = forms.text(form, "currency").strip().upper() or "CNY"
    memo = forms.text(form, "memo").strip()[:200]
    errors: forms.Errors = {}
    if not CURRENCY.match(currency):
        errors["currency"] = forms.FieldError("currency", "use a currency code such as CNY")
    try:
        amount = parse_decimal(forms.text(form, "amount"), currency)
    except MoneyError as exc:
        errors["amount"] = forms.FieldError(exc.code, str(exc))
    if errors:
        return _wallets_page(request, status_code=422, form=form, errors=errors)
    me = operator(request)
    try:
        with state_of(request).db.transaction() as session:
            user_id = _find_user(session, forms.text(form, "user"))
            credit = ledger.credit_by_operator(
                session, user_id=user_id, amount_minor=amount, currency=currency, memo=memo, actor=me.actor, ip=client_ip(request)
            )
    except DomainError as exc:
        field = "amount" if exc.field == "amount_minor" else "user"
        return _wallets_page(request, status_code=exc.status, form=form, errors={field: forms.field_error(exc)})
    query = urlencode({"user_id": user_id, "currency": currency, "amount": amount, "ref": credit.ref})
    return RedirectResponse(f"/admin/wallets?{query}", status_code=303)
