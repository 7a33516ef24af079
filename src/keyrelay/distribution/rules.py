"""Distribution status machines, as data: a distributor's standing in the network."""

from __future__ import annotations

from keyrelay.kit.errors import N_, IllegalTransition, define
from keyrelay.kit.states import StateMachine

ILLEGAL = define(
    "illegal_transition",
    IllegalTransition,
    "a %(current)s distributor cannot become %(target)s",
    N_("Not possible for a distributor in this state; nothing was changed."),
)

PENDING, ACTIVE, SUSPENDED = "pending", "active", "suspended"

#: The operator approves (pending → active), suspends, or reinstates (suspended → active).
DISTRIBUTOR = StateMachine(
    "distributor",
    {
        PENDING: frozenset({ACTIVE, SUSPENDED}),
        ACTIVE: frozenset({SUSPENDED}),
        SUSPENDED: frozenset({ACTIVE}),
    },
    illegal=ILLEGAL,
)
