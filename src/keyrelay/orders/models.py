"""The order aggregate and its timeline."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, BigInteger, Boolean, ForeignKey, Index, Integer, LargeBinary, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from keyrelay.kit.clock import utcnow
from keyrelay.kit.db import Base, BigId, UtcDateTime


class Order(Base):
    """A purchase of ``quantity`` units of one product by one contact, via one channel."""

    __tablename__ = "orders"
    __table_args__ = (
        Index("ix_orders_status_expires_at", "status", "expires_at"),
        Index("ix_orders_contact_product", "contact", "product_id"),
        Index("ix_orders_created_at", "created_at"),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    number: Mapped[str] = mapped_column(String(32), unique=True)
    """Public, unguessable order number printed on receipts."""
    product_id: Mapped[int] = mapped_column(ForeignKey("products.id"))
    product_name: Mapped[str] = mapped_column(String(120))
    """Copied at order time: renaming a product never rewrites history."""
    quantity: Mapped[int] = mapped_column(Integer)
    unit_price_minor: Mapped[int] = mapped_column(BigInteger)
    amount_minor: Mapped[int] = mapped_column(BigInteger)
    currency: Mapped[str] = mapped_column(String(4))
    status: Mapped[str] = mapped_column(String(20))
    """pending_payment | paid | delivered | completed | expired | cancelled | refunded."""
    contact: Mapped[str] = mapped_column(String(254))
    query_password_hash: Mapped[str | None] = mapped_column(String(255), nullable=True)
    channel: Mapped[str] = mapped_column(String(60), default="Main site")
    """The channel's name at order time (for display; ``channel_id`` is the reference)."""
    channel_id: Mapped[int | None] = mapped_column(BigId, nullable=True, index=True)
    distributor_id: Mapped[int | None] = mapped_column(BigId, nullable=True, index=True)
    """The selling distributor (NULL: the main site). No FK: orders must not lock hot parents."""
    sale_mode: Mapped[str] = mapped_column(String(12), default="retail")
    """retail (a buyer pays the seller's retail price) | wholesale (a distributor buys at cost)."""
    unit_cost_minor: Mapped[int | None] = mapped_column(BigInteger, nullable=True)
    """The seller's per-unit cost at order time."""
    declared_retail_minor: Mapped[int | None] = mapped_column(BigInteger, nullable=True)
    """What a wholesale buyer says it resells at (checked against MAP by network-order rules)."""
    buyer_ref: Mapped[str] = mapped_column(String(120), default="")
    """The channel's own reference for its end buyer (e.g. a Taobao order id)."""
    pricing: Mapped[dict[str, Any] | None] = mapped_column(JSON, nullable=True)
    """The price chain and exact split frozen at order time; booked as-is when paid."""
    payment_provider: Mapped[str] = mapped_column(String(16))
    buyer_user_id: Mapped[int | None] = mapped_column(BigId, nullable=True)
    client_ip: Mapped[str] = mapped_column(String(45), default="")
    needs_attention: Mapped[bool] = mapped_column(Boolean, default=False)
    """Set when money arrived that could not be honoured (e.g. paid after expiry)."""
    manual_content: Mapped[bytes | None] = mapped_column(LargeBinary, nullable=True)
    """Vault ciphertext of what the operator delivered by hand (``manual`` products)."""
    expires_at: Mapped[datetime] = mapped_column(UtcDateTime)
    paid_at: Mapped[datetime | None] = mapped_column(UtcDateTime, nullable=True)
    delivered_at: Mapped[datetime | None] = mapped_column(UtcDateTime, nullable=True)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow, onupdate=utcnow)


class OrderEvent(Base):
    """One line of an order's timeline, shown to the buyer and the operator."""

    __tablename__ = "order_events"

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    order_id: Mapped[int] = mapped_column(BigId, index=True)
    kind: Mapped[str] = mapped_column(String(40))
    """created | paid | delivered | expired | cancelled | late_payment | payment_rejected ..."""
    note: Mapped[str] = mapped_column(Text, default="")
    created_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow)
