"""A distributor's API keys: list, create (the secret shown once), revoke.

The secret exists only in the response to the create form: it is never put in a
URL, a redirect or a log, and that page is sent with ``Cache-Control: no-store``.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from keyrelay.distribution import channels
from keyrelay.identity import api_keys
from keyrelay.kit.errors import DomainError
from keyrelay.web.console import forms, inputs, wording
from keyrelay.web.distributor_console.area import DistributorRoute, me, own, shop_page
from keyrelay.web.distributor_console.ticked import ticked
from keyrelay.web.state import state_of

router = APIRouter(route_class=DistributorRoute)
N_ = wording.N_
MAX_NAME = 80


def _keys_page(request: Request, *, status_code: int = 200, **extra: Any) -> HTMLResponse:
    with state_of(request).db.transaction(write=False) as session:
        shop = own(session, request)
        keys = api_keys.list_for(session, me(request).user_id)
        mine = channels.list_for(session, shop)
    extra.setdefault("form", {"scopes": ["catalog:read"]})
    extra.setdefault("errors", {})
    return shop_page(
        request,
        "distributor/api_keys.html",
        shop,
        section="api_keys",
        status_code=status_code,
        keys=keys,
        scopes=api_keys.SCOPES,
        channel_names={c.id: c.name for c in mine},
        channels=[c for c in mine if c.is_active],
        **extra,
    )


@router.get("/api-keys", response_class=HTMLResponse)
def key_list(request: Request) -> HTMLResponse:
    """My keys (never their secrets), the form for a new one and how to sign requests."""
    return _keys_page(request)


def _read_form(request: Request, posted: dict[str, Any], scopes: list[str]) -> tuple[dict[str, Any], forms.Errors]:
    """The form as typed plus every problem the page can name before the service is asked."""
    form: dict[str, Any] = {"name": forms.text(posted, "name").strip(), "scopes": scopes, "channel_id": forms.text(posted, "channel_id")}
    errors: forms.Errors = {}
    if not form["name"]:
        errors["name"] = wording.problem(request, N_("Give the key a name, e.g. the tool that will use it."))
    elif len(form["name"]) > MAX_NAME:
        errors["name"] = wording.problem(request, N_("The name must be at most %(n)s characters."), n=MAX_NAME)
    if not scopes or set(scopes) - set(api_keys.SCOPES):
        errors["scopes"] = wording.problem(request, N_("Choose at least one scope."))
    inputs.optional_id(posted, "channel_id", errors)
    return form, errors


@router.post("/api-keys", response_class=HTMLResponse)
def create_key(request: Request, posted: forms.Posted, scopes: Annotated[list[str], ticked("scopes")]) -> HTMLResponse:
    """A key for one integration; the page answering this form is the only place its secret appears."""
    st = state_of(request)
    form, errors = _read_form(request, posted, scopes)
    if errors:
        return _keys_page(request, status_code=422, form=form, errors=errors)
    channel_id = inputs.parse_id(form["channel_id"])
    try:
        with st.db.transaction() as session:
            shop = own(session, request)
            channel = channels.owned(session, shop, channel_id) if channel_id else None
            made = api_keys.create(
                session,
                user_id=me(request).user_id,
                name=form["name"],
                scopes=scopes,
                vault=st.settings.vault,
                channel_id=channel.id if channel else None,
            )
    except DomainError as exc:
        # The channel is the only choice that can vanish between showing the form and posting it.
        found = {"channel_id": wording.reword(request, exc, st.settings.currency)} if exc.code == "not_found" else None
        errors = found or wording.errors_of(request, exc, st.settings.currency, {"channel": "channel_id"})
        return _keys_page(request, status_code=exc.status, form=form, errors=errors)
    return shop_page(
        request,
        "distributor/secret.html",
        shop,
        section="api_keys",
        secret=True,
        kind="api_key",
        key=made.key,
        channel_name=channel.name if channel else "",
        value=made.secret,
        back="/distributor/api-keys",
    )


@router.post("/api-keys/{key_id}/revoke")
def revoke_key(request: Request, key_id: str) -> Response:
    """Its next signed request is refused with ``key_revoked``; another account's key is simply not found."""
    with state_of(request).db.transaction() as session:
        own(session, request)
        api_keys.revoke(session, user_id=me(request).user_id, key_id=key_id)
    return RedirectResponse("/distributor/api-keys?done=key_revoked", status_code=303)
