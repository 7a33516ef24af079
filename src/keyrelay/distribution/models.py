"""Tables of the distribution network."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import BigInteger, Boolean, ForeignKey, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from keyrelay.kit.clock import utcnow
from keyrelay.kit.db import Base, BigId, UtcDateTime


class Distributor(Base):
    """A reseller at ``level`` 1…N below the platform; ``path`` lists its ancestors.

    ``path`` is ``/1/5/9/`` for distributor 9 under 5 under 1: "is X in Y's
    branch" is a prefix test, and a whole downline is one indexed LIKE query.
    """

    __tablename__ = "distributors"

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id"), unique=True)
    parent_id: Mapped[int | None] = mapped_column(BigId, nullable=True, index=True)
    """NULL for level 1 (the platform itself is the parent)."""
    level: Mapped[int] = mapped_column(Integer)
    path: Mapped[str] = mapped_column(String(255), index=True)
    status: Mapped[str] = mapped_column(String(12), default="active")
    """pending (awaits operator approval) | active | suspended."""
    slug: Mapped[str] = mapped_column(String(40), unique=True)
    """Sub-site address: ``/s/<slug>``."""
    name: Mapped[str] = mapped_column(String(80))
    host: Mapped[str | None] = mapped_column(String(253), unique=True, nullable=True)
    """Optional own host name for the sub-site, matched on the Host header."""
    logo_url: Mapped[str] = mapped_column(String(500), default="")
    notice: Mapped[str] = mapped_column(Text, default="")
    contact: Mapped[str] = mapped_column(String(200), default="")
    invite_id: Mapped[int | None] = mapped_column(BigId, nullable=True)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow)


class Invite(Base):
    """A join code handed out by the operator (``distributor_id`` NULL) or by a distributor."""

    __tablename__ = "invites"

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    code: Mapped[str] = mapped_column(String(32), unique=True)
    distributor_id: Mapped[int | None] = mapped_column(BigId, nullable=True, index=True)
    """The parent-to-be; NULL invites a level-1 distributor."""
    created_by: Mapped[int] = mapped_column(BigId)
    max_uses: Mapped[int] = mapped_column(Integer, default=1)
    uses: Mapped[int] = mapped_column(Integer, default=0)
    requires_approval: Mapped[bool] = mapped_column(Boolean, default=False)
    expires_at: Mapped[datetime] = mapped_column(UtcDateTime)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow)


class Channel(Base):
    """One named outlet. Every order belongs to exactly one; NULL owner = the main site."""

    __tablename__ = "channels"
    __table_args__ = (UniqueConstraint("distributor_id", "name"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    distributor_id: Mapped[int | None] = mapped_column(BigId, nullable=True, index=True)
    name: Mapped[str] = mapped_column(String(60))
    kind: Mapped[str] = mapped_column(String(16))
    """main | subsite | api | taobao | telegram | website | other."""
    is_active: Mapped[bool] = mapped_column(Boolean, default=True)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow)


class LevelPrice(Base):
    """Operator's level price list: what a level-``level`` distributor pays the platform.

    ``product_id`` NULL is the level's default rule. ``rule`` is how the price
    is computed from the product's supply price (see ``pricing.py``).
    """

    __tablename__ = "level_prices"
    __table_args__ = (UniqueConstraint("level", "product_id"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    level: Mapped[int] = mapped_column(Integer)
    product_id: Mapped[int | None] = mapped_column(BigId, nullable=True)
    rule: Mapped[str] = mapped_column(String(16))
    """fixed | markup_pct | markup_fixed (over the supply price)."""
    value: Mapped[int] = mapped_column(BigInteger)
    """Minor units (fixed, markup_fixed) or basis points (markup_pct: 1500 = 15 %)."""
    updated_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow, onupdate=utcnow)


class ChildPrice(Base):
    """A parent's rule for what its direct children pay it; ``product_id`` NULL = default."""

    __tablename__ = "child_prices"
    __table_args__ = (UniqueConstraint("parent_id", "product_id"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    parent_id: Mapped[int] = mapped_column(BigId)
    product_id: Mapped[int | None] = mapped_column(BigId, nullable=True)
    rule: Mapped[str] = mapped_column(String(16))
    """inherit | fixed | markup_pct | markup_fixed (over the parent's own cost)."""
    value: Mapped[int] = mapped_column(BigInteger, default=0)
    updated_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow, onupdate=utcnow)


class RetailPrice(Base):
    """A distributor's own retail price for a product on its sub-site."""

    __tablename__ = "retail_prices"
    __table_args__ = (UniqueConstraint("distributor_id", "product_id"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    distributor_id: Mapped[int] = mapped_column(BigId)
    product_id: Mapped[int] = mapped_column(BigId)
    price_minor: Mapped[int] = mapped_column(BigInteger)
    updated_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow, onupdate=utcnow)
