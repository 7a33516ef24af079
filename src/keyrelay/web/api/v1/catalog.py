"""Public catalog: what is for sale and how many are in stock."""

from __future__ import annotations

from fastapi import APIRouter

from keyrelay.catalog import service as catalog
from keyrelay.inventory import service as inventory
from keyrelay.web.api.v1.schemas import CategoryOut, ProductOut
from keyrelay.web.auth import GuardedRoute
from keyrelay.web.uow import ReadSession

router = APIRouter(prefix="/catalog", tags=["catalog"], route_class=GuardedRoute)


@router.get("/categories", response_model=list[CategoryOut])
def list_categories(session: ReadSession) -> list[CategoryOut]:
    """Active categories, in display order."""
    return [CategoryOut.of(c) for c in catalog.list_categories(session)]


@router.get("/products", response_model=list[ProductOut])
def list_products(session: ReadSession, category_id: int | None = None) -> list[ProductOut]:
    """Active products with their main-site price and stock (``category_id`` narrows to one category)."""
    products = catalog.list_products(session, category_id=category_id)
    stock = inventory.available_counts(session, [p.id for p in products])
    return [ProductOut.of(p, stock[p.id]) for p in products]


@router.get("/products/{product_id}", response_model=ProductOut)
def get_product(product_id: int, session: ReadSession) -> ProductOut:
    """One active product with its main-site price and stock."""
    product = catalog.get_product(session, product_id, active_only=True)
    return ProductOut.of(product, inventory.available_counts(session, [product.id])[product.id])
