"""Ledger use cases: accounts, balanced transactions, wallet balances, the books check.

Sign convention: an account's balance is the sum of its postings, so a wallet
holding money is positive and the accounts facing the outside world (payment
clearing, operator funding) carry the opposite sign. Every transaction's
postings sum to zero per currency, hence so do the whole books.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass

from sqlalchemy import BigInteger, bindparam, func, insert, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from keyrelay.audit.service import record
from keyrelay.identity import service as identity
from keyrelay.kit.clock import utcnow
from keyrelay.kit.db import insert_or_skip, table_of
from keyrelay.kit.ids import random_code
from keyrelay.ledger import errors
from keyrelay.ledger.models import Account as Account  # re-exported: the public type of a ledger account
from keyrelay.ledger.models import Posting, Transaction


@dataclass(frozen=True)
class Leg:
    """One side of a transaction: ``amount`` minor units onto ``account``."""

    account: Account
    amount: int
    allow_negative: bool = False
    """Only claw-backs may push a wallet below zero; the negative balance is debt."""


@dataclass(frozen=True)
class AccountSpec:
    """An account to get or create: its code, kind and owner."""

    code: str
    kind: str
    owner_user_id: int | None = None


PLATFORM_REVENUE = AccountSpec("platform:revenue", "revenue")


def wallet_code(user_id: int) -> str:
    return f"wallet:user:{user_id}"


def pending_code(user_id: int) -> str:
    return f"pending:user:{user_id}"


def withdrawing_code(user_id: int) -> str:
    return f"withdrawing:user:{user_id}"


def pending_account(session: Session, user_id: int, currency: str) -> Account:
    """Earnings still in the settlement hold."""
    return account(session, pending_code(user_id), kind="pending", currency=currency, owner_user_id=user_id)


def pending_spec(user_id: int) -> AccountSpec:
    return AccountSpec(pending_code(user_id), "pending", user_id)


def withdrawing_account(session: Session, user_id: int, currency: str) -> Account:
    """Money locked by open withdrawal requests."""
    return account(session, withdrawing_code(user_id), kind="locked", currency=currency, owner_user_id=user_id)


def platform_revenue(session: Session, currency: str) -> Account:
    return account(session, PLATFORM_REVENUE.code, kind=PLATFORM_REVENUE.kind, currency=currency)


def supplier_payable_spec(user_id: int) -> AccountSpec:
    return AccountSpec(f"payable:supplier:{user_id}", "payable", user_id)


def account(session: Session, code: str, *, kind: str, currency: str, owner_user_id: int | None = None) -> Account:
    """Get or create the account ``code`` in ``currency``."""
    found = session.scalar(_BY_CODE, {"code": code, "currency": currency})
    if found is not None:
        return found
    created = Account(code=code, kind=kind, currency=currency, owner_user_id=owner_user_id, balance_minor=0)
    try:
        with session.begin_nested():
            session.add(created)
    except IntegrityError:  # created concurrently: use theirs
        return session.scalars(select(Account).where(Account.code == code, Account.currency == currency)).one()
    return created


def accounts(session: Session, specs: Sequence[AccountSpec], currency: str) -> dict[str, Account]:
    """Get or create several accounts in ``currency`` with one SELECT (a sale names up to five)."""
    wanted = {spec.code: spec for spec in specs}
    found = {a.code: a for a in session.scalars(_BY_CODES, {"codes": list(wanted), "currency": currency})}
    for code, spec in wanted.items():
        if code not in found:
            found[code] = account(session, code, kind=spec.kind, currency=currency, owner_user_id=spec.owner_user_id)
    return found


# Built once with bind parameters: the hot path's statements built per call cost ~40 % more CPU (docs/performance.md).
_BY_CODE = select(Account).where(Account.code == bindparam("code"), Account.currency == bindparam("currency"))
_BY_CODES = select(Account).where(Account.code.in_(bindparam("codes", expanding=True)), Account.currency == bindparam("currency"))


def wallet(session: Session, user_id: int, currency: str) -> Account:
    return account(session, wallet_code(user_id), kind="wallet", currency=currency, owner_user_id=user_id)


def post(session: Session, *, kind: str, ref: str, legs: Sequence[Leg], memo: str = "") -> int:
    """Book one balanced transaction; wallets are updated atomically and never overdrawn.

    ``(kind, ref)`` is unique, so booking the same business event twice fails
    instead of moving money twice.
    """
    _check_balanced(legs)
    txn_id = insert_or_skip(session, Transaction, {"kind": kind, "ref": ref, "memo": memo, "created_at": utcnow()}, ["kind", "ref"])
    if txn_id is None:
        raise errors.ALREADY_BOOKED(kind=kind, ref=ref)
    rows = [
        {"transaction_id": txn_id, "account_id": leg.account.id, "amount_minor": leg.amount, "currency": leg.account.currency}
        for leg in legs
    ]
    session.connection().execute(_INSERT_POSTINGS, rows)
    # Wallets last: a wallet row stays locked from its UPDATE to COMMIT, so lock it as late as we can.
    for leg in sorted(legs, key=lambda leg: leg.account.id):  # fixed lock order avoids deadlocks
        if leg.account.kind == "wallet":
            _move_wallet(session, leg.account, leg.amount, allow_negative=leg.allow_negative)
    return txn_id


def _check_balanced(legs: Sequence[Leg]) -> None:
    if len(legs) < 2:
        raise errors.TOO_FEW_POSTINGS()
    totals: dict[str, int] = defaultdict(int)
    for leg in legs:
        if isinstance(leg.amount, bool) or not isinstance(leg.amount, int):
            raise errors.NOT_MINOR_UNITS()
        totals[leg.account.currency] += leg.amount
    if any(totals.values()):
        raise errors.UNBALANCED()


def _move_wallet(session: Session, wallet_account: Account, amount: int, *, allow_negative: bool = False) -> None:
    # One conditional UPDATE both checks and moves: no read-then-write race, short row lock.
    statement = _DEBIT if amount < 0 and not allow_negative else _MOVE
    new_balance = session.connection().execute(statement, {"account_id": wallet_account.id, "amount": amount}).scalar()
    if new_balance is None:
        raise errors.BALANCE_TOO_LOW()
    session.expire(wallet_account, ["balance_minor"])


_INSERT_POSTINGS = insert(table_of(Posting))
_ACCOUNTS = table_of(Account)
_MOVE = (
    update(_ACCOUNTS)
    .where(_ACCOUNTS.c.id == bindparam("account_id"))
    .values(balance_minor=_ACCOUNTS.c.balance_minor + bindparam("amount", type_=BigInteger))
    .returning(_ACCOUNTS.c.balance_minor)
)
_DEBIT = (
    update(_ACCOUNTS)
    .where(_ACCOUNTS.c.id == bindparam("account_id"), _ACCOUNTS.c.balance_minor + bindparam("amount", type_=BigInteger) >= 0)
    .values(balance_minor=_ACCOUNTS.c.balance_minor + bindparam("amount", type_=BigInteger))
    .returning(_ACCOUNTS.c.balance_minor)
)
"""Never below zero: the UPDATE matches no row when the balance would go negative."""


def balance(session: Session, account_id: int) -> int:
    """Balance derived from postings (the source of truth)."""
    return int(session.scalar(select(func.coalesce(func.sum(Posting.amount_minor), 0)).where(Posting.account_id == account_id)) or 0)


@dataclass
class BooksReport:
    """Result of the reconciliation check; ``ok`` only if every list is empty."""

    transactions: int
    unbalanced: list[int]
    currency_totals: dict[str, int]
    wallet_mismatches: list[tuple[str, int, int]]

    @property
    def ok(self) -> bool:
        return not self.unbalanced and not any(self.currency_totals.values()) and not self.wallet_mismatches


def check_books(session: Session) -> BooksReport:
    """Verify every transaction balances, the books sum to zero, and wallet caches agree."""
    per_txn = select(Posting.transaction_id).group_by(Posting.transaction_id, Posting.currency).having(func.sum(Posting.amount_minor) != 0)
    unbalanced = sorted(set(session.scalars(per_txn)))
    totals = dict(session.execute(select(Posting.currency, func.sum(Posting.amount_minor)).group_by(Posting.currency)).tuples().all())
    derived = dict(session.execute(select(Posting.account_id, func.sum(Posting.amount_minor)).group_by(Posting.account_id)).tuples().all())
    mismatches = [
        (acc.code, acc.balance_minor, int(derived.get(acc.id, 0)))
        for acc in session.scalars(select(Account).where(Account.kind == "wallet"))
        if acc.balance_minor != int(derived.get(acc.id, 0))
    ]
    count = session.scalar(select(func.count()).select_from(Transaction)) or 0
    return BooksReport(count, unbalanced, {k: int(v) for k, v in totals.items()}, mismatches)


def statement(session: Session, account_id: int, *, limit: int = 100) -> list[tuple[Transaction, int]]:
    """Newest postings of an account with their transactions."""
    query = (
        select(Transaction, Posting.amount_minor)
        .join(Posting, Posting.transaction_id == Transaction.id)
        .where(Posting.account_id == account_id)
        .order_by(Posting.id.desc())
        .limit(limit)
    )
    return [(txn, int(amount)) for txn, amount in session.execute(query).tuples()]


def credit_wallet(session: Session, *, user_id: int, amount_minor: int, currency: str, ref: str, memo: str = "") -> int:
    """Operator funds a wallet (until top-ups through gateways land)."""
    if isinstance(amount_minor, bool) or not isinstance(amount_minor, int) or amount_minor <= 0:
        raise errors.BAD_AMOUNT(field="amount_minor")
    target = wallet(session, user_id, currency)
    funding = account(session, "equity:operator-credit", kind="equity", currency=currency)
    return post(session, kind="topup", ref=ref, legs=[Leg(target, amount_minor), Leg(funding, -amount_minor)], memo=memo)


@dataclass(frozen=True)
class Credit:
    """A wallet credit that was booked: its topup ``ref`` and the wallet's new balance."""

    ref: str
    balance_minor: int


