"""A distributor's webhook endpoints: create, edit, delete, rotate the secret, test, and the delivery log.

Secrets appear only in the response to the form that made them (``no-store``).
An endpoint or delivery of another account is "not found", like one that never existed.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from keyrelay.distribution.models import Distributor
from keyrelay.kit.errors import DomainError
from keyrelay.web.console import forms, inputs, wording
from keyrelay.web.distributor_console.area import DistributorRoute, me, own, shop_page
from keyrelay.web.distributor_console.ticked import ticked
from keyrelay.web.state import state_of
from keyrelay.webhooks import delivery, service
from keyrelay.webhooks.errors import EndpointDisabled, EndpointLimitReached, WebhookUrlForbidden

router = APIRouter(route_class=DistributorRoute)
N_ = wording.N_
PER_PAGE = 20
MAX_DESCRIPTION = 200
URL_PROBLEMS = {
    "malformed": N_("Enter a whole address like https://example.com/hooks/keyrelay, without spaces."),
    "scheme": N_("The address must start with http:// or https://."),
    "credentials": N_("Put credentials in the path or query, not before the host name (user:password@)."),
    "https_required": N_("The address must start with https://."),
    "private_address": N_("This address is in a private, loopback or reserved network: webhooks only go to public addresses."),
    "unresolvable": N_("This host name does not resolve: check the spelling."),
}
"""The SSRF guard's refusal reasons, worded for the URL field."""
Events = Annotated[list[str], ticked("events")]


def _problems(request: Request, exc: DomainError) -> forms.Errors:
    if isinstance(exc, WebhookUrlForbidden):
        return {"url": wording.problem(request, URL_PROBLEMS.get(exc.reason, URL_PROBLEMS["malformed"]))}
    if isinstance(exc, EndpointLimitReached):
        message = N_("An account may have at most %(n)s endpoints: delete one first.")
        return {forms.FORM_LEVEL: wording.problem(request, message, n=service.MAX_ENDPOINTS_PER_USER)}
    return wording.errors_of(request, exc, state_of(request).settings.currency)


def _read_form(request: Request, posted: dict[str, Any], events: list[str]) -> tuple[dict[str, Any], forms.Errors]:
    """The form as typed plus the problems the page can name before the service checks the URL."""
    form: dict[str, Any] = {
        "url": forms.text(posted, "url").strip(),
        "description": forms.text(posted, "description").strip(),
        "events": events,
        "enabled": forms.checkbox(posted, "enabled"),
    }
    errors: forms.Errors = {}
    if not form["url"]:
        errors["url"] = wording.problem(request, N_("Enter the address that receives the events."))
    if len(form["description"]) > MAX_DESCRIPTION:
        errors["description"] = wording.problem(request, N_("The description must be at most %(n)s characters."), n=MAX_DESCRIPTION)
    if set(events) - set(service.SUBSCRIBABLE):
        errors["events"] = wording.problem(request, N_("Choose events from the list."))
    return form, errors


def _list_page(request: Request, *, status_code: int = 200, **extra: Any) -> HTMLResponse:
    user_id = me(request).user_id
    with state_of(request).db.transaction(write=False) as session:
        shop = own(session, request)
        endpoints = service.list_endpoints(session, user_id)
        failing = service.failing_counts(session, user_id)
    extra.setdefault("form", {"events": []})
    extra.setdefault("errors", {})
    return shop_page(
        request,
        "distributor/webhooks.html",
        shop,
        section="webhooks",
        status_code=status_code,
        endpoints=endpoints,
        failing=failing,
        events=service.SUBSCRIBABLE,
        at_limit=len(endpoints) >= service.MAX_ENDPOINTS_PER_USER,
        **extra,
    )


@router.get("/webhooks", response_class=HTMLResponse)
def endpoint_list(request: Request) -> HTMLResponse:
    """My endpoints with their state, and the form for a new one."""
    return _list_page(request)


@router.post("/webhooks", response_class=HTMLResponse)
def create_endpoint(request: Request, posted: forms.Posted, events: Events) -> HTMLResponse:
    """A new endpoint, enabled; its ``whsec_`` signing secret is on the answering page only."""
    st = state_of(request)
    form, errors = _read_form(request, posted, events)
    if errors:
        return _list_page(request, status_code=422, form=form, errors=errors)
    try:
        with st.db.transaction() as session:
            shop = own(session, request)
            made = service.create_endpoint(
                session,
                user_id=me(request).user_id,
                url=form["url"],
                description=form["description"],
                event_types=events,
                vault=st.settings.vault,
                policy=delivery.url_policy(st.settings),
                actor=me(request).actor,
            )
    except DomainError as exc:
        return _list_page(request, status_code=exc.status, form=form, errors=_problems(request, exc))
    return _secret_page(request, shop, made, kind="webhook_created")


def _secret_page(request: Request, shop: Distributor, made: service.NewSecret, *, kind: str) -> HTMLResponse:
    back = f"/distributor/webhooks/{made.endpoint.public_id}"
    return shop_page(
        request,
        "distributor/secret.html",
        shop,
        section="webhooks",
        secret=True,
        kind=kind,
        endpoint=made.endpoint,
        value=made.secret,
        back=back,
    )


