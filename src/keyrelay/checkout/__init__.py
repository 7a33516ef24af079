"""The order pipeline: the cross-domain use cases of an order's life.

Placing (retail and wholesale), settling a verified payment (with the frozen
split booked), after-care (cancel, expire, refund) and delivery. It
orchestrates catalog, inventory, distribution, payments, ledger and orders;
what differs per product kind lives in ``fulfilment``, what may refuse an
order in ``policies``, and which payment methods exist in ``payments.registry``.
"""

from keyrelay.checkout import fulfilment, policies
from keyrelay.checkout.aftercare import cancel, expire_due, refund
from keyrelay.checkout.delivery import DeliveredContent, deliver_manually, delivered_content
from keyrelay.checkout.placing import PlaceOrder, place_order
from keyrelay.checkout.settling import accept_notification, order_to_pay, settle
from keyrelay.checkout.terms import Terms
from keyrelay.checkout.wholesale import WholesalePurchase, buy_wholesale

__all__ = [
    "DeliveredContent",
    "PlaceOrder",
    "Terms",
    "WholesalePurchase",
    "accept_notification",
    "buy_wholesale",
    "cancel",
    "deliver_manually",
    "delivered_content",
    "expire_due",
    "fulfilment",
    "order_to_pay",
    "place_order",
    "policies",
    "refund",
    "settle",
]
