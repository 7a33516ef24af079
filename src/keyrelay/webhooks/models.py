"""Webhook tables: endpoints, one delivery per (event, endpoint), one attempt row per HTTP try."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, Boolean, ForeignKey, Index, Integer, LargeBinary, String
from sqlalchemy.orm import Mapped, mapped_column

from keyrelay.kit.clock import utcnow
from keyrelay.kit.db import Base, BigId, UtcDateTime


class WebhookEndpoint(Base):
    """A URL of a distributor's user that receives signed events."""

    __tablename__ = "webhook_endpoints"

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    public_id: Mapped[str] = mapped_column(String(40), unique=True)
    """``ep_…``: the id the API shows; also binds the vault ciphertext (AAD)."""
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id"), index=True)
    url: Mapped[str] = mapped_column(String(2000))
    description: Mapped[str] = mapped_column(String(200), default="")
    event_types: Mapped[list[str]] = mapped_column(JSON, default=list)
    """Subscribed event types; empty means every event type."""
    enabled: Mapped[bool] = mapped_column(Boolean, default=True)
    disabled_reason: Mapped[str] = mapped_column(String(40), default="")
    """Empty while enabled; ``by_owner`` or ``persistent_failure``."""
    secret_ciphertext: Mapped[bytes] = mapped_column(LargeBinary)
    """The ``whsec_…`` signing secret sealed by the vault (the server must sign, so no hash)."""
    previous_secret_ciphertext: Mapped[bytes | None] = mapped_column(LargeBinary, nullable=True)
    """After a rotation the old secret also signs until ``previous_secret_expires_at``."""
    previous_secret_expires_at: Mapped[datetime | None] = mapped_column(UtcDateTime, nullable=True)
    last_success_at: Mapped[datetime | None] = mapped_column(UtcDateTime, nullable=True)
    """Last 2xx answer; a delivery that dies with no success since it was created disables the endpoint."""
    created_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow, onupdate=utcnow)


class WebhookDelivery(Base):
    """One event for one endpoint, retried until it succeeds or dies."""

    __tablename__ = "webhook_deliveries"
    __table_args__ = (Index("ix_webhook_deliveries_endpoint_id_id", "endpoint_id", "id"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    endpoint_id: Mapped[int] = mapped_column(ForeignKey("webhook_endpoints.id"))
    event_id: Mapped[str] = mapped_column(String(40), index=True)
    """``msg_…``, sent as ``webhook-id``; the same for every endpoint and every retry of one event."""
    event_type: Mapped[str] = mapped_column(String(60))
    payload: Mapped[dict[str, Any]] = mapped_column(JSON)
    """The body exactly as sent: ``{"type", "timestamp", "data"}``."""
    status: Mapped[str] = mapped_column(String(12), default="pending")
    """pending (not tried yet) | failed (retry scheduled) | succeeded | dead (gave up)."""
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    """Every try ever made, redeliveries included."""
    retry_step: Mapped[int] = mapped_column(Integer, default=0)
    """Failures in the current schedule (a redelivery starts a new one)."""
    next_attempt_at: Mapped[datetime | None] = mapped_column(UtcDateTime, nullable=True, index=True)
    """When the worker may try next; NULL once succeeded or dead, pushed ahead while a worker holds it."""
    failing_since: Mapped[datetime | None] = mapped_column(UtcDateTime, nullable=True)
    """First failure of the current schedule; dying with no 2xx from the endpoint since then disables it."""
    created_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow, onupdate=utcnow)


class WebhookAttempt(Base):
    """One HTTP request made for a delivery, with what came back."""

    __tablename__ = "webhook_attempts"

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    delivery_id: Mapped[int] = mapped_column(ForeignKey("webhook_deliveries.id"), index=True)
    succeeded: Mapped[bool] = mapped_column(Boolean)
    status_code: Mapped[int | None] = mapped_column(Integer, nullable=True)
    """HTTP status, NULL when no answer came (timeout, refused, forbidden address)."""
    latency_ms: Mapped[int] = mapped_column(Integer, default=0)
    response_excerpt: Mapped[str] = mapped_column(String(500), default="")
    """The first 500 characters of the answer's body."""
    error: Mapped[str] = mapped_column(String(500), default="")
    at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow)


class WebhookStockMark(Base):
    """The last stock level announced per product, so ``stock.low`` fires on the crossing only."""

    __tablename__ = "webhook_stock_marks"

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    product_id: Mapped[int] = mapped_column(BigId, unique=True)
    available: Mapped[int] = mapped_column(Integer)
    is_low: Mapped[bool] = mapped_column(Boolean)
    updated_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow, onupdate=utcnow)