def _endpoint_page(request: Request, public_id: str, *, status_code: int = 200, **extra: Any) -> HTMLResponse:
    """One endpoint: its settings form, the actions, and its delivery log (newest first, paged by id)."""
    user_id = me(request).user_id
    before_id = inputs.parse_id(request.query_params.get("before_id", ""))
    with state_of(request).db.transaction(write=False) as session:
        shop = own(session, request)
        endpoint = service.get_endpoint(session, user_id, public_id)
        logs = service.list_deliveries(session, user_id=user_id, public_id=public_id, limit=PER_PAGE, before_id=before_id)
        failing = service.failing_counts(session, user_id).get(endpoint.id, 0)
    form = {"url": endpoint.url, "description": endpoint.description, "events": endpoint.event_types, "enabled": endpoint.enabled}
    extra.setdefault("form", form)
    extra.setdefault("errors", {})
    return shop_page(
        request,
        "distributor/webhook.html",
        shop,
        section="webhooks",
        status_code=status_code,
        endpoint=endpoint,
        failing=failing,
        logs=logs,
        events=service.SUBSCRIBABLE,
        paged=before_id is not None,
        older=logs[-1].delivery.id if len(logs) == PER_PAGE else None,
        **extra,
    )


@router.get("/webhooks/{public_id}", response_class=HTMLResponse)
def endpoint_detail(request: Request, public_id: str) -> HTMLResponse:
    return _endpoint_page(request, public_id)


@router.post("/webhooks/{public_id}", response_class=HTMLResponse)
def update_endpoint(request: Request, public_id: str, posted: forms.Posted, events: Events) -> Response:
    """Change the URL, description, events or the switch; re-enabling resumes what was waiting."""
    st = state_of(request)
    form, errors = _read_form(request, posted, events)
    if errors:
        return _endpoint_page(request, public_id, status_code=422, form=form, errors=errors)
    changes = service.EndpointChanges(url=form["url"], description=form["description"], event_types=events, enabled=form["enabled"])
    try:
        with st.db.transaction() as session:
            service.update_endpoint(
                session,
                user_id=me(request).user_id,
                public_id=public_id,
                changes=changes,
                policy=delivery.url_policy(st.settings),
                actor=me(request).actor,
            )
    except DomainError as exc:
        if exc.code == "not_found":
            raise
        return _endpoint_page(request, public_id, status_code=exc.status, form=form, errors=_problems(request, exc))
    return RedirectResponse(f"/distributor/webhooks/{public_id}?done=saved", status_code=303)


@router.post("/webhooks/{public_id}/delete")
def delete_endpoint(request: Request, public_id: str) -> Response:
    """The endpoint and its delivery log go; nothing more is sent to it."""
    with state_of(request).db.transaction() as session:
        service.delete_endpoint(session, user_id=me(request).user_id, public_id=public_id, actor=me(request).actor)
    return RedirectResponse("/distributor/webhooks?done=hook_deleted", status_code=303)


@router.post("/webhooks/{public_id}/rotate-secret", response_class=HTMLResponse)
def rotate_secret(request: Request, public_id: str) -> HTMLResponse:
    """A new secret, shown once; the old one keeps signing beside it for a while so receivers can switch."""
    st = state_of(request)
    with st.db.transaction() as session:
        shop = own(session, request)
        made = service.rotate_secret(
            session, user_id=me(request).user_id, public_id=public_id, vault=st.settings.vault, actor=me(request).actor
        )
    return _secret_page(request, shop, made, kind="webhook_rotated")


def _disabled(request: Request, public_id: str) -> HTMLResponse:
    problem = wording.problem(request, N_("This endpoint is switched off: enable it first, then try again."))
    return _endpoint_page(request, public_id, status_code=409, action_problem=problem)


@router.post("/webhooks/{public_id}/test", response_class=HTMLResponse)
def send_test(request: Request, public_id: str) -> Response:
    """A ``webhook.test`` event, sent now and logged like any other (then retried if it failed)."""
    st = state_of(request)
    try:
        with st.db.transaction() as session:
            delivery_id = service.send_test(session, user_id=me(request).user_id, public_id=public_id, actor=me(request).actor).id
    except EndpointDisabled:
        return _disabled(request, public_id)
    delivery.deliver_one(st.db, delivery.config_from(st.settings), delivery_id)
    return RedirectResponse(f"/distributor/webhooks/{public_id}?done=hook_tested#deliveries", status_code=303)


@router.post("/webhooks/deliveries/{delivery_id}/redeliver", response_class=HTMLResponse)
def redeliver(request: Request, delivery_id: inputs.PathId) -> Response:
    """Back to pending, due now, with a fresh retry schedule; the worker sends it within seconds."""
    user_id, db = me(request).user_id, state_of(request).db
    with db.transaction(write=False) as session:
        public_id = service.get_delivery(session, user_id=user_id, delivery_id=delivery_id).endpoint.public_id
    try:
        with db.transaction() as session:
            service.redeliver(session, user_id=user_id, delivery_id=delivery_id, actor=me(request).actor)
    except EndpointDisabled:
        return _disabled(request, public_id)
    return RedirectResponse(f"/distributor/webhooks/{public_id}?done=hook_redelivered#d{delivery_id}", status_code=303)
