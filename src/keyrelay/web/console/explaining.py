"""A price explanation as people read it: the chain from level 1 to the seller and who earns what.

Both consoles show it (the operator for anyone, a distributor for itself and its
downline); the numbers come from ``prices.explain``, only the wording is made here.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from fastapi import Request
from sqlalchemy.orm import Session

from keyrelay.catalog.models import Product
from keyrelay.distribution import network, prices
from keyrelay.distribution.models import Distributor
from keyrelay.kit.money import format_minor
from keyrelay.web import i18n
from keyrelay.web.console.wording import N_

_PARENT = re.compile(r"^parent (product|default) rule: (.+)$")
_LEVEL = re.compile(r"^level (\d+) list (product|default) rule: (.+)$")
_PCT = re.compile(r"^\+([\d.]+)%$")
_MINOR = re.compile(r"^\+(\d+) minor units$")
_FIXED = re.compile(r"^fixed (\d+)$")


@dataclass(frozen=True)
class ChainLine:
    """One distributor on the chain and what it pays per unit."""

    distributor_id: int
    level: int
    name: str
    cost: int
    how: str
    clamped: bool


@dataclass(frozen=True)
class ShareLine:
    """One party's part of one unit sold at the seller's retail."""

    role: str
    """supplier | platform | commission | seller_profit."""
    name: str
    amount: int


@dataclass(frozen=True)
class Explanation:
    distributor: Distributor
    product: Product
    supply: int
    map_price: int
    max_retail: int | None
    cost: int
    retail: int
    chain: list[ChainLine]
    shares: list[ShareLine]


def explain(request: Request, session: Session, target: Distributor, product: Product) -> Explanation:
    """Price ``product`` for ``target`` and word every line in the reader's language."""
    gettext = i18n.formatting_gettext(i18n.translations(i18n.choose_language(request)))
    quote = prices.explain(session, target, product)
    names = {d.id: d.name for d in network.chain(session, target)}
    limits = prices.product_prices(product)

    def rule_text(described: str) -> str:
        for pattern, msgid, money in ((_MINOR, N_("plus %(amount)s"), True), (_FIXED, N_("fixed price %(amount)s"), True)):
            found = pattern.match(described)
            if found:
                return gettext(msgid, amount=format_minor(int(found.group(1)), product.currency) if money else found.group(1))
        if _PCT.match(described):
            return described
        return gettext(N_("same as the parent's cost")) if described == "inherit" else described

    def how(source: str) -> str:
        found = _PARENT.match(source)
        if found:
            msgid = N_("parent's product rule: %(rule)s") if found.group(1) == "product" else N_("parent's default rule: %(rule)s")
            return gettext(msgid, rule=rule_text(found.group(2)))
        found = _LEVEL.match(source)
        if found:
            msgid = (
                N_("level %(n)s price list, product rule: %(rule)s")
                if found.group(2) == "product"
                else N_("level %(n)s price list, default rule: %(rule)s")
            )
            return gettext(msgid, n=found.group(1), rule=rule_text(found.group(3)))
        return gettext(N_("main-site price (no rule set)")) if source.startswith("main-site price") else source

    chain = [
        ChainLine(s.distributor_id, s.level, names.get(s.distributor_id, f"#{s.distributor_id}"), s.cost, how(s.source), s.clamped)
        for s in quote.steps
    ]
    shares = []
    for share in quote.split.shares:
        kind, _, ident = share.party.partition(":")
        name = names.get(int(ident), f"#{ident}") if kind == "distributor" and ident.isdigit() else ""
        shares.append(ShareLine(share.role, name, share.amount))
    return Explanation(
        target,
        product,
        product.supply_price_minor,
        product.map_minor,
        limits.max_retail,
        quote.unit_cost or 0,
        quote.unit_price,
        chain,
        shares,
    )
