"""Double-entry books: accounts, balanced transactions, immutable postings."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import BigInteger, Index, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from keyrelay.kit.clock import utcnow
from keyrelay.kit.db import Base, BigId, UtcDateTime


class Account(Base):
    """A bucket of money in one currency.

    Only wallets keep a cached ``balance_minor`` (updated atomically with their
    postings, so overdrafts are refused in one statement); platform-wide accounts
    derive their balance from postings to avoid a hot row on every sale.
    """

    __tablename__ = "ledger_accounts"
    __table_args__ = (UniqueConstraint("code", "currency"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    code: Mapped[str] = mapped_column(String(80))
    """E.g. ``wallet:user:7``, ``platform:revenue``, ``clearing:sandbox``."""
    kind: Mapped[str] = mapped_column(String(16))
    """wallet | revenue | clearing | equity."""
    currency: Mapped[str] = mapped_column(String(4))
    owner_user_id: Mapped[int | None] = mapped_column(BigId, nullable=True, index=True)
    balance_minor: Mapped[int] = mapped_column(BigInteger, default=0)
    """Cached for wallets only; ``keyrelay ledger check`` compares it with the postings."""
    created_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow)


class Transaction(Base):
    """One balanced money movement. ``(kind, ref)`` is unique: a sale is booked once."""

    __tablename__ = "ledger_transactions"
    __table_args__ = (UniqueConstraint("kind", "ref"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    kind: Mapped[str] = mapped_column(String(24))
    """topup | sale | refund | adjustment ..."""
    ref: Mapped[str] = mapped_column(String(80))
    memo: Mapped[str] = mapped_column(Text, default="")
    created_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow)


class Posting(Base):
    """A signed amount on one account; a transaction's postings sum to zero per currency.

    Positive = debit. No FK to accounts: high-volume rows must not lock hot parents.
    """

    __tablename__ = "ledger_postings"
    __table_args__ = (Index("ix_ledger_postings_account_id", "account_id", "id"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    transaction_id: Mapped[int] = mapped_column(BigId, index=True)
    account_id: Mapped[int] = mapped_column(BigId)
    amount_minor: Mapped[int] = mapped_column(BigInteger)
    currency: Mapped[str] = mapped_column(String(4))
