"""Every failure of the ledger, wallets and withdrawals, with its stable code."""

from __future__ import annotations

from keyrelay.kit.errors import N_, Conflict, InsufficientBalance, ValidationFailed, define
from keyrelay.kit.errors import NOT_FOUND as NOT_FOUND  # re-exported: missing things share one code

ALREADY_BOOKED = define("transaction_already_booked", Conflict, "%(kind)s %(ref)s is already booked")
TOO_FEW_POSTINGS = define("transaction_needs_two_postings", ValidationFailed, "a transaction needs at least two postings")
NOT_MINOR_UNITS = define("posting_not_minor_units", ValidationFailed, "amounts are integers of minor units")
UNBALANCED = define("postings_unbalanced", ValidationFailed, "postings do not balance")
BALANCE_TOO_LOW = define(
    "insufficient_balance",
    InsufficientBalance,
    "the wallet balance is too low for this payment",
    N_("Your balance is too low for this. Top up or choose a smaller amount."),
)
BAD_AMOUNT = define(
    "invalid_amount", ValidationFailed, "amount must be a positive integer of minor units", N_("Enter an amount above zero, like 12.50.")
)
NO_SALE = define("sale_not_booked", Conflict, "no sale booked for %(ref)s")
BELOW_MINIMUM_WITHDRAWAL = define(
    "below_minimum_withdrawal",
    ValidationFailed,
    "the minimum withdrawal is %(minimum_minor)s minor units",
    N_("The minimum withdrawal is %(minimum_minor)s."),
)
PAYEE_MISSING = define("payee_missing", ValidationFailed, "say where the money should go", N_("Say where the money should go."))
REFERENCE_MISSING = define("payout_reference_missing", ValidationFailed, "enter the payout reference", N_("Enter the payout reference."))
