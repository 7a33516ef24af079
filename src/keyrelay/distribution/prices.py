"""Loading price rules from the database and applying the strategy in ``pricing.py``."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TypeVar

from sqlalchemy import bindparam, or_, select
from sqlalchemy.orm import Session

from keyrelay.audit.service import record
from keyrelay.catalog.service import Product
from keyrelay.distribution import errors, network
from keyrelay.distribution.models import ChildPrice, Distributor, LevelPrice, RetailPrice
from keyrelay.distribution.pricing import CHILD_RULES, RULES, Node, ProductPrices, Rule, Split, Step, resolve_chain, split_sale
from keyrelay.kit import outbox
from keyrelay.kit.money import MAX_AMOUNT_MINOR


def product_prices(product: Product) -> ProductPrices:
    return ProductPrices(product.id, product.supply_price_minor, product.price_minor, product.map_minor, product.max_markup_bp)


def _pick(rows: list[LevelPrice] | list[ChildPrice], product_id: int) -> tuple[Rule | None, str]:
    """Product rule beats default rule."""
    by_product = {row.product_id: row for row in rows}
    for key, source in ((product_id, "product rule"), (None, "default rule")):
        if key in by_product:
            row = by_product[key]
            return Rule(row.rule, row.value), source
    return None, ""


def cost_steps(session: Session, distributor: Distributor, product: Product) -> list[Step]:
    """The per-unit cost of every distributor from level 1 down to ``distributor``."""
    nodes_chain = network.chain(session, distributor)
    levels = sorted({d.level for d in nodes_chain})
    level_rows = list(session.scalars(_LEVEL_RULES, {"levels": levels, "product_id": product.id}))
    parent_ids = [d.parent_id for d in nodes_chain if d.parent_id]
    child_rows = list(session.scalars(_CHILD_RULES, {"parents": parent_ids, "product_id": product.id})) if parent_ids else []
    nodes = []
    for d in nodes_chain:
        parent_rule, parent_source = _pick([r for r in child_rows if r.parent_id == d.parent_id], product.id) if d.parent_id else (None, "")
        level_rule, level_source = _pick([r for r in level_rows if r.level == d.level], product.id)
        nodes.append(Node(d.id, d.user_id, d.level, parent_rule, parent_source, level_rule, level_source))
    return resolve_chain(product_prices(product), nodes)


# Built once (with bind parameters): the hot path's statements built per call cost ~40 % more CPU (docs/performance.md).
_LEVEL_RULES = select(LevelPrice).where(
    LevelPrice.level.in_(bindparam("levels", expanding=True)),
    or_(LevelPrice.product_id == bindparam("product_id"), LevelPrice.product_id.is_(None)),
)
_CHILD_RULES = select(ChildPrice).where(
    ChildPrice.parent_id.in_(bindparam("parents", expanding=True)),
    or_(ChildPrice.product_id == bindparam("product_id"), ChildPrice.product_id.is_(None)),
)


def retail_price(session: Session, distributor: Distributor, product: Product) -> int:
    """The distributor's own retail price for ``product``, else the main-site price."""
    own = session.scalar(
        select(RetailPrice.price_minor).where(RetailPrice.distributor_id == distributor.id, RetailPrice.product_id == product.id)
    )
    return own if own is not None else product.price_minor


def retail_prices(session: Session, distributor: Distributor) -> dict[int, int]:
    rows = session.execute(select(RetailPrice.product_id, RetailPrice.price_minor).where(RetailPrice.distributor_id == distributor.id))
    return dict(rows.tuples().all())


@dataclass(frozen=True)
class Quote:
    """A sale priced and split, frozen at order time (price changes never reach placed orders)."""

    unit_price: int
    unit_cost: int | None
    split: Split
    steps: list[Step]

    def as_json(self) -> dict[str, object]:
        return {
            "unit_price": self.unit_price,
            "unit_cost": self.unit_cost,
            "chain": [
                {"distributor_id": s.distributor_id, "level": s.level, "cost": s.cost, "source": s.source, "clamped": s.clamped}
                for s in self.steps
            ],
            "shares": [
                {"party": s.party, "role": s.role, "amount": s.amount, "user_id": s.user_id, "note": s.note} for s in self.split.shares
            ],
        }


