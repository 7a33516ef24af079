"""The console's front page: today's figures and what needs the operator's hands."""

from __future__ import annotations

from datetime import datetime, time

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse

from keyrelay.catalog import kinds
from keyrelay.catalog import service as catalog
from keyrelay.distribution import reach
from keyrelay.inventory import service as inventory
from keyrelay.kit.clock import utcnow
from keyrelay.orders import service as orders
from keyrelay.web.console.guard import ConsoleRoute
from keyrelay.web.console.session import operator
from keyrelay.web.console.views import page
from keyrelay.web.state import state_of

router = APIRouter(route_class=ConsoleRoute)


@router.get("", response_class=HTMLResponse)
def dashboard(request: Request) -> HTMLResponse:
    """Today's figures (the UTC day, like every time the console shows) and the work waiting."""
    today = datetime.combine(utcnow().date(), time.min, tzinfo=utcnow().tzinfo)
    with state_of(request).db.transaction(write=False) as session:
        stats = orders.stats_since(session, today)
        products = catalog.list_products(session, active_only=False)
        stock = inventory.stock_counts(session, [p.id for p in products])
        attention = orders.list_orders(session, reach.of(session, operator(request)), orders.OrderFilter(needs_attention=True), limit=10)
    low = [
        (p, stock[p.id]["available"])
        for p in products
        if p.is_active and kinds.get(p.kind).tracks_stock and stock[p.id]["available"] <= p.low_stock_threshold
    ]
    return page(
        request, "console/dashboard.html", section="dashboard", stats=stats, product_count=len(products), low_stock=low, attention=attention
    )
