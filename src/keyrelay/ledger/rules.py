"""Ledger status machines, as data: the withdrawal's life."""

from __future__ import annotations

from keyrelay.kit.errors import N_, IllegalTransition, define
from keyrelay.kit.states import StateMachine

ILLEGAL = define(
    "illegal_transition",
    IllegalTransition,
    "a %(current)s withdrawal cannot become %(target)s",
    N_("Not possible for a withdrawal in this state; nothing was changed."),
)
RACED = define(
    "illegal_transition",
    IllegalTransition,
    "the withdrawal was changed concurrently",
    N_("Someone else changed this withdrawal just now; reload the page."),
)

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
    illegal=ILLEGAL,
    raced=RACED,
)
