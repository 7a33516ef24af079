"""Ledger status machines, as data: the withdrawal's life."""

from __future__ import annotations

from keyrelay.kit.states import StateMachine

REQUESTED, APPROVED, REJECTED, PAID = "requested", "approved", "rejected", "paid"

#: requested → approved → paid; requested/approved → rejected (money unlocked).
WITHDRAWAL = StateMachine(
    "withdrawal",
    {
        REQUESTED: frozenset({APPROVED, REJECTED}),
        APPROVED: frozenset({PAID, REJECTED}),
        REJECTED: frozenset(),
        PAID: frozenset(),
    },
)
