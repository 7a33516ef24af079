"""Money a caller may read: the withdrawals in its reach.

The operator reads every account's withdrawals; a distributor only its own
(not even its downline's: payouts are private to the account that asked).
"""

from __future__ import annotations

from sqlalchemy.orm import Session

from keyrelay.distribution.reach import Reach
from keyrelay.ledger import withdrawals
from keyrelay.ledger.withdrawals import Withdrawal


def readable_withdrawals(session: Session, reach: Reach, *, status: str | None = None, limit: int = 100) -> list[Withdrawal]:
    """Newest first; ``status`` narrows the list."""
    return withdrawals.list_for(session, user_id=reach.user_id, status=status, limit=limit)
