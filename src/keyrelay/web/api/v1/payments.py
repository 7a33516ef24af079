"""Gateway callbacks. Answer ``success`` once a notification is applied (or already was)."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import PlainTextResponse
from pydantic import BaseModel, Field

from keyrelay import checkout
from keyrelay.web import codes
from keyrelay.web.auth import GuardedRoute, OptionalReader
from keyrelay.web.state import client_ip, state_of

router = APIRouter(prefix="/payments", tags=["payments"], route_class=GuardedRoute)


# Two routes rather than one with two methods: each needs its own OpenAPI operationId. The GET
# writes on purpose: gateways such as 易支付 deliver their notification as a GET.
@router.get("/{provider}/notify", response_class=PlainTextResponse)
@router.post("/{provider}/notify", response_class=PlainTextResponse)
async def notify(provider: str, request: Request) -> PlainTextResponse:
    """Asynchronous payment notification (form fields or query string, as 易支付 sends them)."""
    params = dict(request.query_params)
    if request.method == "POST":
        params.update({k: str(v) for k, v in (await request.form()).items() if isinstance(v, str)})
    st = state_of(request)
    if not st.providers.has(provider) or st.providers.get(provider).settles_at_checkout:
        raise codes.NO_SUCH_PROVIDER(provider=provider[:16])

    def apply() -> str:
        with st.db.transaction() as session:
            return checkout.accept_notification(session, provider_name=provider, params=params, terms=st.terms, ip=client_ip(request))

    from starlette.concurrency import run_in_threadpool

    verdict = await run_in_threadpool(apply)
    # Gateways retry until they read their acknowledgement; a forged or mismatched one is refused for ever.
    try:
        ack = st.providers.gateway(provider).acknowledge(accepted=verdict != "rejected")
    except KeyError:
        return PlainTextResponse("fail", status_code=400)
    return PlainTextResponse(ack.body, status_code=ack.status_code)


class ProviderOut(BaseModel):
    """A payment method this shop accepts."""

    name: str = Field(description="Send as `payment_provider` when placing an order")
    label: str
    settles_at_checkout: bool = Field(description="Paid while the order is placed (a wallet); otherwise pay at `payment_url`")
    requires_account: bool = Field(description="Only a signed-in caller may use it")


@router.get("/providers", response_model=list[ProviderOut])
def list_providers(request: Request, who: OptionalReader) -> list[ProviderOut]:
    """The payment methods enabled on this shop that the caller may use, in checkout order."""
    offered = state_of(request).providers.for_buyer(signed_in=who is not None)
    return [
        ProviderOut(name=p.name, label=p.label, settles_at_checkout=p.settles_at_checkout, requires_account=p.requires_account)
        for p in offered
    ]
