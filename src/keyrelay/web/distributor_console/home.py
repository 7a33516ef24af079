"""The distributor's front page (sales per channel, money, status) and its sub-site settings."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, time, timedelta
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from keyrelay.distribution import channels, network, reach
from keyrelay.distribution.models import Distributor
from keyrelay.kit.clock import utcnow
from keyrelay.kit.errors import DomainError
from keyrelay.ledger import service as ledger
from keyrelay.orders import service as orders
from keyrelay.web.console import forms, wording
from keyrelay.web.distributor_console.area import DistributorRoute, me, own, shop_page
from keyrelay.web.state import base_url, state_of

router = APIRouter(route_class=DistributorRoute)


@dataclass(frozen=True)
class ChannelSales:
    """One channel's sold orders today and over the last 7 days (UTC days)."""

    name: str
    currency: str
    today: orders.SalesRow | None
    week: orders.SalesRow | None


def _by_channel(names: dict[int, str], today: list[orders.SalesRow], week: list[orders.SalesRow]) -> list[ChannelSales]:
    keys = sorted({(r.key, r.currency) for r in week + today}, key=lambda k: (names.get(k[0] or 0, ""), k[1]))
    day = {(r.key, r.currency): r for r in today}
    seven = {(r.key, r.currency): r for r in week}
    return [ChannelSales(names.get(key or 0, "—"), cur, day.get((key, cur)), seven.get((key, cur))) for key, cur in keys]


def _downline_total(rows: list[orders.SalesRow], own_id: int) -> dict[str, int]:
    totals: dict[str, int] = {}
    for row in rows:
        if row.key != own_id:
            totals[row.currency] = totals.get(row.currency, 0) + row.amount_minor
    return totals


@router.get("", response_class=HTMLResponse)
def dashboard(request: Request) -> HTMLResponse:
    """My sales per channel (today and 7 days), my downline's total, and my money."""
    st = state_of(request)
    today = datetime.combine(utcnow().date(), time.min, tzinfo=utcnow().tzinfo)
    week = today - timedelta(days=6)
    with st.db.transaction(write=False) as session:
        shop = own(session, request)
        branch = reach.Reach.branch(shop)
        names = {c.id: c.name for c in channels.list_for(session, shop)}
        sales = _by_channel(
            names,
            orders.sales_by(session, branch, orders.OrderFilter(distributor_id=shop.id, created_from=today), by="channel"),
            orders.sales_by(session, branch, orders.OrderFilter(distributor_id=shop.id, created_from=week), by="channel"),
        )
        downline_today = _downline_total(
            orders.sales_by(session, branch, orders.OrderFilter(created_from=today), by="distributor"), shop.id
        )
        downline_week = _downline_total(orders.sales_by(session, branch, orders.OrderFilter(created_from=week), by="distributor"), shop.id)
        summary = ledger.wallet_summary(session, me(request).user_id, st.settings.currency)
    return shop_page(
        request,
        "distributor/dashboard.html",
        shop,
        section="dashboard",
        sales=sales,
        downline_today=downline_today,
        downline_week=downline_week,
        summary=summary,
    )


def _site_form(shop: Distributor) -> dict[str, Any]:
    return {"name": shop.name, "logo_url": shop.logo_url, "notice": shop.notice, "contact": shop.contact, "host": shop.host or ""}


def _site_page(request: Request, shop: Distributor, form: dict[str, Any], errors: forms.Errors, status_code: int = 200) -> HTMLResponse:
    return shop_page(
        request,
        "distributor/site.html",
        shop,
        section="site",
        status_code=status_code,
        form=form,
        errors=errors,
        site_url=f"{base_url(request)}/s/{shop.slug}",
    )


@router.get("/site", response_class=HTMLResponse)
def site(request: Request) -> HTMLResponse:
    with state_of(request).db.transaction(write=False) as session:
        shop = own(session, request)
    return _site_page(request, shop, _site_form(shop), {})


@router.post("/site")
def save_site(request: Request, form: forms.Posted) -> Response:
    """Name, logo, notice, contact and an own host name for the sub-site at /s/<slug>."""
    st = state_of(request)
    try:
        with st.db.transaction() as session:
            shop = own(session, request)
            network.update_site(
                session,
                shop,
                name=forms.text(form, "name"),
                logo_url=forms.text(form, "logo_url"),
                notice=forms.text(form, "notice"),
                contact=forms.text(form, "contact"),
                host=forms.text(form, "host"),
            )
    except DomainError as exc:
        with st.db.transaction(write=False) as session:
            shop = own(session, request)
        return _site_page(request, shop, form, wording.errors_of(request, exc, st.settings.currency), status_code=exc.status)
    return RedirectResponse("/distributor/site?done=saved", status_code=303)
