"""Payments received and every notification a gateway sent us, accepted or not."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import BigInteger, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from keyrelay.kit.clock import utcnow
from keyrelay.kit.db import Base, BigId, UtcDateTime


class Payment(Base):
    """Money in for one order. The unique constraints make a payment count once."""

    __tablename__ = "payments"
    __table_args__ = (UniqueConstraint("provider", "provider_ref"),)

    # Not unique per order: a buyer who pays twice leaves two rows, the second flagged "late".

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    order_id: Mapped[int] = mapped_column(BigId, index=True)
    provider: Mapped[str] = mapped_column(String(16))
    provider_ref: Mapped[str] = mapped_column(String(64))
    """The gateway's trade number (or our own id for the wallet)."""
    amount_minor: Mapped[int] = mapped_column(BigInteger)
    currency: Mapped[str] = mapped_column(String(4))
    status: Mapped[str] = mapped_column(String(16))
    """succeeded | late (money in, order no longer payable: needs refund/review)."""
    created_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow)


class PaymentNotification(Base):
    """Every callback received, with what we decided. Forged ones are kept as evidence."""

    __tablename__ = "payment_notifications"

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    provider: Mapped[str] = mapped_column(String(16))
    order_number: Mapped[str] = mapped_column(String(64), default="", index=True)
    verdict: Mapped[str] = mapped_column(String(16))
    """accepted | duplicate | rejected | late."""
    reason: Mapped[str] = mapped_column(Text, default="")
    payload: Mapped[str] = mapped_column(Text)
    remote_ip: Mapped[str] = mapped_column(String(45), default="")
    received_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow)