def credit_by_operator(
    session: Session, *, user_id: int, amount_minor: int, currency: str, memo: str = "", actor: str, ip: str = ""
) -> Credit:
    """The operator credits a user's wallet: a balanced topup and its audit row, in the caller's transaction."""
    identity.get_user(session, user_id)
    ref = f"credit-{random_code(12)}"
    credit_wallet(session, user_id=user_id, amount_minor=amount_minor, currency=currency, ref=ref, memo=memo)
    record(
        session,
        actor=actor,
        action="wallet.credit",
        target_type="user",
        target_id=str(user_id),
        ip=ip,
        amount_minor=amount_minor,
        currency=currency,
        ref=ref,
    )
    return Credit(ref=ref, balance_minor=wallet(session, user_id, currency).balance_minor)


@dataclass(frozen=True)
class WalletSummary:
    """A user's money: spendable/withdrawable, still on hold, locked by open withdrawals."""

    currency: str
    available: int
    pending: int
    locked: int


# --- reads: never create an account, never write -------------------------------------------
# ``wallet()`` and its siblings get *or create* an account, which only a write may do. Reads use
# these lookups instead: an account nobody has posted to yet reads as balance 0 and no lines.

STATEMENT_ACCOUNTS = {"available": wallet_code, "pending": pending_code}
"""The accounts of a user a statement can show, by name, and their codes."""


