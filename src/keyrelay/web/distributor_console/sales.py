"""Orders of my branch (list, detail, my purchases' keys) and buying wholesale from my balance."""

from __future__ import annotations

from typing import Any
from urllib.parse import urlencode

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse
from sqlalchemy.orm import Session

from keyrelay import checkout
from keyrelay.catalog import service as catalog
from keyrelay.distribution import channels, network, prices, reach
from keyrelay.kit.errors import DomainError
from keyrelay.ledger import service as ledger
from keyrelay.orders import rules
from keyrelay.orders import service as orders
from keyrelay.orders.models import Order
from keyrelay.web.console import forms, inputs, wording
from keyrelay.web.distributor_console.area import DistributorRoute, me, own, shop_page
from keyrelay.web.state import client_ip, state_of

router = APIRouter(route_class=DistributorRoute)
PER_PAGE = 50
STATUSES = tuple(rules.TRANSITIONS)


def _filters(request: Request) -> tuple[orders.OrderFilter, dict[str, str], int | None]:
    """The filter form from the query string; malformed values are ignored, not errors.

    A well-formed id outside my branch is not ignored: the list answers 404, as the API does.
    """
    q = request.query_params
    status = q.get("status", "") if q.get("status", "") in STATUSES else ""
    seller, channel = inputs.parse_id(q.get("distributor_id", "")), inputs.parse_id(q.get("channel_id", ""))
    shown = {"status": status, "distributor_id": str(seller or ""), "channel_id": str(channel or "")}
    flt = orders.OrderFilter(status=status or None, distributor_id=seller, channel_id=channel)
    return flt, shown, inputs.parse_id(q.get("before_id", ""))


@router.get("/orders", response_class=HTMLResponse)
def order_list(request: Request) -> HTMLResponse:
    """Newest first; "older" continues below the last id seen (keyset paging, stable while orders arrive)."""
    flt, shown, before_id = _filters(request)
    with state_of(request).db.transaction(write=False) as session:
        shop = own(session, request)
        mine = reach.Reach.branch(shop)
        rows = orders.list_orders(session, mine, flt, limit=PER_PAGE, before_id=before_id)
        downline = mine.downline(session)
        own_channels = channels.list_for(session, shop)
    kept = {k: v for k, v in shown.items() if v}
    return shop_page(
        request,
        "distributor/orders.html",
        shop,
        section="orders",
        orders=rows,
        filters=shown,
        statuses=STATUSES,
        sellers=[shop, *downline],
        names={d.id: d.name for d in [shop, *downline]},
        channels=own_channels,
        filter_query=urlencode(kept),
        older_query=urlencode({**kept, "before_id": rows[-1].id}) if len(rows) == PER_PAGE else None,
        paged=before_id is not None,
    )


def _my_shares(order: Order, user_id: int) -> int:
    """What this order's frozen split gives the viewer (profit or commission), in minor units."""
    shares = order.pricing["shares"] if order.pricing else []
    return sum(int(s["amount"]) for s in shares if s.get("user_id") == user_id and s.get("role") in ("commission", "seller_profit"))


def _detail(request: Request, session: Session, number: str, **extra: Any) -> HTMLResponse:
    shop = own(session, request)
    order = orders.get_readable(session, reach.Reach.branch(shop), number)
    who = me(request)
    seller = network.get(session, order.distributor_id) if order.distributor_id else None
    return shop_page(
        request,
        "distributor/order_detail.html",
        shop,
        section="orders",
        order=order,
        seller=seller,
        events=orders.timeline(session, order.id),
        my_share=_my_shares(order, who.user_id),
        my_purchase=order.buyer_user_id == who.user_id and order.sale_mode == "wholesale",
        keys_visible=order.status in rules.VISIBLE_KEYS,
        **extra,
    )


@router.get("/orders/{number}", response_class=HTMLResponse)
def order_detail(request: Request, number: str) -> HTMLResponse:
    """One order of my branch (another branch's number is simply not found)."""
    with state_of(request).db.transaction(write=False) as session:
        return _detail(request, session, number)


