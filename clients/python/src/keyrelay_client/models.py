"""Typed answers of the Channel API.

v1 only ever *adds* fields and enum values (see the versioning policy), so
every model keeps fields it does not know in ``extra`` instead of failing, and
``status``-like fields are plain strings rather than closed enums.
Money is an integer of minor units with a currency (``1999`` CNY = ¥19.99).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, ClassVar, Generic, Self, TypeVar


def _datetime(value: Any) -> datetime | None:
    return datetime.fromisoformat(value) if isinstance(value, str) and value else None


class _Model:
    """Build a dataclass from a JSON object: known fields typed, the rest kept in ``extra``."""

    _datetimes: ClassVar[tuple[str, ...]] = ()

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Self:
        names = {f.name for f in dataclasses.fields(cls) if f.init} - {"extra"}  # type: ignore[arg-type]
        values = {k: (_datetime(v) if k in cls._datetimes else v) for k, v in data.items() if k in names}
        build: Any = cls  # a dataclass subclass; its fields (and ``extra``) are checked at run time
        return build(**values, extra={k: v for k, v in data.items() if k not in names})  # type: ignore[no-any-return]


@dataclass(frozen=True)
class Offer(_Model):
    """A product as your distributor account sees it: your cost, the price limits, your retail, the stock."""

    product_id: int
    name: str
    currency: str
    cost_minor: int
    map_minor: int = 0
    max_retail_minor: int | None = None
    retail_minor: int = 0
    suggested_retail_minor: int = 0
    in_stock: int | None = None
    """Available keys; None for products that are not card keys."""
    updated_at: datetime | None = None
    extra: dict[str, Any] = field(default_factory=dict, compare=False)

    _datetimes = ("updated_at",)


Product = Offer


@dataclass(frozen=True)
class StockLevel(_Model):
    product_id: int
    in_stock: int
    extra: dict[str, Any] = field(default_factory=dict, compare=False)


@dataclass(frozen=True)
class OrderEvent(_Model):
    kind: str
    note: str = ""
    at: datetime | None = None
    extra: dict[str, Any] = field(default_factory=dict, compare=False)

    _datetimes = ("at",)


@dataclass(frozen=True)
class Order(_Model):
    """An order; ``keys`` holds the delivered card keys of your own purchases (empty in lists)."""

    number: str
    status: str
    product_id: int
    quantity: int
    amount_minor: int
    currency: str
    product_name: str = ""
    unit_price_minor: int = 0
    channel: str = ""
    payment_provider: str = ""
    contact: str = ""
    needs_attention: bool = False
    sale_mode: str = ""
    distributor_id: int | None = None
    channel_id: int | None = None
    buyer_ref: str = ""
    declared_retail_minor: int | None = None
    created_at: datetime | None = None
    expires_at: datetime | None = None
    paid_at: datetime | None = None
    delivered_at: datetime | None = None
    keys: list[str] = field(default_factory=list, repr=False)
    timeline: list[OrderEvent] = field(default_factory=list, repr=False)
    extra: dict[str, Any] = field(default_factory=dict, compare=False)

    _datetimes = ("created_at", "expires_at", "paid_at", "delivered_at")

    @classmethod
    def from_detail(cls, data: Mapping[str, Any]) -> Order:
        """From ``{"order": {...}, "keys": [...], "timeline": [...]}`` (purchase and get answers)."""
        order = cls.from_dict(data["order"])
        timeline = [OrderEvent.from_dict(e) for e in data.get("timeline", [])]
        return dataclasses.replace(order, keys=list(data.get("keys", [])), timeline=timeline)


@dataclass(frozen=True)
class Wallet(_Model):
    """Available (spendable, withdrawable), pending (in the settlement hold), locked (withdrawals)."""

    currency: str
    available_minor: int
    pending_minor: int = 0
    locked_minor: int = 0
    extra: dict[str, Any] = field(default_factory=dict, compare=False)


@dataclass(frozen=True)
class StatementLine(_Model):
    transaction_id: int
    kind: str
    amount_minor: int
    ref: str = ""
    memo: str = ""
    at: datetime | None = None
    extra: dict[str, Any] = field(default_factory=dict, compare=False)

    _datetimes = ("at",)


@dataclass(frozen=True)
class WebhookEndpoint(_Model):
    """Where events are sent. ``secret`` (``whsec_…``) is only present in the answer that created it."""

    id: str
    url: str
    events: list[str] = field(default_factory=list)
    """Subscribed event types; empty means every type, including ones added later."""
    description: str = ""
    enabled: bool = True
    disabled_reason: str = ""
    """Empty while enabled; ``by_owner`` or ``persistent_failure``."""
    last_success_at: datetime | None = None
    created_at: datetime | None = None
    updated_at: datetime | None = None
    secret: str | None = field(default=None, repr=False)
    extra: dict[str, Any] = field(default_factory=dict, compare=False)

    _datetimes = ("last_success_at", "created_at", "updated_at")


@dataclass(frozen=True)
class WebhookSecret(_Model):
    """A rotated signing secret; the previous one keeps signing until ``previous_secret_expires_at``."""

    id: str
    secret: str = field(repr=False)
    previous_secret_expires_at: datetime | None = None
    extra: dict[str, Any] = field(default_factory=dict, compare=False)

    _datetimes = ("previous_secret_expires_at",)


@dataclass(frozen=True)
class WebhookAttempt(_Model):
    """One HTTP try of a delivery: what the endpoint answered and how fast."""

    succeeded: bool
    status_code: int | None = None
    latency_ms: int = 0
    response_excerpt: str = ""
    error: str = ""
    at: datetime | None = None
    extra: dict[str, Any] = field(default_factory=dict, compare=False)

    _datetimes = ("at",)


@dataclass(frozen=True)
class WebhookDelivery(_Model):
    """One event for one endpoint, with every attempt made so far."""

    id: int
    endpoint_id: str = ""
    event_id: str = ""
    """Sent as ``webhook-id``: the same on every retry, so receivers de-duplicate on it."""
    event_type: str = ""
    status: str = ""
    """pending | failed (retry scheduled) | succeeded | dead (gave up)."""
    attempt_count: int = 0
    next_attempt_at: datetime | None = None
    created_at: datetime | None = None
    payload: dict[str, Any] = field(default_factory=dict, repr=False)
    attempts: list[WebhookAttempt] = field(default_factory=list, repr=False)
    extra: dict[str, Any] = field(default_factory=dict, compare=False)

    _datetimes = ("next_attempt_at", "created_at")

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> WebhookDelivery:
        delivery = cls.from_dict(data)
        return dataclasses.replace(delivery, attempts=[WebhookAttempt.from_dict(a) for a in data.get("attempts", [])])


T = TypeVar("T")


@dataclass(frozen=True)
class Page(Generic[T]):
    """One page of a list, newest first; pass ``next_cursor`` as ``before_id`` for the next one."""

    items: list[T]
    next_cursor: int | None

    def __iter__(self) -> Iterator[T]:
        return iter(self.items)

    def __len__(self) -> int:
        return len(self.items)


__all__ = [
    "Offer",
    "Order",
    "OrderEvent",
    "Page",
    "Product",
    "StatementLine",
    "StockLevel",
    "Wallet",
    "WebhookAttempt",
    "WebhookDelivery",
    "WebhookEndpoint",
    "WebhookSecret",
]
