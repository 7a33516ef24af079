"""What is for sale: categories and products with prices in minor units."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import BigInteger, Boolean, ForeignKey, Integer, LargeBinary, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from keyrelay.kit.clock import utcnow
from keyrelay.kit.db import Base, BigId, UtcDateTime


class Category(Base):
    """A shelf of the storefront."""

    __tablename__ = "categories"

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    name: Mapped[str] = mapped_column(String(80))
    slug: Mapped[str] = mapped_column(String(80), unique=True)
    description: Mapped[str] = mapped_column(Text, default="")
    sort_order: Mapped[int] = mapped_column(Integer, default=0)
    is_active: Mapped[bool] = mapped_column(Boolean, default=True)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow)


class Product(Base):
    """A thing a buyer can order. ``kind`` decides how it is delivered."""

    __tablename__ = "products"

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    category_id: Mapped[int] = mapped_column(ForeignKey("categories.id"), index=True)
    supplier_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"), nullable=True)
    """Owning supplier; NULL means the operator itself (single-merchant install)."""
    name: Mapped[str] = mapped_column(String(120))
    slug: Mapped[str] = mapped_column(String(120), unique=True)
    description: Mapped[str] = mapped_column(Text, default="")
    kind: Mapped[str] = mapped_column(String(16), default="card_key")
    """card_key (one stored secret per unit) | fixed (same content each sale) | manual (operator delivers)."""
    price_minor: Mapped[int] = mapped_column(BigInteger)
    """Retail price on the main site in minor units of ``currency``."""
    currency: Mapped[str] = mapped_column(String(4), default="CNY")
    supply_price_minor: Mapped[int] = mapped_column(BigInteger, default=0)
    """What the supplier is paid per unit sold (0 for the operator's own goods)."""
    map_minor: Mapped[int] = mapped_column(BigInteger, default=0)
    """Minimum advertised price: no seller may retail below it (0 = none)."""
    max_markup_bp: Mapped[int | None] = mapped_column(Integer, nullable=True)
    """Optional ceiling for retail, in basis points over MAP (or the main price without MAP)."""
    max_per_order: Mapped[int] = mapped_column(Integer, default=10)
    max_per_contact: Mapped[int] = mapped_column(Integer, default=0)
    """Units one contact may buy per 24 h; 0 = no limit."""
    low_stock_threshold: Mapped[int] = mapped_column(Integer, default=10)
    fixed_content: Mapped[bytes | None] = mapped_column(LargeBinary, nullable=True)
    """Vault ciphertext of the content delivered by ``fixed`` products."""
    is_active: Mapped[bool] = mapped_column(Boolean, default=True)
    sort_order: Mapped[int] = mapped_column(Integer, default=0)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow, onupdate=utcnow)
