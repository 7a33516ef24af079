"""The price strategy and the exact split, as pure functions."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from keyrelay.distribution.pricing import Node, ProductPrices, Rule, resolve_chain, split_sale

PRODUCT = ProductPrices(product_id=1, supply=6000, main_price=10000, map_price=9000, max_markup_bp=2000)


def node(did: int, level: int, parent: Rule | None = None, level_rule: Rule | None = None) -> Node:
    return Node(did, 100 + did, level, parent, "product rule" if parent else "", level_rule, "default rule" if level_rule else "")


def worked_example() -> list[Node]:
    """Level 1 buys at supply + 25 %, its child at +5 %, the grandchild at +2.00 over its parent."""
    return [
        node(1, 1, level_rule=Rule("markup_pct", 2500)),
        node(2, 2, parent=Rule("markup_pct", 500)),
        node(3, 3, parent=Rule("markup_fixed", 200)),
    ]


def test_chain_resolution_worked_example() -> None:
    steps = resolve_chain(PRODUCT, worked_example())
    assert [s.cost for s in steps] == [7500, 7875, 8075]
    assert [s.clamped for s in steps] == [False, False, False]


def test_hosted_sale_split_is_exact_and_explained() -> None:
    steps = resolve_chain(PRODUCT, worked_example())
    split = split_sale(PRODUCT, steps, unit_price=9900, quantity=3, seller_profits=True, supplier_user_id=50)
    shares = {(s.party, s.role): s.amount for s in split.shares}
    assert shares == {
        ("supplier:50", "supplier"): 18000,
        ("platform", "platform"): 4500,
        ("distributor:1", "commission"): 1125,
        ("distributor:2", "commission"): 600,
        ("distributor:3", "seller_profit"): 5475,
    }
    assert sum(shares.values()) == 29700


def test_wholesale_purchase_pays_own_cost_and_uplines_earn() -> None:
    steps = resolve_chain(PRODUCT, worked_example())
    split = split_sale(PRODUCT, steps, unit_price=steps[-1].cost, quantity=2, seller_profits=False, supplier_user_id=None)
    roles = [(s.party, s.role, s.amount) for s in split.shares]
    assert ("platform", "supplier", 12000) in roles  # operator-owned goods: the supply share is the platform's
    assert ("distributor:3", "seller_profit", 0) not in roles
    assert sum(s.amount for s in split.shares) == 8075 * 2


def test_parent_never_sells_below_its_cost() -> None:
    nodes = [node(1, 1, level_rule=Rule("fixed", 9000)), node(2, 2, parent=Rule("fixed", 100))]
    steps = resolve_chain(PRODUCT, nodes)
    assert steps[1].cost == 9000
    assert steps[1].clamped


def test_level_list_applies_when_the_parent_set_nothing() -> None:
    nodes = [node(1, 1, level_rule=Rule("markup_pct", 1000)), node(2, 2, level_rule=Rule("markup_pct", 2000))]
    assert [s.cost for s in resolve_chain(PRODUCT, nodes)] == [6600, 7200]


def test_no_rule_means_main_site_price() -> None:
    assert resolve_chain(PRODUCT, [node(1, 1)])[0].cost == 10000


def test_self_dealing_share_goes_to_the_platform() -> None:
    steps = resolve_chain(PRODUCT, worked_example())
    split = split_sale(
        PRODUCT, steps, unit_price=9900, quantity=1, seller_profits=True, supplier_user_id=None, self_dealing_ids=frozenset({1})
    )
    parties = {s.party for s in split.shares}
    assert "distributor:1" not in parties
    assert sum(s.amount for s in split.shares) == 9900


def test_percentages_round_half_up_per_unit() -> None:
    assert Rule("markup_pct", 1250).apply(1) == 1  # 1.125 → 1
    assert Rule("markup_pct", 5000).apply(1) == 2  # 1.5 → 2
    assert Rule("markup_pct", 333).apply(999) == 1032  # 999 × 1.0333 = 1032.27


def test_max_retail_is_map_plus_markup() -> None:
    assert PRODUCT.max_retail == 10800
    with pytest.raises(ValueError, match="unknown"):
        Rule("bogus").apply(1)


rules = st.one_of(
    st.builds(Rule, st.just("markup_pct"), st.integers(0, 20000)),
    st.builds(Rule, st.just("markup_fixed"), st.integers(0, 5000)),
    st.builds(Rule, st.just("fixed"), st.integers(0, 30000)),
    st.builds(Rule, st.just("inherit")),
    st.none(),
)


@given(
    supply=st.integers(0, 20000),
    extra=st.integers(0, 20000),
    chain_rules=st.lists(st.tuples(rules, rules), min_size=0, max_size=5),
    quantity=st.integers(1, 50),
    markup=st.integers(0, 5000),
    wholesale=st.booleans(),
)
def test_split_always_sums_exactly(
    supply: int, extra: int, chain_rules: list[tuple[Rule | None, Rule | None]], quantity: int, markup: int, wholesale: bool
) -> None:
    product = ProductPrices(1, supply, supply + extra, 0, None)
    nodes = [node(i + 1, i + 1, parent=parent if i else None, level_rule=level) for i, (parent, level) in enumerate(chain_rules)]
    steps = resolve_chain(product, nodes)
    costs = [product.supply, *(s.cost for s in steps)]
    assert costs == sorted(costs), "costs never decrease down the chain"
    unit = (steps[-1].cost if steps else product.main_price) + (0 if wholesale else markup)
    split = split_sale(product, steps, unit_price=unit, quantity=quantity, seller_profits=not wholesale, supplier_user_id=7)
    assert sum(s.amount for s in split.shares) == unit * quantity
    assert all(s.amount >= 0 for s in split.shares)
    assert len({s.party for s in split.shares if s.role != "platform"}) == len([s for s in split.shares if s.role != "platform"])
