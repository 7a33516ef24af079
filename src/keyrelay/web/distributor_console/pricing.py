"""A distributor's prices: its retail per product, the explanation of any price, what its children pay."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from keyrelay.catalog import service as catalog
from keyrelay.distribution import prices, reach
from keyrelay.distribution.pricing import CHILD_RULES
from keyrelay.inventory import service as inventory
from keyrelay.kit.errors import DomainError
from keyrelay.web.console import explaining, forms, inputs, wording
from keyrelay.web.distributor_console.area import DistributorRoute, me, own, shop_page
from keyrelay.web.state import state_of

router = APIRouter(route_class=DistributorRoute)


def _prices_page(request: Request, *, status_code: int = 200, **extra: Any) -> HTMLResponse:
    """Every product with my cost, the MAP and ceiling, my retail and an edit form each."""
    with state_of(request).db.transaction(write=False) as session:
        shop = own(session, request)
        products = catalog.list_products(session)
        offers = prices.offers(session, shop, products)
        stock = inventory.available_counts(session, [p.id for p in products])
    extra.setdefault("errors", {})
    extra.setdefault("typed", {})
    return shop_page(
        request,
        "distributor/prices.html",
        shop,
        section="prices",
        status_code=status_code,
        offers=offers,
        stock=stock,
        decimal_of=forms.decimal_of,
        **extra,
    )


@router.get("/prices", response_class=HTMLResponse)
def my_prices(request: Request) -> HTMLResponse:
    return _prices_page(request, saved=request.query_params.get("saved", ""))


@router.post("/prices/{product_id}")
def set_retail(request: Request, product_id: inputs.PathId, form: forms.Posted) -> Response:
    """My sub-site price for one product: never below MAP or my cost, never above the ceiling."""
    st = state_of(request)
    errors: forms.Errors = {}
    status = 422
    with st.db.transaction(write=False) as session:
        product = catalog.get_product(session, product_id, active_only=True)
    price = inputs.amount(form, "price", product.currency, errors)
    if price is not None:
        try:
            with st.db.transaction() as session:
                prices.set_retail(session, own(session, request), product, price_minor=price, actor=me(request).actor)
        except DomainError as exc:
            status, errors = exc.status, {"price": wording.reword(request, exc, product.currency)}
    if errors:
        return _prices_page(
            request, status_code=status, errors={product_id: errors["price"]}, typed={product_id: forms.text(form, "price")}
        )
    return RedirectResponse(f"/distributor/prices?done=saved&saved={product_id}#p{product_id}", status_code=303)


@router.get("/prices/{product_id}/explain", response_class=HTMLResponse)
def explain(request: Request, product_id: inputs.PathId, distributor_id: str = "") -> HTMLResponse:
    """The chain from level 1 down to me (or one of my downline) and who earns what on one unit."""
    with state_of(request).db.transaction(write=False) as session:
        shop = own(session, request)
        chosen = inputs.parse_id(distributor_id)
        branch = reach.Reach.branch(shop)
        target = branch.distributor(session, chosen) if chosen else shop
        explained = explaining.explain(request, session, target, catalog.get_product(session, product_id, active_only=True))
        downline = branch.downline(session)
    return shop_page(request, "distributor/explain.html", shop, section="prices", explained=explained, downline=downline)


def _child_page(request: Request, *, status_code: int = 200, **extra: Any) -> HTMLResponse:
    st = state_of(request)
    with st.db.transaction(write=False) as session:
        shop = own(session, request)
        rules = prices.child_rules(session, shop)
        products = catalog.list_products(session)
        offers = {o.product.id: o for o in prices.offers(session, shop, products)}
    extra.setdefault("form", {"rule": "markup_pct"})
    extra.setdefault("errors", {})
    return shop_page(
        request,
        "distributor/child_prices.html",
        shop,
        section="children",
        status_code=status_code,
        rules=rules,
        products=products,
        product_by_id={p.id: p for p in products},
        offers=offers,
        rule_kinds=CHILD_RULES,
        currency=st.settings.currency,
        **extra,
    )


@router.get("/child-prices", response_class=HTMLResponse)
def child_prices(request: Request) -> HTMLResponse:
    return _child_page(request)


@router.post("/child-prices")
def set_child_price(request: Request, form: forms.Posted) -> Response:
    """What my direct sub-distributors pay me: per product or as my default; never below my own cost."""
    st = state_of(request)
    errors: forms.Errors = {}
    product_id = inputs.optional_id(form, "product_id", errors)
    rule = forms.text(form, "rule")
    status = 422
    try:
        with st.db.transaction() as session:
            product = catalog.get_product(session, product_id, active_only=True) if product_id else None
            currency = product.currency if product else st.settings.currency
            value = inputs.rule_value(form, rule, currency, errors)
            if not errors:
                prices.set_child_price(session, own(session, request), product=product, rule=rule, value=value, actor=me(request).actor)
    except DomainError as exc:
        status, errors = exc.status, wording.errors_of(request, exc, st.settings.currency, {"": "product_id"})
    if errors:
        return _child_page(request, status_code=status, form=form, errors=errors)
    return RedirectResponse("/distributor/child-prices?done=saved", status_code=303)
