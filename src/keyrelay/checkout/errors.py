"""Every failure of the order pipeline (placing, settling, after-care, delivery), with its stable code."""

from __future__ import annotations

from keyrelay.kit.errors import N_, IllegalTransition, ValidationFailed, define

TOTAL_TOO_LARGE = define(
    "order_total_too_large",
    ValidationFailed,
    "the order total is too large; order fewer units",
    N_("The order total is too large: order fewer units."),
)
BAD_QUANTITY = define(
    "invalid_quantity", ValidationFailed, "quantity must be a whole number of at least 1", N_("Enter a whole number of at least 1.")
)
QUERY_PASSWORD_TOO_LONG = define(
    "query_password_too_long", ValidationFailed, "query password is too long", N_("The query password is too long.")
)
ONLY_DISTRIBUTORS_BUY_WHOLESALE = define(
    "wholesale_needs_distributor", ValidationFailed, "only distributors buy wholesale", N_("Only distributors buy wholesale.")
)
WHOLESALE_FROM_OWN_WALLET = define(
    "wholesale_from_own_wallet",
    ValidationFailed,
    "a wholesale purchase is paid from the distributor's own balance",
    N_("A wholesale purchase is paid from your own balance."),
)
OVER_ORDER_LIMIT = define(
    "over_order_limit", ValidationFailed, "at most %(max_per_order)s per order", N_("At most %(max_per_order)s per order.")
)
OVER_DAILY_LIMIT = define(
    "over_daily_limit",
    ValidationFailed,
    "at most %(max_per_contact)s per buyer per day (%(already)s already ordered)",
    N_("At most %(max_per_contact)s per buyer per day (%(already)s already ordered)."),
)
NOT_DELIVERED_BY_HAND = define(
    "not_delivered_by_hand",
    IllegalTransition,
    "only manual-delivery orders are delivered by hand",
    N_("Only manual-delivery orders are delivered by hand."),
)
CONTENT_MISSING = define(
    "delivery_content_missing", ValidationFailed, "enter what the buyer receives", N_("Enter what the buyer receives.")
)
CONTENT_TOO_LONG = define(
    "delivery_content_too_long", ValidationFailed, "content is longer than 16 KiB", N_("The content is longer than 16 KiB.")
)
REFUND_REASON_MISSING = define(
    "refund_reason_missing", ValidationFailed, "say why the order is refunded", N_("Say why the order is refunded.")
)
NO_GUEST_PAYMENTS = define(
    "no_guest_payments",
    ValidationFailed,
    "this shop takes no guest payments at the moment",
    N_("This shop takes no guest payments at the moment."),
)
