"""Distributor console under /distributor: sign-in here, the pages in the sibling modules.

Only the login page is built without ``DistributorRoute``; everything else
requires a distributor session and, for POSTs, the session's CSRF token.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Form, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from keyrelay.web.console.session import clear_session_cookie, safe_next
from keyrelay.web.console.signin import sign_in
from keyrelay.web.distributor_console import api_keys, home, money, pricing, sales, team, webhooks
from keyrelay.web.distributor_console.area import AREA, DistributorRoute
from keyrelay.web.pages import render

public = APIRouter()
signed_in = APIRouter(route_class=DistributorRoute)


def _login_page(
    request: Request, *, next_path: str, email: str = "", error: str = "", status_code: int = 200, **extra: int
) -> HTMLResponse:
    return render(
        request,
        "distributor/login.html",
        status_code=status_code,
        next_path=next_path,
        email=email,
        error=error,
        me=None,
        csrf="",
        shop=None,
        **extra,
    )


@public.get("/login", response_class=HTMLResponse)
def login_form(request: Request, next: str = "") -> HTMLResponse:
    return _login_page(request, next_path=safe_next(next, AREA))


@public.post("/login")
def login(
    request: Request,
    email: Annotated[str, Form()] = "",
    password: Annotated[str, Form()] = "",
    next: Annotated[str, Form()] = "",
) -> Response:
    return sign_in(request, AREA, _login_page, email=email, password=password, next_path=next)


@signed_in.post("/logout")
def logout(request: Request) -> Response:
    response = RedirectResponse(AREA.login_path, status_code=303)
    clear_session_cookie(response)
    return response


router = APIRouter(include_in_schema=False)
for part in (public, signed_in, *(module.router for module in (home, pricing, team, sales, money, api_keys, webhooks))):
    router.include_router(part, prefix=AREA.home_path)
