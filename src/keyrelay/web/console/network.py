"""Operator pages for the distributor network: the tree, approvals and suspensions, invites, level prices."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from keyrelay.catalog import service as catalog
from keyrelay.distribution import network, prices, reach
from keyrelay.distribution.pricing import RULES, Rule
from keyrelay.identity import service as identity
from keyrelay.kit.errors import DomainError
from keyrelay.orders import service as orders
from keyrelay.web.console import explaining, forms, inputs, wording
from keyrelay.web.console.guard import ConsoleRoute
from keyrelay.web.console.session import operator
from keyrelay.web.console.views import page
from keyrelay.web.state import base_url, state_of

router = APIRouter(route_class=ConsoleRoute)
STATUS_ACTIONS = {"approve": ("active", "approved"), "suspend": ("suspended", "suspended"), "reinstate": ("active", "reinstated")}
"""Button → (target status, flash code); the service decides which moves are legal from where."""


def _tree_page(request: Request, *, status_code: int = 200, **extra: Any) -> HTMLResponse:
    st = state_of(request)
    shown_invite = inputs.parse_id(request.query_params.get("invite", ""))
    with st.db.transaction(write=False) as session:
        everything = reach.of(session, operator(request))
        rows = everything.downline(session)
        emails = {u.id: u.email for u in identity.list_users(session, role="distributor", limit=5000)}
        sales = orders.sales_by(session, everything, by="distributor")
        invites = network.recent_invites(session, limit=20)
    extra.setdefault("form", {"max_uses": 1, "ttl_hours": 72})
    extra.setdefault("errors", {})
    return page(
        request,
        "console/network.html",
        status_code=status_code,
        section="network",
        rows=rows,
        names={d.id: d.name for d in rows},
        emails=emails,
        sales={(r.key, r.currency): r.amount_minor for r in sales if r.key is not None},
        currency=st.settings.currency,
        invites=invites,
        shown_invite=shown_invite,
        join_base=f"{base_url(request)}/join/",
        max_depth=st.settings.distribution_max_depth,
        flash_code=request.query_params.get("done", ""),
        **extra,
    )


@router.get("/network", response_class=HTMLResponse)
def tree(request: Request) -> HTMLResponse:
    """The whole network, parents before children, with the buttons that change a distributor's status."""
    return _tree_page(request)


@router.post("/network/{distributor_id}/status")
def change_status(request: Request, distributor_id: inputs.PathId, form: forms.Posted) -> Response:
    """Approve, suspend (its sub-site and purchases stop at once) or reinstate, with a reason for the audit log."""
    target, done = STATUS_ACTIONS.get(forms.text(form, "action"), ("", ""))
    if not target:
        problem = wording.problem(request, wording.N_("Choose approve, suspend or reinstate."))
        return _tree_page(request, status_code=422, problem=problem)
    me = operator(request)
    try:
        with state_of(request).db.transaction() as session:
            network.set_status(
                session, distributor_id, target, actor=network.Actor(me.user_id, me.role), reason=forms.text(form, "reason").strip()[:200]
            )
    except DomainError as exc:
        return _tree_page(request, status_code=exc.status, problem=wording.reword(request, exc, state_of(request).settings.currency))
    return RedirectResponse(f"/admin/network?done={done}#d{distributor_id}", status_code=303)


