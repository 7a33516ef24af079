"""The benchmark scenarios and the store each one loads, through the product's own services.

Every scenario loads the same shape: ``products`` products sharing the keys,
a three-level distributor tree (level 1, 2 and 3 in turn, each under the last
one created a level up) with level prices, one API key and a funded wallet
per distributor. What differs is who buys what:

- ``spread``: any distributor, any product — many rows, little contention;
- ``hot-distributor``: one distributor (one wallet row, one API key) buying in parallel;
- ``flash``: one product, every distributor — one stock pool;
- ``sqlite``: ``spread`` on the embedded SQLite database.
"""

from __future__ import annotations

import json
import secrets
from dataclasses import asdict, dataclass
from pathlib import Path

from sqlalchemy.orm import Session

from keyrelay import checkout  # noqa: F401  (registers the product kinds and their fulfilment)
from keyrelay.catalog import service as catalog
from keyrelay.catalog.schemas import CategoryIn, ProductIn
from keyrelay.distribution import channels, network, prices
from keyrelay.identity import api_keys
from keyrelay.identity import service as identity
from keyrelay.identity.scopes import SCOPES
from keyrelay.inventory import service as inventory
from keyrelay.kit.db import Database
from keyrelay.kit.vault import Vault
from keyrelay.ledger import service as ledger

PRICE_MINOR = 1000
SUPPLY_MINOR = 600
"""What the supplier (here the platform itself) is owed per key; level prices are markups on it."""
CREDIT_MINOR = 10**12
"""Every distributor's starting balance: more than any run can spend."""
PASSWORD = "bench-distributor-pass"  # noqa: S105 - throw-away accounts in a throw-away database
MAX_DEPTH = 3


@dataclass(frozen=True)
class Scenario:
    name: str
    products: int
    distributors: int
    buyers: str
    """Who buys: ``any`` distributor, or ``one``."""
    goods: str
    """What they buy: ``any`` product, or ``one``."""
    backend: str = "postgresql"


SCENARIOS: dict[str, Scenario] = {
    "spread": Scenario("spread", products=20, distributors=30, buyers="any", goods="any"),
    "hot-distributor": Scenario("hot-distributor", products=20, distributors=30, buyers="one", goods="any"),
    "flash": Scenario("flash", products=1, distributors=30, buyers="any", goods="one"),
    "sqlite": Scenario("sqlite", products=20, distributors=30, buyers="any", goods="any", backend="sqlite"),
}
SMOKE = {"products": 3, "distributors": 6}
"""The smoke mode's store: small enough to load in a second or two."""


@dataclass(frozen=True)
class Buyer:
    user_id: int
    distributor_id: int
    level: int
    key_id: str
    secret: str


@dataclass(frozen=True)
class Plan:
    """What the load generator needs: who may buy what, and how to sign."""

    scenario: str
    buyers: list[Buyer]
    products: list[int]
    keys_per_product: int
    currency: str = "CNY"

    def save(self, path: Path) -> None:
        path.write_text(json.dumps(asdict(self)))
        path.chmod(0o600)  # API secrets

    @classmethod
    def load(cls, path: Path) -> Plan:
        raw = json.loads(path.read_text())
        return cls(**{**raw, "buyers": [Buyer(**b) for b in raw["buyers"]]})

    def chosen(self, scenario: Scenario) -> tuple[list[Buyer], list[int]]:
        """The buyers and products this scenario's load draws from."""
        buyers = self.buyers[:1] if scenario.buyers == "one" else self.buyers
        products = self.products[:1] if scenario.goods == "one" else self.products
        return buyers, products


def load_store(db: Database, scenario: Scenario, *, vault: Vault, keys_total: int, products: int, distributors: int) -> Plan:
    """Fill an empty database: products with ``keys_total`` keys between them, the tree, keys and wallets."""
    per_product = max(1, keys_total // products)
    with db.transaction() as session:
        operator = identity.create_user(session, email="bench-ops@example.com", password=secrets.token_urlsafe(12), role="operator")
        category = catalog.create_category(session, CategoryIn(name="Bench", slug="bench"), actor="bench")
        product_ids = [
            catalog.create_product(
                session,
                ProductIn(
                    category_id=category.id,
                    name=f"Bench product {n}",
                    slug=f"bench-{n}",
                    price_minor=PRICE_MINOR,
                    supply_price_minor=SUPPLY_MINOR,
                    max_per_order=10,
                    low_stock_threshold=0,
                ),
                actor="bench",
                vault=vault,
            ).id
            for n in range(products)
        ]
        ledger.platform_revenue(session, "CNY")  # a first sale would open it; the ceiling's script reads it
        for level, markup_bp in ((1, 1000), (2, 2000), (3, 3000)):  # +10 %, +20 %, +30 % on the supply price
            prices.set_level_price(
                session, level=level, product=None, rule="markup_pct", value=markup_bp, max_depth=MAX_DEPTH, actor="bench"
            )
    for product_id in product_ids:
        with db.transaction() as session:
            _stock(session, product_id, per_product, vault)
    buyers: list[Buyer] = []
    last_at: dict[int, int] = {}
    for n in range(distributors):
        level = 1 + n % MAX_DEPTH
        with db.transaction() as session:
            buyers.append(_distributor(session, n, parent_id=last_at.get(level - 1), operator_id=operator.id, vault=vault))
        last_at[level] = buyers[-1].distributor_id
    return Plan(scenario.name, buyers, product_ids, per_product)


def _stock(session: Session, product_id: int, count: int, vault: Vault) -> None:
    tag = secrets.token_hex(4)
    text = "\n".join(f"BENCH-{product_id}-{tag}-{i:08d}" for i in range(count))
    inventory.import_keys(session, product_id=product_id, data=text, fmt="text", source="bench", vault=vault, actor="bench")


def _distributor(session: Session, n: int, *, parent_id: int | None, operator_id: int, vault: Vault) -> Buyer:
    if parent_id is None:
        inviter = network.Actor(operator_id, "operator")
    else:
        inviter = network.Actor(network.get(session, parent_id).user_id, "distributor")
    invite = network.create_invite(session, inviter, parent_id=parent_id, max_depth=MAX_DEPTH)
    joined = network.join(
        session,
        network.JoinRequest(invite.code, f"bench-d{n}@example.com", PASSWORD, f"Bench shop {n}", f"bench-d{n}"),
        max_depth=MAX_DEPTH,
    )
    channels.wholesale_channel(session, joined)  # made on a first purchase anyway; the ceiling's script reads it
    ledger.credit_wallet(session, user_id=joined.user_id, amount_minor=CREDIT_MINOR, currency="CNY", ref=f"bench-credit-{n}")
    made = api_keys.create(session, user_id=joined.user_id, name="bench", scopes=list(SCOPES), vault=vault)
    return Buyer(joined.user_id, joined.id, joined.level, made.key.key_id, made.secret)
