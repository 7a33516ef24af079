"""The interface every payment provider implements, and the values it trades in.

A provider is one module under ``payments/providers``. The order pipeline never
names one: it asks the registry (``payments.registry``) for the provider an
order chose and talks to it only through ``PaymentProvider``.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Literal, Protocol

from sqlalchemy.orm import Session

from keyrelay.ledger.service import Account


class InvalidNotification(Exception):
    """A callback that failed verification; the message says why (never secrets)."""


@dataclass(frozen=True)
class OrderToPay:
    """The fields of an order a provider needs; keeps providers independent of the order tables."""

    number: str
    amount_minor: int
    currency: str
    subject: str


@dataclass(frozen=True)
class PaymentStart:
    """How the buyer pays: follow a redirect, post a form, scan a QR code, or nothing (already paid)."""

    kind: Literal["redirect", "form", "qr", "none"]
    url: str = ""
    """Where to redirect, where the form posts to, or what the QR code encodes."""
    fields: Mapping[str, str] = field(default_factory=dict)
    """Hidden fields of a ``form`` start."""


@dataclass(frozen=True)
class Notification:
    """A verified statement from a gateway about an order's payment."""

    order_number: str
    provider_ref: str
    amount_minor: int
    currency: str
    paid: bool


@dataclass(frozen=True)
class Acknowledgement:
    """What the gateway must be answered so it stops (or keeps) retrying."""

    status_code: int
    body: str


@dataclass(frozen=True)
class RefundOutcome:
    """What a provider did about giving money back."""

    done: bool
    """True when the money is on its way back; False when a person must send it."""
    note: str


class PaymentProvider(Protocol):
    """One way to pay. Settled at checkout (a wallet) or by a verified callback (a gateway)."""

    name: str
    """Stable identifier stored on orders and payments (at most 16 characters)."""
    label: str
    """What the buyer reads on checkout (an English msgid, translated by the web edge)."""
    settles_at_checkout: bool
    """True: the payment is taken while the order is placed (no callback)."""
    requires_account: bool
    """True: only a signed-in buyer can use it."""
    pays_from_wallet: bool
    """True: the money comes from the buyer's own KeyRelay wallet (wholesale purchases need this)."""

    def payer(self, session: Session, *, currency: str, buyer_user_id: int | None) -> Account:
        """The ledger account the money of a sale comes from."""
        ...

    def checkout_reference(self, order: OrderToPay) -> str:
        """The payment reference of a payment settled at checkout."""
        ...

    def start(self, order: OrderToPay, *, return_path: str) -> PaymentStart:
        """Begin paying for ``order``; ``return_path`` is where the buyer comes back to."""
        ...

    def verify(self, params: Mapping[str, str]) -> Notification:
        """Check a callback's signature and shape; raise ``InvalidNotification`` if it is forged or malformed."""
        ...

    def acknowledge(self, *, accepted: bool) -> Acknowledgement:
        """The answer to a callback: accepted (stop retrying) or refused."""
        ...

    def query(self, order: OrderToPay) -> Notification | None:
        """Ask the gateway what became of a payment (None: the provider cannot be asked)."""
        ...

    def refund(self, order: OrderToPay, *, provider_ref: str, amount_minor: int) -> RefundOutcome:
        """Give money back through the provider, where it supports that."""
        ...
