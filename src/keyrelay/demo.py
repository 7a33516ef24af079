"""Fill an empty database with a small demo store (``keyrelay serve --demo``)."""

from __future__ import annotations

import secrets
from dataclasses import dataclass

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from keyrelay.catalog import service as catalog
from keyrelay.catalog.models import Product
from keyrelay.catalog.schemas import CategoryIn, ProductIn
from keyrelay.identity import service as identity
from keyrelay.identity.models import User
from keyrelay.inventory import service as inventory
from keyrelay.kit.vault import Vault

OPERATOR_EMAIL = "admin@keyrelay.local"

_CATEGORIES = [
    ("Game keys", "game-keys", "Activation keys for PC games."),
    ("Gift cards", "gift-cards", "Store credit codes."),
    ("Software licences", "software", "Licence keys for desktop software."),
]
_PRODUCTS = [
    ("game-keys", "Starfall Odyssey (Steam)", "starfall-odyssey", 6800, "SFO", 25),
    ("game-keys", "Pixel Racer Deluxe", "pixel-racer", 2990, "PXR", 15),
    ("gift-cards", "Gift card ¥50", "gift-card-50", 5000, "GC50", 30),
    ("gift-cards", "Gift card ¥100", "gift-card-100", 10000, "GC100", 8),
    ("software", "PhotoForge Pro 1-year", "photoforge-pro", 19900, "PFP", 12),
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
    for category, name, slug, price, prefix, stock in _PRODUCTS:
        product = catalog.create_product(
            session,
            ProductIn(
                category_id=ids[category],
                name=name,
                slug=slug,
                price_minor=price,
                description=f"Delivered instantly: {name}.",
                max_per_contact=20,
            ),
            actor="system",
            vault=vault,
        )
        keys = "\n".join(f"{prefix}-{secrets.token_hex(4).upper()}-{secrets.token_hex(4).upper()}" for _ in range(stock))
        inventory.import_keys(session, product_id=product.id, data=keys, fmt="text", source="demo", vault=vault, actor="system")
    return DemoLogin(OPERATOR_EMAIL, password)
