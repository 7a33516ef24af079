"""The price strategy: pure functions from rules to per-unit prices and exact splits.

Resolution for distributor D (level k) buying product X:

* level 1: the operator's level-1 list — product rule, else default rule, else
  the product's main-site price — computed over the supply price;
* level k > 1 with parent P: P's rule for X, else P's default rule, else the
  level-k list; ``inherit`` and markups are computed over P's own cost, and the
  result is never below P's cost (a parent never sells at a loss).

Percentages are basis points and round half up to the minor unit *per unit*,
so every party's share of a sale is an exact integer multiple of the quantity
and the split always sums to the amount with nothing left over.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass, field

RULES = ("fixed", "markup_pct", "markup_fixed")
CHILD_RULES = ("inherit", *RULES)
BP = 10_000


@dataclass(frozen=True)
class Rule:
    """How to compute a price from a base: ``value`` is minor units or basis points."""

    kind: str
    value: int = 0

    def apply(self, base: int) -> int:
        if self.kind == "fixed":
            return self.value
        if self.kind == "markup_pct":
            return base + (base * self.value + BP // 2) // BP
        if self.kind == "markup_fixed":
            return base + self.value
        if self.kind == "inherit":
            return base
        raise ValueError(f"unknown price rule {self.kind!r}")

    def describe(self) -> str:
        if self.kind == "markup_pct":
            return f"+{self.value / 100:g}%"
        if self.kind == "markup_fixed":
            return f"+{self.value} minor units"
        return f"fixed {self.value}" if self.kind == "fixed" else "inherit"


@dataclass(frozen=True)
class ProductPrices:
    """The product's own price points (minor units per unit)."""

    product_id: int
    supply: int
    main_price: int
    map_price: int
    max_markup_bp: int | None

    @property
    def max_retail(self) -> int | None:
        """Ceiling for any seller's retail: MAP (or main price) plus the maximum markup."""
        if self.max_markup_bp is None:
            return None
        base = self.map_price or self.main_price
        return base + (base * self.max_markup_bp + BP // 2) // BP


@dataclass(frozen=True)
class Node:
    """One distributor on the chain from level 1 down to the seller, with the rules it sees."""

    distributor_id: int
    user_id: int
    level: int
    parent_rule: Rule | None
    """The parent's rule for this product (product rule, else default), None at level 1 or if unset."""
    parent_rule_source: str
    level_rule: Rule | None
    level_rule_source: str


@dataclass(frozen=True)
class Step:
    """One line of a price explanation."""

    distributor_id: int
    user_id: int
    level: int
    cost: int
    source: str
    clamped: bool = False


def resolve_chain(product: ProductPrices, nodes: list[Node]) -> list[Step]:
    """Per-unit cost of every node, level 1 first (``nodes`` ordered root → seller)."""
    steps: list[Step] = []
    parent_cost = product.supply
    for node in nodes:
        if node.parent_rule is not None and steps:
            raw, source = node.parent_rule.apply(parent_cost), f"parent {node.parent_rule_source}: {node.parent_rule.describe()}"
        elif node.level_rule is not None:
            raw, source = (
                node.level_rule.apply(product.supply),
                f"level {node.level} list {node.level_rule_source}: {node.level_rule.describe()}",
            )
        else:
            raw, source = product.main_price, "main-site price (no rule set)"
        cost = max(raw, parent_cost)
        steps.append(Step(node.distributor_id, node.user_id, node.level, cost, source, clamped=cost != raw))
        parent_cost = cost
    return steps


@dataclass(frozen=True)
class Share:
    """One party's part of a sale. ``party`` is ``distributor:<id>``, ``platform`` or ``supplier:<user id>``."""

    party: str
    role: str
    """seller_profit | commission | platform | supplier."""
    amount: int
    user_id: int | None = None
    """The earning account's user (distributors and suppliers); None for the platform."""
    note: str = ""


@dataclass(frozen=True)
class Split:
    """How a sale's amount is divided; ``shares`` always sum to ``amount``."""

    amount: int
    shares: list[Share] = field(default_factory=list)

    def check(self) -> None:
        total = sum(share.amount for share in self.shares)
        if total != self.amount or any(share.amount < 0 for share in self.shares):
            raise ArithmeticError(f"split does not add up: {total} != {self.amount}")


def split_sale(
    product: ProductPrices,
    steps: list[Step],
    *,
    unit_price: int,
    quantity: int,
    seller_profits: bool,
    supplier_user_id: int | None,
    self_dealing_ids: frozenset[int] = frozenset(),
) -> Split:
    """Divide ``unit_price × quantity`` among supplier, platform, uplines and seller.

    ``steps`` is the resolved chain (root → seller; empty for a main-site sale).
    With ``seller_profits`` False (a wholesale purchase) the seller pays its own
    cost and earns nothing. A node in ``self_dealing_ids`` (the buyer is that
    distributor) forfeits its share to the platform, so nobody earns commission
    on their own purchase.
    """
    amount = unit_price * quantity
    supplier_party = f"supplier:{supplier_user_id}" if supplier_user_id else "platform"
    shares = [Share(supplier_party, "supplier", product.supply * quantity, supplier_user_id)]
    first_cost = steps[0].cost if steps else unit_price
    platform = (first_cost - product.supply) * quantity
    for upline, child in itertools.pairwise(steps):
        part = (child.cost - upline.cost) * quantity
        if upline.distributor_id in self_dealing_ids:
            platform += part
        elif part:
            shares.append(Share(f"distributor:{upline.distributor_id}", "commission", part, upline.user_id, f"level {upline.level}"))
    if steps and seller_profits:
        seller = steps[-1]
        part = (unit_price - seller.cost) * quantity
        if seller.distributor_id in self_dealing_ids:
            platform += part
        elif part:
            shares.append(Share(f"distributor:{seller.distributor_id}", "seller_profit", part, seller.user_id, f"level {seller.level}"))
    shares.insert(1, Share("platform", "platform", platform))
    split = Split(amount, [s for s in shares if s.amount or s.role == "supplier"])
    split.check()
    return split
