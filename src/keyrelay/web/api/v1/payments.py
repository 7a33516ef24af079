"""Gateway callbacks. Answer ``success`` once a notification is applied (or already was)."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import PlainTextResponse

from keyrelay.orders import flows
from keyrelay.web.auth import GuardedRoute
from keyrelay.web.state import client_ip, state_of

router = APIRouter(prefix="/payments", tags=["payments"], route_class=GuardedRoute)


# Two routes rather than one with two methods: each needs its own OpenAPI operationId.
@router.get("/{provider}/notify", response_class=PlainTextResponse)
@router.post("/{provider}/notify", response_class=PlainTextResponse)
async def notify(provider: str, request: Request) -> PlainTextResponse:
    """Asynchronous payment notification (form fields or query string, as 易支付 sends them)."""
    params = dict(request.query_params)
    if request.method == "POST":
        params.update({k: str(v) for k, v in (await request.form()).items() if isinstance(v, str)})
    st = state_of(request)

    def apply() -> str:
        with st.db.transaction() as session:
            return flows.accept_notification(
                session,
                provider_name=provider,
                params=params,
                providers=st.providers,
                ip=client_ip(request),
                commission_hold_days=st.settings.commission_hold_days,
            )

    from starlette.concurrency import run_in_threadpool

    verdict = await run_in_threadpool(apply)
    # Gateways retry until they read "success"; a forged or mismatched one gets "fail" for ever.
    if verdict == "rejected":
        return PlainTextResponse("fail", status_code=400)
    return PlainTextResponse("success")
