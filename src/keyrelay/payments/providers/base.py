"""The interface every payment provider implements."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Protocol


class InvalidNotification(Exception):
    """A callback that failed verification; the message says why (never secrets)."""


@dataclass(frozen=True)
class Checkout:
    """What the buyer must do next: open ``redirect_url`` (empty when already paid)."""

    redirect_url: str


@dataclass(frozen=True)
class Notification:
    """A verified statement from a gateway that an order was paid."""

    order_number: str
    provider_ref: str
    amount_minor: int
    currency: str
    paid: bool


@dataclass(frozen=True)
class OrderToPay:
    """The fields of an order a provider needs; keeps providers independent of the ORM."""

    number: str
    amount_minor: int
    currency: str
    subject: str


class PaymentProvider(Protocol):
    """create → the buyer pays elsewhere → verify the callback; query as a fallback."""

    name: str

    def create(self, order: OrderToPay, *, base_url: str) -> Checkout:
        """Start paying for ``order``; returns where to send the buyer."""
        ...

    def verify(self, params: Mapping[str, str]) -> Notification:
        """Check a callback's signature and shape; raise ``InvalidNotification`` if forged."""
        ...
