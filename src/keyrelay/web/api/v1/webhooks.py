"""A distributor's webhook endpoints and their delivery log.

With an API key every route here needs the ``webhooks:manage`` scope (the
``WebhookManager`` guard). An endpoint or delivery of another account
answers 404, exactly like one that does not exist.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Path, Query, Request
from fastapi.responses import Response
from sqlalchemy.orm import Session

from keyrelay.distribution import network
from keyrelay.web.api.v1.webhook_schemas import (
    WebhookDeliveryOut,
    WebhookEndpointCreatedOut,
    WebhookEndpointIn,
    WebhookEndpointOut,
    WebhookEndpointPatch,
    WebhookSecretOut,
)
from keyrelay.web.auth import GuardedRoute, WebhookManager, spends_nonce_in_work
from keyrelay.web.idempotency import IDEMPOTENT, owner_of, run_once
from keyrelay.web.state import state_of
from keyrelay.web.uow import ReadSession, WriteSession
from keyrelay.webhooks import delivery, service
from keyrelay.webhooks.rules import DeliveryStatus

router = APIRouter(prefix="/distributor/webhooks", tags=["webhooks"], route_class=GuardedRoute)
FORBIDDEN_URL: dict[int | str, dict[str, Any]] = {
    422: {"description": "Invalid input, or a URL that is not public http(s) (code webhook_url_forbidden)"}
}
MAX_ID = 2**63 - 1
"""Ids are 64-bit: a larger number is a 422, not a driver overflow."""
DeliveryId = Annotated[int, Path(ge=1, le=MAX_ID)]
DISABLED: dict[int | str, dict[str, Any]] = {409: {"description": "The endpoint is disabled (code webhook_endpoint_disabled)"}}


@router.post("", response_model=WebhookEndpointCreatedOut, status_code=201, responses={**IDEMPOTENT, **FORBIDDEN_URL})
@spends_nonce_in_work
async def create_endpoint(body: WebhookEndpointIn, who: WebhookManager, request: Request) -> Response:
    """Register a URL for signed events. The ``secret`` is in this response only: store it now."""
    st = state_of(request)

    def work(session: Session) -> WebhookEndpointCreatedOut:
        network.for_user(session, who.user_id)  # only a distributor account owns endpoints
        made = service.create_endpoint(
            session,
            user_id=who.user_id,
            url=body.url,
            description=body.description,
            event_types=body.events,
            vault=st.settings.vault,
            policy=delivery.url_policy(st.settings),
            actor=who.actor,
        )
        return WebhookEndpointCreatedOut(**WebhookEndpointOut.of(made.endpoint).model_dump(), secret=made.secret)

    return await run_once(request, owner=owner_of(request, who.user_id, who.key_id), status_code=201, work=work)


@router.get("", response_model=list[WebhookEndpointOut])
def list_endpoints(who: WebhookManager, session: ReadSession) -> list[WebhookEndpointOut]:
    """My webhook endpoints, oldest first; secrets are never returned again."""
    return [WebhookEndpointOut.of(e) for e in service.list_endpoints(session, who.user_id)]


@router.get("/{endpoint_id}", response_model=WebhookEndpointOut)
def get_endpoint(endpoint_id: str, who: WebhookManager, session: ReadSession) -> WebhookEndpointOut:
    """One of my endpoints: URL, subscribed events, enabled or why disabled, last success."""
    return WebhookEndpointOut.of(service.get_endpoint(session, who.user_id, endpoint_id))


@router.patch("/{endpoint_id}", response_model=WebhookEndpointOut, responses=FORBIDDEN_URL)
def update_endpoint(
    endpoint_id: str, body: WebhookEndpointPatch, who: WebhookManager, request: Request, session: WriteSession
) -> WebhookEndpointOut:
    """Change the URL, description, subscribed events, or enable/disable (re-enabling resumes pending deliveries)."""
    st = state_of(request)
    changes = service.EndpointChanges(url=body.url, description=body.description, event_types=body.events, enabled=body.enabled)
    endpoint = service.update_endpoint(
        session, user_id=who.user_id, public_id=endpoint_id, changes=changes, policy=delivery.url_policy(st.settings), actor=who.actor
    )
    return WebhookEndpointOut.of(endpoint)


@router.delete("/{endpoint_id}", status_code=204)
def delete_endpoint(endpoint_id: str, who: WebhookManager, session: WriteSession) -> Response:
    """Remove the endpoint and its delivery log."""
    service.delete_endpoint(session, user_id=who.user_id, public_id=endpoint_id, actor=who.actor)
    return Response(status_code=204)


@router.post("/{endpoint_id}/rotate-secret", response_model=WebhookSecretOut)
def rotate_secret(endpoint_id: str, who: WebhookManager, request: Request, session: WriteSession) -> WebhookSecretOut:
    """A new signing secret, shown once. For 24 h requests carry signatures by both, so receivers can switch over."""
    st = state_of(request)
    made = service.rotate_secret(session, user_id=who.user_id, public_id=endpoint_id, vault=st.settings.vault, actor=who.actor)
    return WebhookSecretOut(
        id=made.endpoint.public_id, secret=made.secret, previous_secret_expires_at=made.endpoint.previous_secret_expires_at
    )


@router.post("/{endpoint_id}/test", response_model=WebhookDeliveryOut, status_code=201, responses=DISABLED)
def send_test(endpoint_id: str, who: WebhookManager, request: Request) -> WebhookDeliveryOut:
    """Send a ``webhook.test`` event now, signed and logged like any other (retried if it fails)."""
    st = state_of(request)
    # Three steps, not one unit of work: the delivery must be committed before the worker code sends it.
    with st.db.transaction() as session:
        delivery_id = service.send_test(session, user_id=who.user_id, public_id=endpoint_id, actor=who.actor).id
    delivery.deliver_one(st.db, delivery.config_from(st.settings), delivery_id)
    with st.db.transaction(write=False) as session:
        return WebhookDeliveryOut.of(service.get_delivery(session, user_id=who.user_id, delivery_id=delivery_id))


@router.get("/{endpoint_id}/deliveries", response_model=list[WebhookDeliveryOut])
def list_deliveries(
    endpoint_id: str,
    who: WebhookManager,
    session: ReadSession,
    response: Response,
    status: DeliveryStatus | None = None,
    limit: Annotated[int, Query(ge=1, le=100)] = 20,
    before_id: Annotated[int | None, Query(ge=1, le=MAX_ID, description="Cursor: the X-Next-Cursor of the previous page")] = None,
) -> list[WebhookDeliveryOut]:
    """The delivery log, newest first, each delivery with every attempt (status, latency, response excerpt)."""
    logs = service.list_deliveries(session, user_id=who.user_id, public_id=endpoint_id, limit=limit, before_id=before_id, status=status)
    if len(logs) == limit:
        response.headers["X-Next-Cursor"] = str(logs[-1].delivery.id)
    return [WebhookDeliveryOut.of(log) for log in logs]


@router.post("/deliveries/{delivery_id}/redeliver", response_model=WebhookDeliveryOut, status_code=202, responses=DISABLED)
def redeliver(delivery_id: DeliveryId, who: WebhookManager, session: WriteSession) -> WebhookDeliveryOut:
    """Send a delivery again (any status): it is pending again, due now, with a fresh retry schedule."""
    service.redeliver(session, user_id=who.user_id, delivery_id=delivery_id, actor=who.actor)
    return WebhookDeliveryOut.of(service.get_delivery(session, user_id=who.user_id, delivery_id=delivery_id))
