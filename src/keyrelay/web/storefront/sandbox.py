"""The sandbox gateway's hosted page: a stand-in for a real provider, for development and demos.

``create_app`` mounts this router only when the sandbox provider is enabled,
which production refuses: there every path here is a 404.

The notification goes where a real gateway's would, but never to an address
taken from the request (a Host header would otherwise choose where the server
posts signed notifications): it is applied in-process, through the same
verification as a callback, or posted to the configured ``sandbox_notify_url``.
"""

from __future__ import annotations

import time
from typing import Annotated

import httpx
import structlog
from fastapi import APIRouter, BackgroundTasks, Form, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from keyrelay import checkout
from keyrelay.orders import service as orders
from keyrelay.payments.providers.sandbox import SandboxProvider
from keyrelay.web import codes
from keyrelay.web.pages import render
from keyrelay.web.state import AppState, state_of

router = APIRouter(include_in_schema=False)
log = structlog.get_logger(__name__)


def _safe_return(path: str) -> str:
    return path if path.startswith("/") and not path.startswith("//") else "/"


@router.get("/pay/sandbox/{number}", response_class=HTMLResponse)
def sandbox_page(request: Request, number: str) -> HTMLResponse:
    return_to = _safe_return(request.query_params.get("return", "/"))
    with state_of(request).db.transaction(write=False) as session:
        order = orders.get_by_number(session, number)
    return render(request, "storefront/sandbox.html", order=order, return_to=return_to)


@router.post("/pay/sandbox/{number}")
def sandbox_pay(
    request: Request, number: str, background: BackgroundTasks, action: Annotated[str, Form()], return_to: Annotated[str, Form()] = "/"
) -> Response:
    """The buyer pressed Pay: the gateway sends its signed notification asynchronously."""
    st = state_of(request)
    sandbox = st.providers.sandbox()
    if sandbox is None:
        raise codes.NO_SUCH_PAGE()
    with st.db.transaction(write=False) as session:
        to_pay = checkout.order_to_pay(orders.get_by_number(session, number))
    if action == "pay":
        params = sandbox.notification_for(to_pay)
        if sandbox.notify_url:
            background.add_task(send_notification, sandbox.notify_url, params)
        else:
            background.add_task(apply_notification, st, params)
    return RedirectResponse(_safe_return(return_to), status_code=303)


def apply_notification(st: AppState, params: dict[str, str]) -> None:
    """Hand the signed notification to the callback pipeline, as if it had arrived over HTTP."""
    with st.db.transaction() as session:
        verdict = checkout.accept_notification(session, provider_name=SandboxProvider.name, params=params, terms=st.terms)
    log.info("sandbox_notification_applied", verdict=verdict)


def send_notification(url: str, params: dict[str, str], attempts: int = 5) -> None:
    """POST the callback like a gateway would, retrying until it reads ``success``."""
    for attempt in range(attempts):
        try:
            reply = httpx.post(url, data=params, timeout=10)
            if reply.text.strip() == "success":
                return
        except httpx.HTTPError as exc:
            log.warning("sandbox_notify_failed", attempt=attempt, error=type(exc).__name__)
        time.sleep(0.5 * 2**attempt)
