"""Order policies: checks that run, in order, before an order opens.

Each policy may refuse the attempt by raising a ``DomainError``; none of them
writes. The per-order and per-buyer quantity limits are the first; the risk
engine, purchase limits and flash-sale windows register here later with
``register``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

from sqlalchemy.orm import Session

from keyrelay.catalog.service import Product
from keyrelay.checkout import errors
from keyrelay.distribution.network import Distributor
from keyrelay.orders import service as orders


@dataclass(frozen=True)
class OrderAttempt:
    """What is known about an order before it opens."""

    product: Product
    quantity: int
    contact: str
    """Normalised e-mail of the buyer."""
    seller: Distributor | None
    wholesale: bool
    buyer_user_id: int | None
    client_ip: str
    channel_id: int


class OrderPolicy(Protocol):
    name: str

    def check(self, session: Session, attempt: OrderAttempt) -> None:
        """Raise a ``DomainError`` to refuse the attempt."""
        ...


class QuantityLimits:
    """At most ``max_per_order`` units per order and ``max_per_contact`` per buyer in 24 hours."""

    name = "quantity_limits"

    def check(self, session: Session, attempt: OrderAttempt) -> None:
        product, quantity = attempt.product, attempt.quantity
        if quantity > product.max_per_order:
            raise errors.OVER_ORDER_LIMIT(field="quantity", max_per_order=product.max_per_order)
        if product.max_per_contact:
            already = orders.contact_quantity_24h(session, contact=attempt.contact, product_id=product.id)
            if already + quantity > product.max_per_contact:
                raise errors.OVER_DAILY_LIMIT(field="quantity", max_per_contact=product.max_per_contact, already=already)


_POLICIES: list[OrderPolicy] = [QuantityLimits()]


def register(policy: OrderPolicy, *, before: str | None = None) -> None:
    """Add a policy at the end, or before the one called ``before``; a policy of the same name is replaced."""
    _POLICIES[:] = [p for p in _POLICIES if p.name != policy.name]
    names = [p.name for p in _POLICIES]
    _POLICIES.insert(names.index(before) if before in names else len(_POLICIES), policy)


def unregister(name: str) -> None:
    _POLICIES[:] = [p for p in _POLICIES if p.name != name]


def registered() -> list[str]:
    return [p.name for p in _POLICIES]


def check_all(session: Session, attempt: OrderAttempt) -> None:
    for policy in _POLICIES:
        policy.check(session, attempt)