def find_account(session: Session, code: str, currency: str) -> Account | None:
    """The account ``code`` in ``currency`` if it exists (read-only: nothing is created)."""
    found: Account | None = session.scalar(select(Account).where(Account.code == code, Account.currency == currency))
    return found


def wallet_balance(session: Session, user_id: int, currency: str) -> int:
    """What the user can spend or withdraw; 0 before the first posting."""
    found = find_account(session, wallet_code(user_id), currency)
    return found.balance_minor if found is not None else 0


def _derived(session: Session, code: str, currency: str) -> int:
    found = find_account(session, code, currency)
    return balance(session, found.id) if found is not None else 0


def wallet_summary(session: Session, user_id: int, currency: str) -> WalletSummary:
    """A user's three balances, read-only: missing accounts read as 0."""
    return WalletSummary(
        currency=currency,
        available=wallet_balance(session, user_id, currency),
        pending=_derived(session, pending_code(user_id), currency),
        locked=_derived(session, withdrawing_code(user_id), currency),
    )


def user_statement(
    session: Session, user_id: int, currency: str, *, account: str = "available", limit: int = 100
) -> list[tuple[Transaction, int]]:
    """Newest lines of a user's ``available`` or ``pending`` account, read-only: none before the first posting."""
    found = find_account(session, STATEMENT_ACCOUNTS[account](user_id), currency)
    return statement(session, found.id, limit=limit) if found is not None else []


@dataclass(frozen=True)
class AccountBalance:
    code: str
    kind: str
    currency: str
    owner_user_id: int | None
    balance_minor: int


def trial_balance(session: Session, *, limit: int = 1000) -> list[AccountBalance]:
    """Every account with its balance derived from postings (the reconciliation report)."""
    sums = select(Posting.account_id, func.sum(Posting.amount_minor).label("total")).group_by(Posting.account_id).subquery()
    query = (
        select(Account, func.coalesce(sums.c.total, 0))
        .outerjoin(sums, sums.c.account_id == Account.id)
        .order_by(Account.kind, Account.code, Account.currency)
        .limit(limit)
    )
    return [AccountBalance(a.code, a.kind, a.currency, a.owner_user_id, int(total)) for a, total in session.execute(query).tuples()]
