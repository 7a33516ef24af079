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


class Hold(Base):
    """Earnings in the settlement hold: pending until ``release_at``, then available.

    One row per (sale, earner). A refund reverses a pending hold from the
    pending account, or claws a released one back from the wallet.
    """

    __tablename__ = "ledger_holds"
    __table_args__ = (Index("ix_ledger_holds_status_release_at", "status", "release_at"), UniqueConstraint("order_id", "user_id"))

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    user_id: Mapped[int] = mapped_column(BigId, index=True)
    order_id: Mapped[int] = mapped_column(BigId)
    amount_minor: Mapped[int] = mapped_column(BigInteger)
    currency: Mapped[str] = mapped_column(String(4))
    role: Mapped[str] = mapped_column(String(16))
    """seller_profit | commission."""
    status: Mapped[str] = mapped_column(String(12), default="pending")
    """pending | released | reversed."""
    release_at: Mapped[datetime] = mapped_column(UtcDateTime)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow)


class Withdrawal(Base):
    """A request to pay out available money; the amount is locked while it is open."""

    __tablename__ = "ledger_withdrawals"

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    user_id: Mapped[int] = mapped_column(BigId, index=True)
    amount_minor: Mapped[int] = mapped_column(BigInteger)
    currency: Mapped[str] = mapped_column(String(4))
    status: Mapped[str] = mapped_column(String(12), default="requested")
    """requested | approved | rejected | paid."""
    payee: Mapped[str] = mapped_column(Text, default="")
    """Where to send the money (account details typed by the requester)."""
    reference: Mapped[str] = mapped_column(String(120), default="")
    """The payout's bank / gateway reference, set when marked paid."""
    note: Mapped[str] = mapped_column(Text, default="")
    decided_by: Mapped[int | None] = mapped_column(BigId, nullable=True)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow, onupdate=utcnow)
