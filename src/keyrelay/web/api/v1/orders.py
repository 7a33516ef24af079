"""Buyer-side orders: checkout, read with the access token, central lookup, cancel."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query, Request
from fastapi.responses import Response
from sqlalchemy.orm import Session

from keyrelay import checkout
from keyrelay.kit.errors import TooManyRequests
from keyrelay.orders import errors as order_errors
from keyrelay.orders import service as orders
from keyrelay.orders.models import Order
from keyrelay.web.api.v1.schemas import CheckoutOut, EventOut, LookupIn, LookupOut, OrderDetail, OrderIn, OrderOut
from keyrelay.web.auth import GuardedRoute, OptionalOrderWriter, spends_nonce_in_work
from keyrelay.web.idempotency import IDEMPOTENT, owner_of, run_once
from keyrelay.web.state import AppState, base_url, client_ip, state_of

router = APIRouter(prefix="/orders", tags=["orders"], route_class=GuardedRoute)
Token = Annotated[str, Query(description="The order's access token from checkout or lookup")]


@router.post("", response_model=CheckoutOut, status_code=201, responses=IDEMPOTENT)
@spends_nonce_in_work
async def create_order(body: OrderIn, request: Request, who: OptionalOrderWriter) -> Response:
    """Check out: hold the keys and return where to pay (wallet orders come back delivered).

    Send an ``Idempotency-Key`` header to make retries safe: the same key and
    body replay the first response; the same key with another body is 422.
    """
    st = state_of(request)
    place = checkout.PlaceOrder(
        product_id=body.product_id,
        quantity=body.quantity,
        contact=body.contact,
        payment_provider=body.payment_provider or st.providers.default_for(signed_in=who is not None),
        query_password=body.query_password,
        buyer_user_id=who.user_id if who else None,
        client_ip=client_ip(request),
    )
    public = base_url(request)

    def work(session: Session) -> CheckoutOut:
        order = checkout.place_order(session, place, terms=st.terms)
        token = orders.access_token(order.number, st.link_secret)
        payment_url = None
        if order.status == "pending_payment":
            start = st.providers.get(order.payment_provider).start(checkout.order_to_pay(order), return_path="")
            payment_url = start.url if start.url.startswith("http") else f"{public}{start.url}"
        return CheckoutOut(
            order=OrderOut.of(order), payment_url=payment_url, access_token=token, order_url=f"{public}/orders/{order.number}?t={token}"
        )

    owner = owner_of(request, who.user_id if who else None, who.key_id if who else None)
    return await run_once(request, owner=owner, status_code=201, work=work)


def detail(session: Session, st: AppState, order: Order, *, actor: str, ip: str) -> OrderDetail:
    content = checkout.delivered_content(session, order, vault=st.settings.vault, actor=actor, ip=ip)
    events = [EventOut.of(e) for e in orders.timeline(session, order.id)]
    return OrderDetail(order=OrderOut.of(order), keys=content.items, timeline=events)


# A GET in a write transaction on purpose: every reveal of a delivered key writes an audit row.
@router.get("/{number}", response_model=OrderDetail)
def get_order(number: str, token: Token, request: Request) -> OrderDetail:
    """Read an order (and its keys once delivered) with its access token."""
    st = state_of(request)
    if not orders.check_access_token(number.upper(), token, st.link_secret):
        raise order_errors.LOOKUP_MISS()
    with st.db.transaction() as session:
        order = orders.get_by_number(session, number)
        return detail(session, st, order, actor=f"buyer:{order.number}", ip=client_ip(request))


@router.post("/lookup", response_model=LookupOut)
def lookup(body: LookupIn, request: Request) -> LookupOut:
    """Central after-sales lookup by order number + contact or query password (throttled)."""
    st = state_of(request)
    check_lookup_throttle(st, client_ip(request), body.number)
    with st.db.transaction() as session:
        order = orders.lookup(session, number=body.number, contact=body.contact, query_password=body.query_password)
        found = detail(session, st, order, actor=f"buyer:{order.number}", ip=client_ip(request))
        return LookupOut(**found.model_dump(), access_token=orders.access_token(order.number, st.link_secret))


def check_lookup_throttle(st: AppState, ip: str, number: str) -> None:
    """Per-IP and per-order limits, so neither numbers nor passwords can be brute-forced."""
    for throttle, key in ((st.lookup_throttle, f"lookup:{ip}"), (st.order_throttle, number.strip().upper())):
        if wait := throttle.hit(key):
            raise TooManyRequests("too many lookups; wait a minute and try again", retry_after=wait)


@router.post("/{number}/cancel", response_model=OrderOut)
def cancel_order(number: str, token: Token, request: Request) -> OrderOut:
    """Abandon an unpaid order; its keys return to stock at once."""
    st = state_of(request)
    if not orders.check_access_token(number.upper(), token, st.link_secret):
        raise order_errors.LOOKUP_MISS()
    with st.db.transaction() as session:
        order = orders.get_by_number(session, number)
        checkout.cancel(session, order, actor="buyer")
        return OrderOut.of(order)
