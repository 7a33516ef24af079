"""Console pages that only read the records: the audit log and the books check."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse

from keyrelay.audit import service as audit
from keyrelay.ledger import service as ledger
from keyrelay.web.console.guard import ConsoleRoute
from keyrelay.web.console.views import page
from keyrelay.web.state import state_of

router = APIRouter(route_class=ConsoleRoute)
COMMON_ACTIONS = (
    "key.reveal",
    "keys.import",
    "wallet.credit",
    "product.create",
    "product.update",
    "category.create",
    "category.update",
    "user.create",
    "order.refund",
    "order.deliver_manual",
)
"""Offered as suggestions in the filter; any action name can still be typed."""


@router.get("/audit", response_class=HTMLResponse)
def audit_log(request: Request, action: str = "") -> HTMLResponse:
    action = action.strip()[:64]
    with state_of(request).db.transaction(write=False) as session:
        entries = audit.recent(session, action=action or None, limit=200)
    return page(request, "console/audit.html", section="audit", entries=entries, action=action, actions=COMMON_ACTIONS)


@router.get("/books", response_class=HTMLResponse)
def books(request: Request) -> HTMLResponse:
    """Reconciliation: every transaction balances, the books sum to zero, wallet caches agree; the trial balance."""
    with state_of(request).db.transaction(write=False) as session:
        report = ledger.check_books(session)
        accounts = ledger.trial_balance(session)
    return page(request, "console/books.html", section="books", report=report, accounts=accounts)
