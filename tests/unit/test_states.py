"""The status-machine mechanism as pure rules, and each domain's machine as data."""

from __future__ import annotations

import pytest

from keyrelay.distribution.rules import DISTRIBUTOR
from keyrelay.kit.errors import IllegalTransition
from keyrelay.kit.states import StateMachine
from keyrelay.ledger.rules import WITHDRAWAL
from keyrelay.orders import rules as order_rules
from keyrelay.orders.rules import ORDER

DOOR = StateMachine("door", {"open": frozenset({"closed"}), "closed": frozenset({"open", "locked"}), "locked": frozenset()})


def test_can_follows_the_data() -> None:
    assert DOOR.can("open", "closed")
    assert DOOR.can("closed", "locked")
    assert not DOOR.can("open", "locked")
    assert not DOOR.can("open", "open")  # staying put is not a move
    assert not DOOR.can("locked", "open")  # a final state goes nowhere
    assert not DOOR.can("ajar", "open")  # an unknown state goes nowhere
    assert DOOR.states == {"open", "closed", "locked"}


def test_check_raises_illegal_transition_naming_both_states() -> None:
    DOOR.check("closed", "open")
    with pytest.raises(IllegalTransition) as caught:
        DOOR.check("locked", "open")
    assert caught.value.detail == "a locked door cannot become open"
    assert caught.value.code == "illegal_transition"
    assert caught.value.status == 409


@pytest.mark.parametrize("machine", [ORDER, WITHDRAWAL, DISTRIBUTOR], ids=lambda m: m.name)
def test_every_target_is_a_known_state(machine: StateMachine) -> None:
    for targets in machine.transitions.values():
        assert targets <= machine.states


def test_domain_messages_are_the_ones_the_consoles_reword() -> None:
    with pytest.raises(IllegalTransition, match=r"^an order that is expired cannot become paid$"):
        order_rules.check_transition(order_rules.EXPIRED, order_rules.PAID)
    with pytest.raises(IllegalTransition, match=r"^a paid withdrawal cannot become rejected$"):
        WITHDRAWAL.check("paid", "rejected")
    with pytest.raises(IllegalTransition, match=r"^a active distributor cannot become pending$"):
        DISTRIBUTOR.check("active", "pending")


def test_the_distributor_moves_the_operator_makes() -> None:
    assert DISTRIBUTOR.can("pending", "active")  # approve
    assert DISTRIBUTOR.can("pending", "suspended")
    assert DISTRIBUTOR.can("active", "suspended")  # suspend
    assert DISTRIBUTOR.can("suspended", "active")  # reinstate
    assert not DISTRIBUTOR.can("suspended", "pending")
    assert not DISTRIBUTOR.can("active", "active")
