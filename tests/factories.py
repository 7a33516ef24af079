"""Small factory functions that build test data through the real use cases.

Each takes the caller's session (one transaction, as in production) and
returns the created row; names and slugs are unique per call so tests never
collide with each other's data inside one module database.
"""

from __future__ import annotations

import itertools
from collections.abc import Sequence
from dataclasses import replace

from sqlalchemy.orm import Session

from keyrelay import checkout
from keyrelay.app import terms_from
from keyrelay.catalog import service as catalog
from keyrelay.catalog.models import Category, Product
from keyrelay.catalog.schemas import CategoryIn, ProductIn
from keyrelay.checkout import Terms
from keyrelay.config import Settings
from keyrelay.identity import service as identity
from keyrelay.identity.models import User
from keyrelay.inventory import service as inventory
from keyrelay.kit.vault import Vault
from keyrelay.orders.models import Order
from keyrelay.payments.providers.sandbox import SandboxProvider

ACTOR = "test"
PASSWORD = "correct-horse-battery"
_serial = itertools.count(1)


def unique(prefix: str) -> str:
    """``prefix-N``, unique for the whole test session."""
    return f"{prefix}-{next(_serial)}"


def make_providers(settings: Settings) -> Terms:
    """The terms of sale (payment providers, hold times) an instance with these settings runs."""
    return terms_from(settings)


def sandbox_of(terms: Terms) -> SandboxProvider:
    """The sandbox gateway of a development instance's terms."""
    sandbox = terms.providers.sandbox()
    assert sandbox is not None
    return sandbox


def make_category(session: Session, *, name: str = "Game keys") -> Category:
    return catalog.create_category(session, CategoryIn(name=name, slug=unique("cat")), actor=ACTOR)


def make_product(
    session: Session,
    vault: Vault,
    *,
    category_id: int | None = None,
    price_minor: int = 1000,
    max_per_order: int = 10,
    max_per_contact: int = 0,
    kind: str = "card_key",
    **extra: object,
) -> Product:
    """A card-key product (by default) in a new category."""
    if category_id is None:
        category_id = make_category(session).id
    slug = unique("product")
    data = ProductIn(
        category_id=category_id,
        name=f"Product {slug}",
        slug=slug,
        price_minor=price_minor,
        max_per_order=max_per_order,
        max_per_contact=max_per_contact,
        kind=kind,  # type: ignore[arg-type]
        **extra,  # type: ignore[arg-type]
    )
    return catalog.create_product(session, data, actor=ACTOR, vault=vault)


def key_secrets(n: int, *, prefix: str | None = None) -> list[str]:
    """``n`` distinct, realistic-looking card keys."""
    stem = prefix or unique("KEY").upper()
    return [f"{stem}-{i:05d}-ABCD-EFGH" for i in range(n)]


def import_keys(
    session: Session, vault: Vault, product_id: int, keys: int | Sequence[str], *, source: str = "paste"
) -> inventory.ImportReport:
    """Import ``keys`` (a count of fresh keys, or the exact secrets) as one pasted batch."""
    secrets = key_secrets(keys) if isinstance(keys, int) else list(keys)
    return inventory.import_keys(
        session, product_id=product_id, data="\n".join(secrets), fmt="text", source=source, vault=vault, actor=ACTOR
    )


def make_stocked_product(session: Session, vault: Vault, n_keys: int, **product: object) -> Product:
    """A card-key product with ``n_keys`` fresh keys in stock."""
    made = make_product(session, vault, **product)  # type: ignore[arg-type]
    import_keys(session, vault, made.id, n_keys)
    return made


def make_user(session: Session, *, role: str = "buyer", email: str | None = None, password: str = PASSWORD) -> User:
    return identity.create_user(session, email=email or f"{unique('user')}@example.com", password=password, role=role)


def place(
    session: Session,
    providers: Terms,
    product_id: int,
    quantity: int = 1,
    *,
    contact: str = "buyer@example.com",
    provider: str = "sandbox",
    hold_seconds: int = 900,
    **request: object,
) -> Order:
    """Place an order through the real checkout flow."""
    order_request = checkout.PlaceOrder(
        product_id=product_id,
        quantity=quantity,
        contact=contact,
        payment_provider=provider,
        **request,  # type: ignore[arg-type]
    )
    return checkout.place_order(session, order_request, terms=replace(providers, hold_seconds=hold_seconds))


def sandbox_notification(providers: Terms, order: Order, *, status: str = "paid") -> dict[str, str]:
    """The signed callback the sandbox gateway sends once the buyer has paid ``order``."""
    return sandbox_of(providers).notification_for(checkout.order_to_pay(order), status=status)
