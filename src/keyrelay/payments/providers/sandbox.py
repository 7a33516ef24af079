"""The sandbox gateway: plays a real payment provider for demos and tests.

It signs its asynchronous notifications with HMAC-SHA256 over the sorted
``key=value`` pairs (the shape 易支付 uses, with a modern MAC), so the same
verification code path as a real gateway runs: signature, order, amount, status.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
import time
from collections.abc import Mapping

from keyrelay.payments.providers.base import Checkout, InvalidNotification, Notification, OrderToPay

SIGNED_FIELDS = ("order_no", "trade_no", "amount", "currency", "status", "timestamp")
MAX_AGE_SECONDS = 24 * 3600


def canonical(params: Mapping[str, str]) -> bytes:
    """Sorted ``k=v`` pairs joined by ``&`` over the signed fields only."""
    return "&".join(f"{k}={params[k]}" for k in sorted(SIGNED_FIELDS)).encode()


class SandboxProvider:
    """A provider whose 'gateway' is a page of this app."""

    name = "sandbox"

    def __init__(self, secret: bytes) -> None:
        self._secret = secret

    def create(self, order: OrderToPay, *, base_url: str) -> Checkout:
        return Checkout(redirect_url=f"{base_url.rstrip('/')}/pay/sandbox/{order.number}")

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
