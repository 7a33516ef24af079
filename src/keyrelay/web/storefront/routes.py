"""The storefront: browse, check out with an enabled payment provider, see keys, look orders up."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated

import structlog
from fastapi import APIRouter, Form, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from sqlalchemy.orm import Session

from keyrelay import checkout
from keyrelay.catalog import service as catalog
from keyrelay.checkout import errors as checkout_errors
from keyrelay.distribution import network, prices
from keyrelay.distribution.models import Distributor
from keyrelay.inventory import service as inventory
from keyrelay.kit.errors import DomainError, NotFound
from keyrelay.orders import errors as order_errors
from keyrelay.orders import service as orders
from keyrelay.web.api.v1.orders import check_lookup_throttle
from keyrelay.web.pages import render
from keyrelay.web.state import client_ip, state_of

router = APIRouter(include_in_schema=False)
log = structlog.get_logger(__name__)


@router.get("/", response_class=HTMLResponse)
def home(request: Request, category: str | None = None) -> HTMLResponse:
    return _home(request, _host_site(request), category)


@router.get("/s/{site_slug}", response_class=HTMLResponse)
def site_home(request: Request, site_slug: str, category: str | None = None) -> HTMLResponse:
    return _home(request, _site(request, site_slug), category)


def _host_site(request: Request) -> Site | None:
    """A distributor's own host name serves its sub-site at the root."""
    host = request.headers.get("host", "")
    with state_of(request).db.transaction(write=False) as session:
        found = network.get_by_host(session, host) if host else None
        return Site.of(found) if found else None


def _site(request: Request, slug: str) -> Site:
    with state_of(request).db.transaction(write=False) as session:
        return Site.of(network.get_by_slug(session, slug))


def _home(request: Request, site: Site | None, category: str | None) -> HTMLResponse:
    if site and not site.open:
        return render(request, "storefront/closed.html", status_code=403, site=site)
    with state_of(request).db.transaction(write=False) as session:
        categories = catalog.list_categories(session)
        current = next((c for c in categories if c.slug == category), None)
        products = catalog.list_products(session, category_id=current.id if current else None)
        visible = {c.id for c in categories}
        products = [p for p in products if p.category_id in visible]
        stock = inventory.available_counts(session, [p.id for p in products])
        retail = _retail(session, site)
    return render(
        request,
        "storefront/home.html",
        categories=categories,
        current=current,
        products=products,
        stock=stock,
        site=site,
        prefix=site.prefix if site else "",
        price_of=lambda p: retail.get(p.id, p.price_minor),
    )


def _retail(session: Session, site: Site | None) -> dict[int, int]:
    return prices.retail_prices(session, network.get(session, site.id)) if site else {}


@router.get("/p/{slug}", response_class=HTMLResponse)
def product_page(request: Request, slug: str) -> HTMLResponse:
    return _product_page(request, slug, site=_host_site(request))


@router.get("/s/{site_slug}/p/{slug}", response_class=HTMLResponse)
def site_product_page(request: Request, site_slug: str, slug: str) -> HTMLResponse:
    return _product_page(request, slug, site=_site(request, site_slug))


def _product_page(
    request: Request, slug: str, *, site: Site | None, error: DomainError | None = None, form: dict[str, str] | None = None
) -> HTMLResponse:
    if site and not site.open:
        return render(request, "storefront/closed.html", status_code=403, site=site)
    with state_of(request).db.transaction(write=False) as session:
        product = catalog.get_product_by_slug(session, slug)
        in_stock = inventory.available_counts(session, [product.id])[product.id]
        price = _retail(session, site).get(product.id, product.price_minor)
    status = error.status if error else 200
    return render(
        request,
        "storefront/product.html",
        status_code=status,
        product=product,
        in_stock=in_stock,
        error=error,
        form=form or {},
        site=site,
        prefix=site.prefix if site else "",
        price=price,
        payment_choices=state_of(request).providers.for_buyer(signed_in=False),
    )


@dataclass(frozen=True)
class Site:
    """What a sub-site page needs to know about its distributor."""

    id: int
    slug: str
    name: str
    logo_url: str
    notice: str
    contact: str
    open: bool
    prefix: str

    @classmethod
    def of(cls, row: Distributor) -> Site:
        return cls(row.id, row.slug, row.name, row.logo_url, row.notice, row.contact, row.status == "active", f"/s/{row.slug}")


