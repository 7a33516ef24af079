"""Every failure of the payments domain, with its stable code."""

from __future__ import annotations

from keyrelay.kit.errors import N_, Conflict, ValidationFailed, define
from keyrelay.kit.errors import NOT_FOUND as NOT_FOUND  # re-exported: missing things share one code

UNKNOWN_PROVIDER = define(
    "unknown_payment_provider", ValidationFailed, "payment_provider must be one of %(choices)s", N_("Choose one of the payment methods.")
)
SIGN_IN_TO_USE = define("sign_in_to_pay", ValidationFailed, "sign in to pay from your balance", N_("Sign in to pay from your balance."))
WALLET_OFF = define(
    "wallet_payments_off",
    ValidationFailed,
    "wallet payments are switched off on this shop",
    N_("Wallet payments are switched off on this shop."),
)
PAYMENT_RECORDED = define("payment_already_recorded", Conflict, "payment %(provider_ref)s is already recorded")
