"""The prepaid-balance provider: the buyer's own wallet pays at once, inside the order's transaction."""

from __future__ import annotations

from sqlalchemy.orm import Session

from keyrelay.ledger import service as ledger


class BalanceProvider:
    """Pays an order by moving money from the buyer's wallet to platform revenue."""

    name = "balance"

    def charge(self, session: Session, *, user_id: int, amount_minor: int, currency: str, order_number: str) -> str:
        """Debit the wallet (refusing an overdraft) and return our own payment reference."""
        buyer_wallet = ledger.wallet(session, user_id, currency)
        revenue = ledger.account(session, "platform:revenue", kind="revenue", currency=currency)
        ledger.post(
            session,
            kind="sale",
            ref=order_number,
            legs=[ledger.Leg(buyer_wallet, -amount_minor), ledger.Leg(revenue, amount_minor)],
            memo="paid from wallet",
        )
        return f"BAL-{order_number}"
