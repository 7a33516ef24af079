"""The wallet: a signed-in buyer (usually a distributor) pays from their KeyRelay balance at checkout."""

from __future__ import annotations

from collections.abc import Mapping

from sqlalchemy.orm import Session

from keyrelay.kit.errors import N_
from keyrelay.ledger import service as ledger
from keyrelay.ledger.service import Account
from keyrelay.payments import errors
from keyrelay.payments.providers.base import (
    Acknowledgement,
    InvalidNotification,
    Notification,
    OrderToPay,
    PaymentStart,
    RefundOutcome,
)


class BalanceProvider:
    """Settles at checkout by debiting the buyer's wallet; a refund's ledger reversal credits it back."""

    name = "balance"
    label = N_("Account balance")
    settles_at_checkout = True
    requires_account = True
    pays_from_wallet = True

    def payer(self, session: Session, *, currency: str, buyer_user_id: int | None) -> Account:
        if buyer_user_id is None:
            raise errors.SIGN_IN_TO_USE(field="payment_provider")
        return ledger.wallet(session, buyer_user_id, currency)

    def checkout_reference(self, order: OrderToPay) -> str:
        return f"BAL-{order.number}"

    def start(self, order: OrderToPay, *, return_path: str) -> PaymentStart:
        return PaymentStart(kind="none")

    def verify(self, params: Mapping[str, str]) -> Notification:
        raise InvalidNotification("the wallet sends no notifications")

    def acknowledge(self, *, accepted: bool) -> Acknowledgement:
        return Acknowledgement(400, "fail")

    def query(self, order: OrderToPay) -> Notification | None:
        return None

    def refund(self, order: OrderToPay, *, provider_ref: str, amount_minor: int) -> RefundOutcome:
        return RefundOutcome(done=True, note="credited back to the wallet")
