"""Catalog use cases: categories and products."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime

from sqlalchemy import bindparam, select
from sqlalchemy.orm import Session

from keyrelay.audit.service import record
from keyrelay.catalog import errors, kinds
from keyrelay.catalog.models import Category
from keyrelay.catalog.models import Product as Product  # re-exported: the public type of a product
from keyrelay.catalog.schemas import CategoryIn, ProductIn
from keyrelay.kit import outbox
from keyrelay.kit.db import memo
from keyrelay.kit.vault import Vault


def fixed_content_aad(product_id: int) -> bytes:
    return f"fixed:{product_id}".encode()


def list_categories(session: Session, *, active_only: bool = True) -> list[Category]:
    query = select(Category).order_by(Category.sort_order, Category.id)
    if active_only:
        query = query.where(Category.is_active.is_(True))
    return list(session.scalars(query))


def list_products(
    session: Session, *, active_only: bool = True, category_id: int | None = None, updated_since: datetime | None = None
) -> list[Product]:
    query = select(Product).order_by(Product.sort_order, Product.id)
    if updated_since is not None:
        query = query.where(Product.updated_at >= updated_since)
    if active_only:
        query = query.where(Product.is_active.is_(True))
    if category_id is not None:
        query = query.where(Product.category_id == category_id)
    return list(session.scalars(query))


def get_category(session: Session, category_id: int) -> Category:
    category = session.get(Category, category_id)
    if category is None:
        raise errors.NOT_FOUND(resource="category", id=category_id)
    return category


def get_product(session: Session, product_id: int, *, active_only: bool = False) -> Product:
    """The product, or ``NotFound`` (also for inactive ones when ``active_only``)."""
    known: dict[int, Product] = memo(session, "catalog.products")
    product = known.get(product_id) or session.scalar(_BY_ID, {"id": product_id})
    if product is None or (active_only and not product.is_active):
        raise errors.NOT_FOUND(resource="product", id=product_id)
    # The session's identity map holds objects weakly: keep the product for the rest of the
    # transaction, so the next get_product (delivery, after placing) does not select it again.
    known[product_id] = product
    return product


_BY_ID = select(Product).where(Product.id == bindparam("id"))
"""Built once: cheaper than ``session.get`` on a miss, or a statement built per call (docs/performance.md)."""


def kinds_of(session: Session, product_ids: Iterable[int]) -> dict[int, str]:
    """``{product_id: kind}`` for these products, in one query."""
    ids = list(product_ids)
    if not ids:
        return {}
    return {pid: kind for pid, kind in session.execute(select(Product.id, Product.kind).where(Product.id.in_(ids))).tuples()}


def get_product_by_slug(session: Session, slug: str) -> Product:
    product = session.scalar(select(Product).where(Product.slug == slug, Product.is_active.is_(True)))
    if product is None:
        raise errors.SLUG_NOT_FOUND(slug=slug)
    return product


def create_category(session: Session, data: CategoryIn, *, actor: str) -> Category:
    _unique_slug(session, Category, data.slug)
    category = Category(**data.model_dump())
    session.add(category)
    session.flush()
    record(session, actor=actor, action="category.create", target_type="category", target_id=str(category.id))
    return category


def update_category(session: Session, category_id: int, data: CategoryIn, *, actor: str) -> Category:
    category = get_category(session, category_id)
    _unique_slug(session, Category, data.slug, exclude_id=category.id)
    for name, value in data.model_dump().items():
        setattr(category, name, value)
    record(session, actor=actor, action="category.update", target_type="category", target_id=str(category.id))
    return category


def create_product(session: Session, data: ProductIn, *, actor: str, vault: Vault) -> Product:
    """Create a product; ``fixed`` products must carry their content, stored encrypted."""
    get_category(session, data.category_id)
    _unique_slug(session, Product, data.slug)
    values = data.model_dump(exclude={"fixed_content"})
    product = Product(**values)
    session.add(product)
    session.flush()
    _set_fixed_content(product, data, vault)
    record(session, actor=actor, action="product.create", target_type="product", target_id=str(product.id))
    outbox.emit(session, "product.updated", {"product_id": product.id, "change": "created"})
    return product


def update_product(session: Session, product_id: int, data: ProductIn, *, actor: str, vault: Vault) -> Product:
    """Edit a product. Orders keep the price and name they were placed at."""
    product = get_product(session, product_id)
    get_category(session, data.category_id)
    _unique_slug(session, Product, data.slug, exclude_id=product.id)
    prices_before = _price_fields(product)
    for name, value in data.model_dump(exclude={"fixed_content"}).items():
        setattr(product, name, value)
    _set_fixed_content(product, data, vault)
    record(session, actor=actor, action="product.update", target_type="product", target_id=str(product.id))
    outbox.emit(session, "product.updated", {"product_id": product.id, "change": "updated"})
    if _price_fields(product) != prices_before:
        outbox.emit(session, "price.changed", {"source": "product", "product_id": product.id})
    return product


def _price_fields(product: Product) -> tuple[object, ...]:
    """What distributors' costs and retail limits are computed from."""
    return (product.price_minor, product.supply_price_minor, product.map_minor, product.max_markup_bp, product.currency)


def _set_fixed_content(product: Product, data: ProductIn, vault: Vault) -> None:
    if data.fixed_content:
        product.fixed_content = vault.encrypt(data.fixed_content.encode(), fixed_content_aad(product.id))
    if kinds.get(product.kind).needs_fixed_content and not product.fixed_content:
        raise errors.FIXED_CONTENT_MISSING(field="fixed_content")


def _unique_slug(session: Session, model: type[Category] | type[Product], slug: str, exclude_id: int | None = None) -> None:
    existing = session.scalar(select(model.id).where(model.slug == slug))
    if existing is not None and existing != exclude_id:
        raise errors.SLUG_TAKEN(field="slug", slug=slug)
