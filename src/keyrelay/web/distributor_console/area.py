"""What every distributor page shares: the guarded route class, the signed-in shop, page rendering.

The session, CSRF and error handling are the operator console's (``ConsoleRoute``);
only the admitted role and the page locations differ.
"""

from __future__ import annotations

from typing import Any

from fastapi import Request
from fastapi.responses import HTMLResponse
from sqlalchemy.orm import Session

from keyrelay.distribution import network
from keyrelay.distribution.models import Distributor
from keyrelay.identity.service import Principal
from keyrelay.web.console.guard import ConsoleRoute
from keyrelay.web.console.session import Area, signed_in
from keyrelay.web.console.views import page

AREA = Area("distributor", "/distributor", "/distributor/login", "distributor/error.html", "not_distributor")


class DistributorRoute(ConsoleRoute):
    """Distributor session required; CSRF checked on POST; domain errors become readable pages."""

    area = AREA


def me(request: Request) -> Principal:
    """The signed-in distributor account."""
    return signed_in(request)


def own(session: Session, request: Request) -> Distributor:
    """The signed-in account's place in the network: every read below is scoped to its branch."""
    return network.for_user(session, me(request).user_id)


def shop_page(
    request: Request, template: str, shop: Distributor, *, section: str, status_code: int = 200, secret: bool = False, **context: Any
) -> HTMLResponse:
    """A distributor page; the layout shows the shop's name and a banner while it is not active."""
    context.setdefault("flash_code", request.query_params.get("done", ""))
    return page(request, template, status_code=status_code, secret=secret, section=section, shop=shop, **context)
