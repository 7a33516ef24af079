"""The signed-in user's own things: wallet balance."""

from __future__ import annotations

from fastapi import APIRouter, Request

from keyrelay.ledger import service as ledger
from keyrelay.web.api.v1.schemas import WalletOut
from keyrelay.web.auth import GuardedRoute, Reader
from keyrelay.web.state import state_of

router = APIRouter(prefix="/me", tags=["me"], route_class=GuardedRoute)


@router.get("/wallet", response_model=WalletOut)
def my_wallet(who: Reader, request: Request, currency: str = "CNY") -> WalletOut:
    """The caller's prepaid wallet balance in one currency."""
    with state_of(request).db.transaction() as session:
        account = ledger.wallet(session, who.user_id, currency.upper())
        return WalletOut(user_id=who.user_id, currency=account.currency, balance_minor=account.balance_minor)
