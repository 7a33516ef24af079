"""The sandbox gateway: plays a real payment provider for development and demos — never in production.

It signs its asynchronous notifications with HMAC-SHA256 over the sorted
``key=value`` pairs (the shape 易支付 uses, with a modern MAC), so the same
verification code path as a real gateway runs: signature, order, amount, status.
Its "hosted page" is ``/pay/sandbox/<order>``, which the registry's
``hosted_pages`` switch makes exist only when the sandbox is enabled.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
import time
from collections.abc import Mapping
from urllib.parse import quote

from sqlalchemy.orm import Session

from keyrelay.kit.errors import N_
from keyrelay.ledger import service as ledger
from keyrelay.ledger.service import Account
from keyrelay.payments.providers.base import (
    Acknowledgement,
    InvalidNotification,
    Notification,
    OrderToPay,
    PaymentStart,
    RefundOutcome,
)

SIGNED_FIELDS = ("order_no", "trade_no", "amount", "currency", "status", "timestamp")
MAX_AGE_SECONDS = 24 * 3600


def canonical(params: Mapping[str, str]) -> bytes:
    """Sorted ``k=v`` pairs joined by ``&`` over the signed fields only."""
    return "&".join(f"{k}={params[k]}" for k in sorted(SIGNED_FIELDS)).encode()


class SandboxProvider:
    """A provider whose 'gateway' is a page of this app; its money is make-believe."""

    name = "sandbox"
    label = N_("Sandbox (test payment)")
    settles_at_checkout = False
    requires_account = False
    pays_from_wallet = False

    def __init__(self, secret: bytes, *, notify_url: str = "") -> None:
        self._secret = secret
        self.notify_url = notify_url
        """Where the gateway posts its notification; empty: applied in-process (never a URL from a request)."""

    def payer(self, session: Session, *, currency: str, buyer_user_id: int | None) -> Account:
        return ledger.account(session, f"clearing:{self.name}", kind="clearing", currency=currency)

    def checkout_reference(self, order: OrderToPay) -> str:
        raise NotImplementedError("the sandbox settles by callback")

    def start(self, order: OrderToPay, *, return_path: str) -> PaymentStart:
        url = f"/pay/sandbox/{order.number}"
        return PaymentStart(kind="redirect", url=f"{url}?return={quote(return_path, safe='')}" if return_path else url)

    def sign(self, params: Mapping[str, str]) -> str:
        return hmac.new(self._secret, canonical(params), hashlib.sha256).hexdigest()

    def notification_for(self, order: OrderToPay, *, status: str = "paid") -> dict[str, str]:
        """The signed callback the gateway sends after the buyer pays."""
        params = {
            "order_no": order.number,
            "trade_no": f"SBX{secrets.token_hex(10).upper()}",
            "amount": str(order.amount_minor),
            "currency": order.currency,
            "status": status,
            "timestamp": str(int(time.time())),
        }
        params["sign"] = self.sign(params)
        return params

    def verify(self, params: Mapping[str, str]) -> Notification:
        missing = [k for k in (*SIGNED_FIELDS, "sign") if not params.get(k)]
        if missing:
            raise InvalidNotification(f"missing fields: {', '.join(missing)}")
        if not hmac.compare_digest(self.sign(params), params["sign"]):
            raise InvalidNotification("bad signature")
        if not params["amount"].isdigit() or not params["timestamp"].isdigit():
            raise InvalidNotification("malformed amount or timestamp")
        if abs(time.time() - int(params["timestamp"])) > MAX_AGE_SECONDS:
            raise InvalidNotification("notification too old")
        return Notification(
            order_number=params["order_no"],
            provider_ref=params["trade_no"],
            amount_minor=int(params["amount"]),
            currency=params["currency"],
            paid=params["status"] == "paid",
        )

    def acknowledge(self, *, accepted: bool) -> Acknowledgement:
        # Like 易支付: the gateway retries until it reads exactly "success".
        return Acknowledgement(200, "success") if accepted else Acknowledgement(400, "fail")

    def query(self, order: OrderToPay) -> Notification | None:
        return None

    def refund(self, order: OrderToPay, *, provider_ref: str, amount_minor: int) -> RefundOutcome:
        return RefundOutcome(done=True, note=f"sandbox refund of {provider_ref}")