def quote(
    session: Session,
    product: Product,
    quantity: int,
    *,
    seller: Distributor | None,
    wholesale: bool,
    buyer_user_id: int | None = None,
    buyer_contact: str = "",
) -> Quote:
    """Price a sale by ``seller`` (None = main site) and split it exactly."""
    prices = product_prices(product)
    if seller is None:
        split = split_sale(
            prices, [], unit_price=product.price_minor, quantity=quantity, seller_profits=False, supplier_user_id=product.supplier_id
        )
        return Quote(product.price_minor, None, split, [])
    steps = cost_steps(session, seller, product)
    cost = steps[-1].cost
    unit = cost if wholesale else retail_price(session, seller, product)
    if unit < cost:
        raise errors.NOT_SOLD_HERE(field="product_id")
    self_dealing = _self_dealing(session, seller, buyer_user_id, buyer_contact)
    split = split_sale(
        prices,
        steps,
        unit_price=unit,
        quantity=quantity,
        seller_profits=not wholesale,
        supplier_user_id=product.supplier_id,
        self_dealing_ids=self_dealing,
    )
    return Quote(unit, cost, split, steps)


def _self_dealing(session: Session, seller: Distributor, buyer_user_id: int | None, contact: str) -> frozenset[int]:
    """Distributors on the chain who are themselves the buyer (by account or by e-mail)."""
    from keyrelay.identity.service import emails_of

    members = network.chain(session, seller)
    contact = contact.strip().lower()
    by_account = {d.id for d in members if d.user_id == buyer_user_id}
    others = [d for d in members if d.id not in by_account]  # a wholesale buyer at level 1 leaves nobody to look up
    emails = emails_of(session, [d.user_id for d in others]) if contact and others else {}
    return frozenset(by_account | {d.id for d in others if emails.get(d.user_id) == contact})


def _check_rule(rule: str, value: int, allowed: tuple[str, ...]) -> None:
    if rule not in allowed:
        raise errors.UNKNOWN_RULE(field="rule", choices=list(allowed))
    if isinstance(value, bool) or not isinstance(value, int) or value < 0 or value > MAX_AMOUNT_MINOR:
        raise errors.BAD_RULE_VALUE(field="value")


def set_level_price(
    session: Session, *, level: int, product: Product | None, rule: str, value: int, max_depth: int, actor: str
) -> LevelPrice:
    """Operator: what a level-``level`` distributor pays (per product, or the level default)."""
    _check_rule(rule, value, RULES)
    if not 1 <= level <= max_depth:
        raise errors.BAD_LEVEL(field="level", max_depth=max_depth)
    if product is None and rule == "fixed":
        raise errors.DEFAULT_RULE_FIXED(field="rule")
    if product is not None and Rule(rule, value).apply(product.supply_price_minor) < product.supply_price_minor:
        raise errors.LEVEL_BELOW_SUPPLY(field="value")
    row = _upsert(session, LevelPrice, {"level": level, "product_id": product.id if product else None}, rule, value)
    record(
        session,
        actor=actor,
        action="price.level",
        target_type="level",
        target_id=str(level),
        product_id=product.id if product else None,
        rule=rule,
        value=value,
    )
    outbox.emit(session, "price.changed", {"source": "level", "level": level, "product_id": product.id if product else None})
    return row


def set_child_price(session: Session, parent: Distributor, *, product: Product | None, rule: str, value: int, actor: str) -> ChildPrice:
    """A parent sets what its children pay it — never below its own cost."""
    _check_rule(rule, value, CHILD_RULES)
    if product is None and rule == "fixed":
        raise errors.DEFAULT_RULE_FIXED(field="rule")
    if product is not None:
        own_cost = cost_steps(session, parent, product)[-1].cost
        if Rule(rule, value).apply(own_cost) < own_cost:
            raise errors.CHILD_BELOW_OWN_COST(field="value", cost_minor=own_cost)
    row = _upsert(session, ChildPrice, {"parent_id": parent.id, "product_id": product.id if product else None}, rule, value)
    record(
        session,
        actor=actor,
        action="price.child",
        target_type="distributor",
        target_id=str(parent.id),
        product_id=product.id if product else None,
        rule=rule,
        value=value,
    )
    outbox.emit(session, "price.changed", {"source": "parent", "parent_id": parent.id, "product_id": product.id if product else None})
    return row


