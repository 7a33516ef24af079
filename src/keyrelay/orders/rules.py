"""The order status machine, as data. Every move goes through ``ORDER`` (see ``service.move``)."""

from __future__ import annotations

from keyrelay.kit.states import StateMachine
from keyrelay.orders import errors

PENDING, PAID, DELIVERED, COMPLETED = "pending_payment", "paid", "delivered", "completed"
EXPIRED, CANCELLED, REFUNDED = "expired", "cancelled", "refunded"

TRANSITIONS: dict[str, frozenset[str]] = {
    PENDING: frozenset({PAID, EXPIRED, CANCELLED}),
    PAID: frozenset({DELIVERED, REFUNDED}),
    DELIVERED: frozenset({COMPLETED, REFUNDED}),
    COMPLETED: frozenset({REFUNDED}),
    EXPIRED: frozenset(),
    CANCELLED: frozenset(),
    REFUNDED: frozenset(),
}
ORDER = StateMachine("order", TRANSITIONS, illegal=errors.ILLEGAL_MOVE, raced=errors.CHANGED_CONCURRENTLY, ref="number")
#: States in which an order still holds or has consumed stock (counts toward per-contact limits).
LIVE = frozenset({PENDING, PAID, DELIVERED, COMPLETED})
#: States whose keys the buyer may see.
VISIBLE_KEYS = frozenset({DELIVERED, COMPLETED})


def check_transition(current: str, target: str) -> None:
    """Raise ``IllegalTransition`` unless ``current → target`` is allowed."""
    ORDER.check(current, target)
