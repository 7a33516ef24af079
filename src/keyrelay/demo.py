"""Fill an empty database with a small demo store (``keyrelay serve --demo``)."""

from __future__ import annotations

import secrets
from dataclasses import dataclass

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from keyrelay.catalog import service as catalog
from keyrelay.catalog.models import Product
from keyrelay.catalog.schemas import CategoryIn, ProductIn
from keyrelay.distribution import network, prices
from keyrelay.identity import service as identity
from keyrelay.identity.models import User
from keyrelay.inventory import service as inventory
from keyrelay.kit.vault import Vault

OPERATOR_EMAIL = "admin@keyrelay.local"
DISTRIBUTOR_EMAIL = "lucky@keyrelay.local"

_CATEGORIES = [
    ("Game keys", "game-keys", "Activation keys for PC games."),
    ("Gift cards", "gift-cards", "Store credit codes."),
    ("Software licences", "software", "Licence keys for desktop software."),
]
# (category, name, slug, main price, supply price, MAP, key prefix, stock)
_PRODUCTS = [
    ("game-keys", "Starfall Odyssey (Steam)", "starfall-odyssey", 6800, 4500, 6000, "SFO", 25),
    ("game-keys", "Pixel Racer Deluxe", "pixel-racer", 2990, 1800, 2500, "PXR", 15),
    ("gift-cards", "Gift card ¥50", "gift-card-50", 5000, 4700, 4900, "GC50", 30),
    ("gift-cards", "Gift card ¥100", "gift-card-100", 10000, 9400, 9800, "GC100", 8),
    ("software", "PhotoForge Pro 1-year", "photoforge-pro", 19900, 12000, 16900, "PFP", 12),
]


@dataclass(frozen=True)
class DemoLogin:
    email: str
    password: str | None
    """None when the demo already existed (the password was printed the first time)."""


def seed(session: Session, *, vault: Vault) -> DemoLogin:
    """Create the demo store once; later runs leave existing data alone."""
    if session.scalar(select(func.count()).select_from(Product)):
        existing = session.scalar(select(User.email).where(User.role == "operator").order_by(User.id))
        return DemoLogin(existing or OPERATOR_EMAIL, None)
    password = secrets.token_urlsafe(9)
    identity.create_user(session, email=OPERATOR_EMAIL, password=password, role="operator", display_name="Demo operator")
    ids = {}
    for order, (name, slug, description) in enumerate(_CATEGORIES):
        ids[slug] = catalog.create_category(
            session, CategoryIn(name=name, slug=slug, description=description, sort_order=order), actor="system"
        ).id
    for category, name, slug, price, supply, map_price, prefix, stock in _PRODUCTS:
        product = catalog.create_product(
            session,
            ProductIn(
                category_id=ids[category],
                name=name,
                slug=slug,
                price_minor=price,
                supply_price_minor=supply,
                map_minor=map_price,
                max_markup_bp=3000,
                description=f"Delivered instantly: {name}.",
                max_per_contact=20,
            ),
            actor="system",
            vault=vault,
        )
        keys = "\n".join(f"{prefix}-{secrets.token_hex(4).upper()}-{secrets.token_hex(4).upper()}" for _ in range(stock))
        inventory.import_keys(session, product_id=product.id, data=keys, fmt="text", source="demo", vault=vault, actor="system")
    _seed_network(session, password)
    return DemoLogin(OPERATOR_EMAIL, password)


def _seed_network(session: Session, password: str) -> None:
    """Two distributor levels with price rules, so sub-sites and splits can be tried at once."""
    operator = session.scalars(select(User).where(User.role == "operator")).one()
    for level, markup in ((1, 200), (2, 300), (3, 400)):
        prices.set_level_price(session, level=level, product=None, rule="markup_pct", value=markup, max_depth=3, actor="system")
    first_invite = network.create_invite(session, network.Actor(operator.id, "operator"), parent_id=None, max_depth=3)
    lucky = network.join(session, network.JoinRequest(first_invite.code, DISTRIBUTOR_EMAIL, password, "Lucky Keys", "lucky"), max_depth=3)
    lucky.notice = "Welcome to Lucky Keys — instant delivery, after-sales on the main site."
    prices.set_child_price(session, lucky, product=None, rule="markup_pct", value=150, actor="system")
    second_invite = network.create_invite(session, network.Actor(lucky.user_id, "distributor"), parent_id=lucky.id, max_depth=3)
    network.join(session, network.JoinRequest(second_invite.code, "moon@keyrelay.local", password, "Moon Shop", "moon"), max_depth=3)