@router.post("/checkout")
def place_checkout(
    request: Request,
    slug: Annotated[str, Form()],
    quantity: Annotated[str, Form()],
    contact: Annotated[str, Form()],
    query_password: Annotated[str, Form()] = "",
    site: Annotated[str, Form()] = "",
    payment_provider: Annotated[str, Form()] = "",
) -> Response:
    """Place the order (on the main site or a sub-site), then send the buyer to the gateway."""
    st = state_of(request)
    form = {"quantity": quantity, "contact": contact}
    seller = _site(request, site) if site else None
    try:
        qty = int(quantity) if quantity.strip().isdigit() else 0
        with st.db.transaction() as session:
            product = catalog.get_product_by_slug(session, slug)
            place = checkout.PlaceOrder(
                product_id=product.id,
                quantity=qty,
                contact=contact,
                payment_provider=_guest_provider(request, payment_provider),
                query_password=query_password or None,
                client_ip=client_ip(request),
                seller_id=seller.id if seller else None,
            )
            order = checkout.place_order(session, place, terms=st.terms)
            number, to_pay, provider = order.number, checkout.order_to_pay(order), order.payment_provider
    except DomainError as exc:
        if isinstance(exc, NotFound):
            raise
        return _product_page(request, slug, site=seller, error=exc, form=form)
    order_path = f"/orders/{number}?t={orders.access_token(number, st.link_secret)}"
    start = st.providers.get(provider).start(to_pay, return_path=order_path)
    return RedirectResponse(start.url or order_path, status_code=303)


def _guest_provider(request: Request, chosen: str) -> str:
    """The provider a guest picked, or the only one offered; none offered is a readable refusal."""
    offered = [p.name for p in state_of(request).providers.for_buyer(signed_in=False)]
    if not offered:
        raise checkout_errors.NO_GUEST_PAYMENTS(field="payment_provider")
    return chosen if chosen else offered[0]


# A GET in a write transaction on purpose: showing the buyer's keys writes the audited reveal.
@router.get("/orders/{number}", response_class=HTMLResponse)
def order_page(request: Request, number: str, t: str = "") -> HTMLResponse:
    """The buyer's order: status, keys once delivered, timeline."""
    st = state_of(request)
    if not orders.check_access_token(number.upper(), t, st.link_secret):
        raise order_errors.LOOKUP_MISS()
    with st.db.transaction() as session:
        order = orders.get_by_number(session, number)
        content = checkout.delivered_content(session, order, vault=st.settings.vault, actor=f"buyer:{order.number}", ip=client_ip(request))
        events = orders.timeline(session, order.id)
        seller_name = network.get(session, order.distributor_id).name if order.distributor_id else ""
    pay_path = ""
    if order.status == "pending_payment" and st.providers.has(order.payment_provider):
        provider = st.providers.get(order.payment_provider)
        pay_path = provider.start(checkout.order_to_pay(order), return_path=f"/orders/{order.number}?t={t}").url
    return render(
        request,
        "storefront/order.html",
        order=order,
        keys=content.items,
        events=events,
        token=t,
        pay_path=pay_path,
        seller_name=seller_name,
    )


@router.post("/orders/{number}/cancel")
def cancel_order(request: Request, number: str, t: Annotated[str, Form()]) -> Response:
    st = state_of(request)
    if not orders.check_access_token(number.upper(), t, st.link_secret):
        raise order_errors.LOOKUP_MISS()
    with st.db.transaction() as session:
        checkout.cancel(session, orders.get_by_number(session, number), actor="buyer")
    return RedirectResponse(f"/orders/{number}?t={t}", status_code=303)


@router.get("/lookup", response_class=HTMLResponse)
def lookup_page(request: Request) -> HTMLResponse:
    return render(request, "storefront/lookup.html", form={}, error=None)


@router.post("/lookup")
def lookup(
    request: Request,
    number: Annotated[str, Form()],
    contact: Annotated[str, Form()] = "",
    query_password: Annotated[str, Form()] = "",
) -> Response:
    """Central after-sales lookup; every failure reads the same."""
    st = state_of(request)
    form = {"number": number, "contact": contact}
    try:
        check_lookup_throttle(st, client_ip(request), number)
        with st.db.transaction(write=False) as session:
            order = orders.lookup(session, number=number, contact=contact or None, query_password=query_password or None)
    except DomainError as exc:
        return render(request, "storefront/lookup.html", status_code=exc.status, form=form, error=exc)
    return RedirectResponse(f"/orders/{order.number}?t={orders.access_token(order.number, st.link_secret)}", status_code=303)


# --- joining the network by invite --------------------------------------------------------


@router.get("/join/{code}", response_class=HTMLResponse)
def join_page(request: Request, code: str) -> HTMLResponse:
    return render(request, "storefront/join.html", code=code, form={}, error=None, joined=None)


@router.post("/join/{code}", response_class=HTMLResponse)
def join_submit(
    request: Request,
    code: str,
    email: Annotated[str, Form()],
    password: Annotated[str, Form()],
    name: Annotated[str, Form()],
    slug: Annotated[str, Form()],
) -> HTMLResponse:
    """Redeem an invite from the link a parent shared; errors keep what was typed (but the password)."""
    st = state_of(request)
    form = {"email": email, "name": name, "slug": slug}
    try:
        with st.db.transaction() as session:
            joined = network.join(
                session,
                network.JoinRequest(code=code, email=email, password=password, name=name, slug=slug),
                max_depth=st.settings.distribution_max_depth,
            )
            site = Site.of(joined)
    except DomainError as exc:
        return render(request, "storefront/join.html", status_code=exc.status, code=code, form=form, error=exc, joined=None)
    return render(request, "storefront/join.html", status_code=201, code=code, form=form, error=None, joined=site)
