"""Console pages for orders: filtered list, detail with timeline and payments, key reveal, cancel, refund, manual delivery."""

from __future__ import annotations

from typing import Any
from urllib.parse import urlencode

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from keyrelay import checkout
from keyrelay.catalog import kinds
from keyrelay.catalog import service as catalog
from keyrelay.distribution import reach
from keyrelay.kit.errors import DomainError
from keyrelay.orders import rules
from keyrelay.orders import service as orders
from keyrelay.payments import service as payments
from keyrelay.web.console import forms, wording
from keyrelay.web.console.guard import ConsoleRoute
from keyrelay.web.console.session import operator
from keyrelay.web.console.views import page
from keyrelay.web.state import client_ip, state_of

router = APIRouter(route_class=ConsoleRoute)
PER_PAGE = 50
STATUSES = tuple(rules.TRANSITIONS)
REFUNDABLE = frozenset({rules.PAID, rules.DELIVERED})


def _filters(request: Request) -> tuple[orders.OrderFilter, dict[str, str], int | None]:
    """Read the filter form from the query string; unknown or malformed values are ignored, not errors."""
    q = request.query_params
    status = q.get("status", "") if q.get("status", "") in STATUSES else ""
    product = q.get("product_id", "")
    before = q.get("before_id", "")
    shown = {
        "status": status,
        "product_id": product if product.isdigit() else "",
        "contact": q.get("contact", "").strip()[:254],
        "number": q.get("number", "").strip()[:32],
        "needs_attention": "1" if q.get("needs_attention") else "",
    }
    flt = orders.OrderFilter(
        status=status or None,
        product_id=int(product) if product.isdigit() else None,
        contact=shown["contact"] or None,
        number=shown["number"] or None,
        needs_attention=True if shown["needs_attention"] else None,
    )
    return flt, shown, int(before) if before.isdigit() else None


@router.get("/orders", response_class=HTMLResponse)
def order_list(request: Request) -> HTMLResponse:
    """Newest first; "older" pages continue below the last id seen (keyset, stable while orders arrive)."""
    flt, shown, before_id = _filters(request)
    with state_of(request).db.transaction(write=False) as session:
        rows = orders.list_orders(session, reach.of(session, operator(request)), flt, limit=PER_PAGE, before_id=before_id)
        product_list = catalog.list_products(session, active_only=False)
    kept = {k: v for k, v in shown.items() if v}
    older = urlencode({**kept, "before_id": rows[-1].id}) if len(rows) == PER_PAGE else None
    return page(
        request,
        "console/orders.html",
        section="orders",
        orders=rows,
        filters=shown,
        statuses=STATUSES,
        products=product_list,
        filter_query=urlencode(kept),
        older_query=older,
        paged=before_id is not None,
    )


def _detail(request: Request, number: str, *, status_code: int = 200, **extra: Any) -> HTMLResponse:
    with state_of(request).db.transaction(write=False) as session:
        order = orders.get_by_number(session, number)
        events = orders.timeline(session, order.id)
        paid = payments.payments_for_order(session, order.id)
        kind = kinds.get(catalog.get_product(session, order.product_id).kind)
    extra.setdefault("errors", {})
    extra.setdefault("form", {})
    return page(
        request,
        "console/order_detail.html",
        status_code=status_code,
        section="orders",
        order=order,
        events=events,
        payments=paid,
        keys_visible=order.status in rules.VISIBLE_KEYS,
        can_cancel=order.status == rules.PENDING,
        can_refund=order.status in REFUNDABLE,
        can_deliver=order.status == rules.PAID and kind.delivered_by_hand,
        flash_code=request.query_params.get("done", ""),
        **extra,
    )


@router.get("/orders/{number}", response_class=HTMLResponse)
def order_detail(request: Request, number: str) -> HTMLResponse:
    """Keys stay masked here: showing them is a separate, audited POST."""
    return _detail(request, number)


@router.post("/orders/{number}/reveal", response_class=HTMLResponse)
def reveal_order_keys(request: Request, number: str) -> HTMLResponse:
    st = state_of(request)
    with st.db.transaction() as session:
        order = orders.get_by_number(session, number)
        content = checkout.delivered_content(session, order, vault=st.settings.vault, actor=operator(request).actor, ip=client_ip(request))
    response = _detail(request, number, revealed=content.items)
    response.headers["Cache-Control"] = "no-store"
    return response


@router.post("/orders/{number}/cancel")
def cancel_order(request: Request, number: str) -> Response:
    """Only a pending order can be cancelled; its held keys go back to stock."""
    with state_of(request).db.transaction() as session:
        order = orders.get_by_number(session, number)
        checkout.cancel(session, order, actor=operator(request).actor)
        number = order.number
    return RedirectResponse(f"/admin/orders/{number}?done=cancelled", status_code=303)


@router.post("/orders/{number}/refund", response_class=HTMLResponse)
def refund_order(request: Request, number: str, form: forms.Posted) -> Response:
    """Money back to the payer and the whole split reversed (uplines included); delivered keys are voided."""
    reason = forms.text(form, "reason").strip()[:200]
    try:
        with state_of(request).db.transaction() as session:
            order = orders.get_by_number(session, number)
            checkout.refund(session, order, actor=operator(request).actor, reason=reason, terms=state_of(request).terms)
            number = order.number
    except DomainError as exc:
        if exc.code == "not_found":
            raise
        errors = wording.errors_of(request, exc, state_of(request).settings.currency)
        return _detail(request, number, status_code=exc.status, errors=errors, form=form)
    return RedirectResponse(f"/admin/orders/{number}?done=refunded", status_code=303)


@router.post("/orders/{number}/deliver", response_class=HTMLResponse)
def deliver_manually(request: Request, number: str, form: forms.Posted) -> Response:
    """Hand over a paid manual-delivery order's goods (one item per line); stored encrypted."""
    st = state_of(request)
    try:
        with st.db.transaction() as session:
            order = orders.get_by_number(session, number)
            checkout.deliver_manually(
                session, order, content=forms.text(form, "content"), vault=st.settings.vault, actor=operator(request).actor
            )
            number = order.number
    except DomainError as exc:
        if exc.code == "not_found":
            raise
        return _detail(request, number, status_code=exc.status, errors=wording.errors_of(request, exc, st.settings.currency))
    return RedirectResponse(f"/admin/orders/{number}?done=delivered", status_code=303)
