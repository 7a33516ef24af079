"""Accounts of people who sign in: operators, suppliers, distributors, registered buyers."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Boolean, String
from sqlalchemy.orm import Mapped, mapped_column

from keyrelay.kit.clock import utcnow
from keyrelay.kit.db import Base, BigId, UtcDateTime


class User(Base):
    """A person with a login. ``role`` decides which console they may open."""

    __tablename__ = "users"

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    email: Mapped[str] = mapped_column(String(254), unique=True)
    """Lower-cased at the edge; the login name."""
    password_hash: Mapped[str] = mapped_column(String(255))
    """argon2id hash; never the password."""
    role: Mapped[str] = mapped_column(String(16))
    """operator | supplier | distributor | buyer."""
    display_name: Mapped[str] = mapped_column(String(80), default="")
    is_active: Mapped[bool] = mapped_column(Boolean, default=True)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow)
