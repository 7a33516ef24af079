"""Console pages for products: list with stock, create, edit, and the product's detail page."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from keyrelay.catalog import service as catalog
from keyrelay.inventory import service as inventory
from keyrelay.kit.errors import DomainError
from keyrelay.web.console import forms
from keyrelay.web.console.guard import ConsoleRoute
from keyrelay.web.console.session import operator
from keyrelay.web.console.views import page
from keyrelay.web.state import state_of

if TYPE_CHECKING:
    from keyrelay.catalog.models import Product

router = APIRouter(route_class=ConsoleRoute)
KEYS_PER_PAGE = 50
KEY_STATUSES = ("available", "reserved", "sold", "void")


@router.get("/products", response_class=HTMLResponse)
def products(request: Request) -> HTMLResponse:
    with state_of(request).db.transaction(write=False) as session:
        rows = catalog.list_products(session, active_only=False)
        stock = inventory.stock_counts(session, [p.id for p in rows])
        names = {c.id: c.name for c in catalog.list_categories(session, active_only=False)}
    return page(request, "console/products.html", section="products", products=rows, stock=stock, category_names=names)


def _form_page(
    request: Request, *, product: Product | None, form: dict[str, Any], errors: forms.Errors, status_code: int = 200
) -> HTMLResponse:
    with state_of(request).db.transaction(write=False) as session:
        categories = catalog.list_categories(session, active_only=False)
    return page(
        request,
        "console/product_form.html",
        status_code=status_code,
        section="products",
        product=product,
        categories=categories,
        form=form,
        errors=errors,
    )


def _form_of(product: Product) -> dict[str, Any]:
    """A stored product as the edit form shows it: prices back to decimals, secrets left out."""
    fields = ("category_id", "name", "slug", "description", "kind", "currency", "max_markup_bp", "max_per_order")
    form: dict[str, Any] = {name: getattr(product, name) for name in fields}
    form.update(
        max_per_contact=product.max_per_contact,
        low_stock_threshold=product.low_stock_threshold,
        is_active=product.is_active,
        sort_order=product.sort_order,
        price=forms.decimal_of(product.price_minor, product.currency),
        supply_price=forms.decimal_of(product.supply_price_minor, product.currency) if product.supply_price_minor else "",
        map_price=forms.decimal_of(product.map_minor, product.currency) if product.map_minor else "",
    )
    return form


@router.get("/products/new", response_class=HTMLResponse)
def new_product_form(request: Request) -> HTMLResponse:
    defaults = {
        "kind": "card_key",
        "currency": "CNY",
        "max_per_order": 10,
        "max_per_contact": 0,
        "low_stock_threshold": 10,
        "is_active": True,
    }
    return _form_page(request, product=None, form=defaults, errors={})


@router.post("/products")
def create_product(request: Request, form: forms.Posted) -> Response:
    """Everything is checked before the write; a problem re-shows the form (422) and stores nothing."""
    data, errors = forms.product_input(form)
    if data is None:
        return _form_page(request, product=None, form=form, errors=errors, status_code=422)
    st = state_of(request)
    try:
        with st.db.transaction() as session:
            product_id = catalog.create_product(session, data, actor=operator(request).actor, vault=st.settings.vault).id
    except DomainError as exc:
        return _form_page(request, product=None, form=form, errors=forms.from_domain(exc), status_code=exc.status)
    return RedirectResponse(f"/admin/products/{product_id}?done=created", status_code=303)


@router.get("/products/{product_id}/edit", response_class=HTMLResponse)
def edit_product_form(request: Request, product_id: int) -> HTMLResponse:
    with state_of(request).db.transaction(write=False) as session:
        product = catalog.get_product(session, product_id)
    return _form_page(request, product=product, form=_form_of(product), errors={})


@router.post("/products/{product_id}/edit")
def edit_product(request: Request, product_id: int, form: forms.Posted) -> Response:
    st = state_of(request)
    with st.db.transaction(write=False) as session:
        product = catalog.get_product(session, product_id)
    data, errors = forms.product_input(form)
    if data is None:
        return _form_page(request, product=product, form=form, errors=errors, status_code=422)
    try:
        with st.db.transaction() as session:
            catalog.update_product(session, product_id, data, actor=operator(request).actor, vault=st.settings.vault)
    except DomainError as exc:
        if exc.code == "not_found" and not exc.field:
            raise
        return _form_page(request, product=product, form=form, errors=forms.from_domain(exc), status_code=exc.status)
    return RedirectResponse(f"/admin/products/{product_id}?done=saved", status_code=303)


def detail_page(request: Request, product_id: int, *, status_code: int = 200, secret: bool = False, **extra: Any) -> HTMLResponse:
    """The product with stock, import form and history, and a page of its keys (never their secrets)."""
    status = request.query_params.get("status") or None
    status = status if status in KEY_STATUSES else None
    before = request.query_params.get("before_id", "")
    before_id = int(before) if before.isdigit() else None
    with state_of(request).db.transaction(write=False) as session:
        product = catalog.get_product(session, product_id)
        counts = inventory.stock_counts(session, [product.id])[product.id]
        batches = inventory.recent_batches(session, product_id=product.id, limit=10)
        keys = inventory.list_keys(session, product_id=product.id, status=status, limit=KEYS_PER_PAGE, before_id=before_id)
        category = catalog.get_category(session, product.category_id)
    return page(
        request,
        "console/product_detail.html",
        status_code=status_code,
        secret=secret,
        section="products",
        product=product,
        category=category,
        counts=counts,
        batches=batches,
        keys=keys,
        key_status=status or "",
        next_before=keys[-1].id if len(keys) == KEYS_PER_PAGE else None,
        flash_code=request.query_params.get("done", ""),
        **extra,
    )


@router.get("/products/{product_id}", response_class=HTMLResponse)
def product_detail(request: Request, product_id: int) -> HTMLResponse:
    return detail_page(request, product_id)