@router.post("/network/invites")
def create_invite(request: Request, form: forms.Posted) -> Response:
    """An invite for a level-1 distributor (no parent) or for one under any distributor."""
    st = state_of(request)
    errors: forms.Errors = {}
    parent_id = inputs.optional_id(form, "parent_id", errors)
    max_uses = inputs.whole(form, "max_uses", errors, default=1)
    ttl_hours = inputs.whole(form, "ttl_hours", errors, default=72)
    if errors:
        return _tree_page(request, status_code=422, form=form, errors=errors)
    me = operator(request)
    try:
        with st.db.transaction() as session:
            invite = network.create_invite(
                session,
                network.Actor(me.user_id, me.role),
                parent_id=parent_id,
                max_uses=max_uses,
                ttl_hours=ttl_hours,
                requires_approval=forms.checkbox(form, "requires_approval"),
                max_depth=st.settings.distribution_max_depth,
            )
    except DomainError as exc:
        fields = {"max_uses": "max_uses", "ttl_hours": "ttl_hours", "parent_id": "parent_id"}
        return _tree_page(request, status_code=exc.status, form=form, errors=wording.errors_of(request, exc, st.settings.currency, fields))
    return RedirectResponse(f"/admin/network?done=invited&invite={invite.id}#invites", status_code=303)


def _prices_page(request: Request, *, status_code: int = 200, **extra: Any) -> HTMLResponse:
    st = state_of(request)
    with st.db.transaction(write=False) as session:
        rules = prices.level_rules(session)
        products = catalog.list_products(session, active_only=False)
        distributors = reach.of(session, operator(request)).downline(session)
    by_id = {p.id: p for p in products}
    # What a product rule comes to, over the product's supply price (level rules are computed over it).
    resolved = {r.id: Rule(r.rule, r.value).apply(by_id[r.product_id].supply_price_minor) for r in rules if r.product_id in by_id}
    extra.setdefault("form", {"level": 1, "rule": "markup_pct"})
    extra.setdefault("errors", {})
    return page(
        request,
        "console/level_prices.html",
        status_code=status_code,
        section="prices",
        rules=rules,
        products=products,
        product_by_id=by_id,
        resolved=resolved,
        distributors=distributors,
        rule_kinds=RULES,
        levels=range(1, st.settings.distribution_max_depth + 1),
        currency=st.settings.currency,
        flash_code=request.query_params.get("done", ""),
        **extra,
    )


@router.get("/level-prices", response_class=HTMLResponse)
def level_prices(request: Request) -> HTMLResponse:
    return _prices_page(request)


@router.post("/level-prices")
def set_level_price(request: Request, form: forms.Posted) -> Response:
    """What a level-k distributor pays the platform, per product or as the level's default."""
    st = state_of(request)
    errors: forms.Errors = {}
    level = inputs.whole(form, "level", errors, default=0)
    product_id = inputs.optional_id(form, "product_id", errors)
    rule = forms.text(form, "rule")
    status = 422
    try:
        with st.db.transaction() as session:
            product = catalog.get_product(session, product_id) if product_id else None
            value = inputs.rule_value(form, rule, product.currency if product else st.settings.currency, errors)
            if not errors:
                prices.set_level_price(
                    session,
                    level=level,
                    product=product,
                    rule=rule,
                    value=value,
                    max_depth=st.settings.distribution_max_depth,
                    actor=operator(request).actor,
                )
    except DomainError as exc:
        # A product that does not exist has no field of its own: it belongs to the product input.
        status, errors = exc.status, wording.errors_of(request, exc, st.settings.currency, {"": "product_id"})
    if errors:
        return _prices_page(request, status_code=status, form=form, errors=errors)
    return RedirectResponse("/admin/level-prices?done=saved", status_code=303)


@router.get("/level-prices/explain", response_class=HTMLResponse)
def explain(request: Request, distributor_id: str = "", product_id: str = "") -> HTMLResponse:
    """Any distributor's price for any product: the chain from level 1 down and who earns what per unit."""
    target_id, chosen_product = inputs.parse_id(distributor_id), inputs.parse_id(product_id)
    if target_id is None or chosen_product is None:
        return _prices_page(request)
    with state_of(request).db.transaction(write=False) as session:
        target = reach.of(session, operator(request)).distributor(session, target_id)
        explained = explaining.explain(request, session, target, catalog.get_product(session, chosen_product))
    return _prices_page(request, explained=explained, picked={"distributor_id": target.id, "product_id": explained.product.id})
