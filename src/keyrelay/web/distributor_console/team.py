"""A distributor's network (its downline with sales, invites) and its sales channels."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from keyrelay.distribution import channels, network, reach
from keyrelay.kit.errors import DomainError
from keyrelay.orders import service as orders
from keyrelay.web.console import forms, inputs, wording
from keyrelay.web.distributor_console.area import DistributorRoute, me, own, shop_page
from keyrelay.web.state import base_url, state_of

router = APIRouter(route_class=DistributorRoute)
CHANNEL_KINDS = tuple(kind for kind in channels.KINDS if kind != "subsite")
"""Kinds a distributor may create; the sub-site channel comes with the shop."""


def _network_page(request: Request, *, status_code: int = 200, **extra: Any) -> HTMLResponse:
    st = state_of(request)
    shown = inputs.parse_id(request.query_params.get("invite", ""))
    with st.db.transaction(write=False) as session:
        shop = own(session, request)
        branch = reach.Reach.branch(shop)
        downline = branch.downline(session)
        sales = orders.sales_by(session, branch, by="distributor")
        invites = network.invites_under(session, shop)
    extra.setdefault("form", {"max_uses": 1, "ttl_hours": 72})
    extra.setdefault("errors", {})
    return shop_page(
        request,
        "distributor/network.html",
        shop,
        section="network",
        status_code=status_code,
        downline=downline,
        names={d.id: d.name for d in [shop, *downline]},
        sales={(r.key, r.currency): r for r in sales},
        currency=st.settings.currency,
        invites=invites,
        shown_invite=shown,
        join_base=f"{base_url(request)}/join/",
        can_invite=shop.status == "active" and shop.level < st.settings.distribution_max_depth,
        **extra,
    )


@router.get("/network", response_class=HTMLResponse)
def my_network(request: Request) -> HTMLResponse:
    """Everyone below me (all levels) with level, status and sales; my invite links."""
    return _network_page(request)


@router.post("/invites")
def create_invite(request: Request, form: forms.Posted) -> Response:
    """A link for a new sub-distributor directly under me, shown on the next page to copy."""
    st = state_of(request)
    errors: forms.Errors = {}
    max_uses = inputs.whole(form, "max_uses", errors, default=1)
    ttl_hours = inputs.whole(form, "ttl_hours", errors, default=72)
    if errors:
        return _network_page(request, status_code=422, form=form, errors=errors)
    who = me(request)
    try:
        with st.db.transaction() as session:
            invite = network.create_invite(
                session,
                network.Actor(who.user_id, who.role),
                parent_id=own(session, request).id,
                max_uses=max_uses,
                ttl_hours=ttl_hours,
                requires_approval=forms.checkbox(form, "requires_approval"),
                max_depth=st.settings.distribution_max_depth,
            )
    except DomainError as exc:
        fields = {"parent_id": forms.FORM_LEVEL}
        return _network_page(
            request, status_code=exc.status, form=form, errors=wording.errors_of(request, exc, st.settings.currency, fields)
        )
    return RedirectResponse(f"/distributor/network?done=invited&invite={invite.id}#invites", status_code=303)


def _channels_page(request: Request, *, status_code: int = 200, **extra: Any) -> HTMLResponse:
    with state_of(request).db.transaction(write=False) as session:
        shop = own(session, request)
        rows = channels.list_for(session, shop)
        sales = orders.sales_by(session, reach.Reach.branch(shop), orders.OrderFilter(distributor_id=shop.id), by="channel")
    extra.setdefault("form", {"kind": "other"})
    extra.setdefault("errors", {})
    return shop_page(
        request,
        "distributor/channels.html",
        shop,
        section="channels",
        status_code=status_code,
        channels=rows,
        sales=_per_channel(sales),
        kinds=CHANNEL_KINDS,
        **extra,
    )


def _per_channel(rows: list[orders.SalesRow]) -> dict[int | None, list[orders.SalesRow]]:
    grouped: dict[int | None, list[orders.SalesRow]] = {}
    for row in rows:
        grouped.setdefault(row.key, []).append(row)
    return grouped


@router.get("/channels", response_class=HTMLResponse)
def my_channels(request: Request) -> HTMLResponse:
    return _channels_page(request)


@router.post("/channels")
def create_channel(request: Request, form: forms.Posted) -> Response:
    """A named outlet (shop, group, website…) that orders can be attributed to."""
    st = state_of(request)
    try:
        with st.db.transaction() as session:
            channels.create(session, own(session, request), name=forms.text(form, "name"), kind=forms.text(form, "kind"))
    except DomainError as exc:
        return _channels_page(request, status_code=exc.status, form=form, errors=wording.errors_of(request, exc, st.settings.currency))
    return RedirectResponse("/distributor/channels?done=created", status_code=303)
