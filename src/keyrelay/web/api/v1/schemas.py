"""Public API shapes. These are separate from ORM rows on purpose: the API is a contract."""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from keyrelay.catalog import kinds
from keyrelay.catalog.models import Category, Product
from keyrelay.kit.money import MAX_AMOUNT_MINOR
from keyrelay.orders.models import Order, OrderEvent


class TokenIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    email: str = Field(max_length=254, examples=["admin@example.com"])
    password: str = Field(max_length=256)


class TokenOut(BaseModel):
    access_token: str
    token_type: Literal["bearer"] = "bearer"  # noqa: S105 - the OAuth token type, not a secret
    expires_in: int


class RegisterIn(TokenIn):
    password: str = Field(min_length=8, max_length=256)


class UserIn(RegisterIn):
    role: Literal["operator", "supplier", "distributor", "buyer"]
    display_name: str = Field(default="", max_length=80)


class UserOut(BaseModel):
    id: int
    email: str
    role: str
    display_name: str


class CategoryOut(BaseModel):
    id: int
    name: str
    slug: str
    description: str
    sort_order: int
    is_active: bool

    @classmethod
    def of(cls, row: Category) -> CategoryOut:
        return cls(id=row.id, name=row.name, slug=row.slug, description=row.description, sort_order=row.sort_order, is_active=row.is_active)


class ProductOut(BaseModel):
    id: int
    category_id: int
    name: str
    slug: str
    description: str
    kind: str
    price_minor: int = Field(description="Price in minor units of `currency` (1999 = 19.99)")
    currency: str
    max_per_order: int
    max_per_contact: int
    is_active: bool
    in_stock: int | None = Field(description="Available units; null for fixed/manual products")

    @classmethod
    def of(cls, row: Product, in_stock: int | None) -> ProductOut:
        return cls(
            id=row.id,
            category_id=row.category_id,
            name=row.name,
            slug=row.slug,
            description=row.description,
            kind=row.kind,
            price_minor=row.price_minor,
            currency=row.currency,
            max_per_order=row.max_per_order,
            max_per_contact=row.max_per_contact,
            is_active=row.is_active,
            in_stock=in_stock if kinds.get(row.kind).tracks_stock else None,
        )


class StockOut(BaseModel):
    product_id: int
    available: int
    reserved: int
    sold: int
    low: bool


class OrderIn(BaseModel):
    """A checkout. Guests give a contact e-mail; a query password lets them look the order up later."""

    model_config = ConfigDict(extra="forbid")
    product_id: int = Field(gt=0, examples=[1])
    quantity: int = Field(ge=1, le=1000, strict=True, examples=[1])
    contact: str = Field(max_length=254, examples=["buyer@example.com"])
    query_password: str | None = Field(default=None, max_length=128)
    payment_provider: str | None = Field(
        default=None,
        max_length=16,
        description="One of the enabled providers (`GET /api/v1/payments/providers`); default: the first this caller may use",
    )


class EventOut(BaseModel):
    kind: str
    note: str
    at: datetime

    @classmethod
    def of(cls, row: OrderEvent) -> EventOut:
        return cls(kind=row.kind, note=row.note, at=row.created_at)


class OrderOut(BaseModel):
    number: str
    status: str
    product_id: int
    product_name: str
    quantity: int
    unit_price_minor: int
    amount_minor: int
    currency: str
    channel: str
    payment_provider: str
    contact: str
    needs_attention: bool
    sale_mode: str
    distributor_id: int | None
    channel_id: int | None
    buyer_ref: str
    declared_retail_minor: int | None
    created_at: datetime
    expires_at: datetime
    paid_at: datetime | None
    delivered_at: datetime | None

    @classmethod
    def of(cls, row: Order) -> OrderOut:
        return cls(
            number=row.number,
            status=row.status,
            product_id=row.product_id,
            product_name=row.product_name,
            quantity=row.quantity,
            unit_price_minor=row.unit_price_minor,
            amount_minor=row.amount_minor,
            currency=row.currency,
            channel=row.channel,
            payment_provider=row.payment_provider,
            contact=row.contact,
            needs_attention=row.needs_attention,
            sale_mode=row.sale_mode,
            distributor_id=row.distributor_id,
            channel_id=row.channel_id,
            buyer_ref=row.buyer_ref,
            declared_retail_minor=row.declared_retail_minor,
            created_at=row.created_at,
            expires_at=row.expires_at,
            paid_at=row.paid_at,
            delivered_at=row.delivered_at,
        )


class OrderDetail(BaseModel):
    order: OrderOut
    keys: list[str] = Field(description="The delivered secrets; present once the order is delivered")
    timeline: list[EventOut]


class CheckoutOut(BaseModel):
    order: OrderOut
    payment_url: str | None = Field(description="Where to send the buyer to pay; null when already paid")
    access_token: str = Field(description="Pass as ?token= to read this order without signing in")
    order_url: str


class LookupIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    number: str = Field(min_length=4, max_length=32)
    contact: str | None = Field(default=None, max_length=254)
    query_password: str | None = Field(default=None, max_length=128)


class LookupOut(OrderDetail):
    access_token: str


class KeysTextIn(BaseModel):
    """Keys pasted as text: one per line (``format=text``) or CSV."""

    model_config = ConfigDict(extra="forbid")
    text: str = Field(max_length=64 * 1024 * 1024)
    format: Literal["text", "csv"] = "text"


class InvalidLineOut(BaseModel):
    line: int
    reason: str


class ImportOut(BaseModel):
    batch_id: int | None
    imported: int
    duplicates: int
    duplicate_lines: list[int]


class CardKeyOut(BaseModel):
    id: int
    status: str
    order_id: int | None
    created_at: datetime
    sold_at: datetime | None


class RevealOut(BaseModel):
    id: int
    secret: str


class ManualDeliveryIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    content: str = Field(min_length=1, max_length=16 * 1024, description="What the buyer receives; one item per line")


class CreditIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    amount_minor: int = Field(gt=0, le=MAX_AMOUNT_MINOR, strict=True)
    currency: str = Field(default="CNY", pattern=r"^[A-Z]{3,4}$")
    memo: str = Field(default="", max_length=200)


class WalletOut(BaseModel):
    user_id: int
    currency: str
    balance_minor: int


class AuditOut(BaseModel):
    id: int
    actor: str
    action: str
    target_type: str
    target_id: str
    ip: str
    detail: dict[str, object]
    created_at: datetime


class BooksOut(BaseModel):
    ok: bool
    transactions: int
    unbalanced: list[int]
    currency_totals: dict[str, int]