def set_retail(session: Session, seller: Distributor, product: Product, *, price_minor: int, actor: str) -> RetailPrice:
    """A seller's retail price: not below MAP or its own cost, not above the maximum markup."""
    if isinstance(price_minor, bool) or not isinstance(price_minor, int) or not 0 < price_minor <= MAX_AMOUNT_MINOR:
        raise errors.BAD_PRICE(field="price_minor")
    prices = product_prices(product)
    cost = cost_steps(session, seller, product)[-1].cost
    if price_minor < prices.map_price:
        raise errors.BELOW_MAP(field="price_minor", map_minor=prices.map_price)
    if price_minor < cost:
        raise errors.BELOW_COST(field="price_minor", cost_minor=cost)
    if prices.max_retail is not None and price_minor > prices.max_retail:
        raise errors.ABOVE_CEILING(field="price_minor", max_retail_minor=prices.max_retail)
    existing = session.scalar(select(RetailPrice).where(RetailPrice.distributor_id == seller.id, RetailPrice.product_id == product.id))
    if existing is None:
        existing = RetailPrice(distributor_id=seller.id, product_id=product.id, price_minor=price_minor)
        session.add(existing)
    existing.price_minor = price_minor
    session.flush()
    record(
        session,
        actor=actor,
        action="price.retail",
        target_type="distributor",
        target_id=str(seller.id),
        product_id=product.id,
        price_minor=price_minor,
    )
    return existing


RuleRow = TypeVar("RuleRow", LevelPrice, ChildPrice)


def _upsert(session: Session, model: type[RuleRow], keys: dict[str, int | None], rule: str, value: int) -> RuleRow:
    query = select(model)
    for name, key in keys.items():
        column = getattr(model, name)
        query = query.where(column.is_(None) if key is None else column == key)
    row = session.scalar(query)
    if row is None:
        row = model(**keys, rule=rule, value=value)
        session.add(row)
    row.rule, row.value = rule, value
    session.flush()
    return row


@dataclass(frozen=True)
class Offer:
    """A product as one distributor sees it: its cost, the limits, its retail."""

    product: Product
    cost: int
    retail: int
    suggested_retail: int
    max_retail: int | None


def offers(session: Session, distributor: Distributor, products: list[Product]) -> list[Offer]:
    """Every product with this distributor's cost and retail (suggested retail: the main-site price, within limits)."""
    own = retail_prices(session, distributor)
    result = []
    for product in products:
        cost = cost_steps(session, distributor, product)[-1].cost
        limits = product_prices(product)
        suggested = max(product.price_minor, product.map_minor, cost)
        if limits.max_retail is not None:
            suggested = min(suggested, limits.max_retail)
        result.append(Offer(product, cost, own.get(product.id, product.price_minor), suggested, limits.max_retail))
    return result


def explain(session: Session, distributor: Distributor, product: Product) -> Quote:
    """The full chain and the split of one unit sold at this distributor's retail."""
    steps = cost_steps(session, distributor, product)
    retail = max(retail_price(session, distributor, product), steps[-1].cost)
    split = split_sale(
        product_prices(product), steps, unit_price=retail, quantity=1, seller_profits=True, supplier_user_id=product.supplier_id
    )
    return Quote(retail, steps[-1].cost, split, steps)


def child_rules(session: Session, parent: Distributor) -> list[ChildPrice]:
    return list(session.scalars(select(ChildPrice).where(ChildPrice.parent_id == parent.id).order_by(ChildPrice.product_id)))


def level_rules(session: Session) -> list[LevelPrice]:
    return list(session.scalars(select(LevelPrice).order_by(LevelPrice.level, LevelPrice.product_id)))
