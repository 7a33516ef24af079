"""Console pages over the records: the audit log, the books check, and events no subscriber could handle."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from keyrelay.audit import service as audit
from keyrelay.kit import outbox
from keyrelay.ledger import service as ledger
from keyrelay.web.console import forms
from keyrelay.web.console.guard import ConsoleRoute
from keyrelay.web.console.views import page
from keyrelay.web.state import state_of

router = APIRouter(route_class=ConsoleRoute)
COMMON_ACTIONS = (
    "key.reveal",
    "keys.import",
    "wallet.credit",
    "withdrawal.approve",
    "withdrawal.reject",
    "withdrawal.mark_paid",
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


@router.get("/events", response_class=HTMLResponse)
def dead_events(request: Request) -> HTMLResponse:
    """Event deliveries that failed for good (per subscriber), kept for a person to look at and retry."""
    with state_of(request).db.transaction(write=False) as session:
        total = outbox.dead_count(session)
        dead = outbox.dead_tasks(session, limit=200)
    return page(request, "console/events.html", section="audit", dead=dead, total=total, retried=request.query_params.get("retried", ""))


@router.post("/events/retry")
def retry_dead_events(request: Request, form: forms.Posted) -> Response:
    """Give the chosen dead tasks a fresh set of attempts (the worker runs them on its next pass)."""
    chosen = forms.text(form, "task").strip()
    with state_of(request).db.transaction() as session:
        if chosen == "all":
            ids = [t.id for t in outbox.dead_tasks(session, limit=1000)]
        else:
            ids = [int(chosen)] if chosen.isdigit() and len(chosen) < 19 else []
        revived = outbox.retry(session, ids) if ids else 0
    return RedirectResponse(f"/admin/events?retried={revived}", status_code=303)