@router.post("/orders/{number}/reveal", response_class=HTMLResponse)
def reveal_keys(request: Request, number: str) -> HTMLResponse:
    """The keys of my own wholesale purchase, into this response only; the reveal is audited."""
    st = state_of(request)
    with st.db.transaction() as session:
        shop = own(session, request)
        order = orders.get_readable(session, reach.Reach.branch(shop), number)
        who = me(request)
        revealed: list[str] = []
        if order.buyer_user_id == who.user_id and order.sale_mode == "wholesale":
            revealed = checkout.delivered_content(session, order, vault=st.settings.vault, actor=who.actor, ip=client_ip(request)).items
        response = _detail(request, session, number, revealed=revealed)
    response.headers["Cache-Control"] = "no-store"
    return response


def _buy_page(request: Request, *, status_code: int = 200, **extra: Any) -> HTMLResponse:
    st = state_of(request)
    with st.db.transaction(write=False) as session:
        shop = own(session, request)
        offers = prices.offers(session, shop, catalog.list_products(session))
        mine = channels.list_for(session, shop)
        balance = ledger.wallet_balance(session, me(request).user_id, st.settings.currency)
    extra.setdefault("form", {"quantity": "1"})
    extra.setdefault("errors", {})
    return shop_page(
        request,
        "distributor/buy.html",
        shop,
        section="buy",
        status_code=status_code,
        offers=offers,
        channels=[c for c in mine if c.is_active],
        balance=balance,
        currency=st.settings.currency,
        **extra,
    )


@router.get("/buy", response_class=HTMLResponse)
def buy_form(request: Request) -> HTMLResponse:
    return _buy_page(request, form={"quantity": "1", "product_id": request.query_params.get("product_id", "")})


def _purchase_errors(request: Request, exc: DomainError, currency: str) -> forms.Errors:
    """A missing product or channel has no field of its own: put it beside the matching input."""
    if exc.code == "not_found" and not exc.field:
        return {"channel_id" if exc.detail.startswith("channel") else "product_id": wording.reword(request, exc, currency)}
    return wording.errors_of(request, exc, currency, {"channel": "channel_id", "payment_provider": forms.FORM_LEVEL})


@router.post("/buy", response_class=HTMLResponse)
def buy(request: Request, form: forms.Posted) -> HTMLResponse:
    """Buy at my cost, paid from my balance; the keys are shown once, on this response only."""
    st = state_of(request)
    errors: forms.Errors = {}
    product_id = inputs.optional_id(form, "product_id", errors)
    channel_id = inputs.optional_id(form, "channel_id", errors)
    quantity = inputs.whole(form, "quantity", errors, default=0)
    declared = inputs.amount(form, "declared_retail", st.settings.currency, errors, required=False)
    if product_id is None and "product_id" not in errors:
        errors["product_id"] = forms.FieldError("choose_product", "choose a product")
    if errors:
        return _buy_page(request, status_code=422, form=form, errors=errors)
    assert product_id is not None
    who = me(request)
    try:
        with st.db.transaction() as session:
            shop = own(session, request)
            purchase = checkout.WholesalePurchase(
                user_id=who.user_id,
                email=who.email,
                product_id=product_id,
                quantity=quantity,
                channel_id=channel_id,
                declared_retail_minor=declared or None,
                client_ip=client_ip(request),
            )
            order = checkout.buy_wholesale(session, purchase, terms=st.terms)
            content = checkout.delivered_content(session, order, vault=st.settings.vault, actor=who.actor, ip=client_ip(request))
            balance = ledger.wallet_balance(session, who.user_id, order.currency)
    except DomainError as exc:
        return _buy_page(request, status_code=exc.status, form=form, errors=_purchase_errors(request, exc, st.settings.currency))
    return shop_page(request, "distributor/bought.html", shop, section="buy", secret=True, order=order, keys=content.items, balance=balance)
