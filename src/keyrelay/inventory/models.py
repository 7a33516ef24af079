"""Card keys, each encrypted at rest, and the import batches that brought them."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import ForeignKey, Index, Integer, LargeBinary, String, UniqueConstraint, text
from sqlalchemy.orm import Mapped, mapped_column

from keyrelay.kit.clock import utcnow
from keyrelay.kit.db import Base, BigId, UtcDateTime


class ImportBatch(Base):
    """One all-or-nothing upload of keys for a product, with its outcome counts."""

    __tablename__ = "import_batches"

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    product_id: Mapped[int] = mapped_column(ForeignKey("products.id"), index=True)
    created_by: Mapped[int | None] = mapped_column(BigId, nullable=True)
    source: Mapped[str] = mapped_column(String(16))
    """paste | txt | csv | api | cli."""
    imported: Mapped[int] = mapped_column(Integer, default=0)
    duplicates: Mapped[int] = mapped_column(Integer, default=0)
    invalid: Mapped[int] = mapped_column(Integer, default=0)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow)


class CardKey(Base):
    """One secret for sale. ``status`` moves available → reserved → sold (or back)."""

    __tablename__ = "card_keys"
    __table_args__ = (
        UniqueConstraint("product_id", "fingerprint"),
        # The allocation index: only unsold keys, in id order, so SKIP LOCKED scans stay short.
        Index(
            "ix_card_keys_available",
            "product_id",
            "id",
            postgresql_where=text("status = 'available'"),
            sqlite_where=text("status = 'available'"),
        ),
        Index("ix_card_keys_order_id", "order_id"),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    # No FK to products on purpose: a foreign key check would lock the hot product row
    # on every allocation (see PERFORMANCE-NOTES); the service checks existence instead.
    product_id: Mapped[int] = mapped_column(BigId)
    batch_id: Mapped[int | None] = mapped_column(BigId, nullable=True)
    status: Mapped[str] = mapped_column(String(12), default="available")
    """available | reserved | sold | void."""
    ciphertext: Mapped[bytes] = mapped_column(LargeBinary)
    """Vault blob (AES-256-GCM, key id inside); AAD binds it to the product."""
    fingerprint: Mapped[bytes] = mapped_column(LargeBinary(32))
    """HMAC of the secret, scoped per product: finds duplicates without decrypting."""
    order_id: Mapped[int | None] = mapped_column(BigId, nullable=True)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow)
    sold_at: Mapped[datetime | None] = mapped_column(UtcDateTime, nullable=True)
