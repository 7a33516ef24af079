"""The signed-in user's own things: wallet balance."""

from __future__ import annotations

from fastapi import APIRouter

from keyrelay.ledger import service as ledger
from keyrelay.web.api.v1.schemas import WalletOut
from keyrelay.web.auth import GuardedRoute, Reader
from keyrelay.web.uow import ReadSession

router = APIRouter(prefix="/me", tags=["me"], route_class=GuardedRoute)


@router.get("/wallet", response_model=WalletOut)
def my_wallet(who: Reader, session: ReadSession, currency: str = "CNY") -> WalletOut:
    """The caller's prepaid wallet balance in one currency (0 before the first top-up)."""
    cur = currency.upper()
    return WalletOut(user_id=who.user_id, currency=cur, balance_minor=ledger.wallet_balance(session, who.user_id, cur))
