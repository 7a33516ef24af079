"""Distribution status machines, as data: a distributor's standing in the network."""

from __future__ import annotations

from keyrelay.kit.states import StateMachine

PENDING, ACTIVE, SUSPENDED = "pending", "active", "suspended"

#: The operator approves (pending → active), suspends, or reinstates (suspended → active).
DISTRIBUTOR = StateMachine(
    "distributor",
    {
        PENDING: frozenset({ACTIVE, SUSPENDED}),
        ACTIVE: frozenset({SUSPENDED}),
        SUSPENDED: frozenset({ACTIVE}),
    },
)
