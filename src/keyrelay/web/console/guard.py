"""The route class of the console: every route built with it checks the session, role and CSRF first.

Putting the checks here, not in per-handler dependencies, means a new console
page cannot forget them; only the login page is built without this class.
"""

from __future__ import annotations

import hmac
from collections.abc import Callable, Coroutine
from typing import Any, ClassVar

from fastapi import Request, Response
from fastapi.concurrency import run_in_threadpool
from fastapi.routing import APIRoute

from keyrelay.kit.errors import DomainError
from keyrelay.web.console.session import (
    OPERATOR_AREA,
    Area,
    LoginRequired,
    WrongRole,
    csrf_token,
    login_redirect,
    open_session,
    refresh_cookie,
)
from keyrelay.web.console.views import render_console_error, render_forbidden
from keyrelay.web.state import state_of

MAX_FORM_PART = 64 * 1024 * 1024
"""Largest pasted key list or uploaded file accepted in one console form (the API's cap too)."""

Handler = Callable[[Request], Coroutine[Any, Any, Response]]


class ConsoleRoute(APIRoute):
    """Operator session required; CSRF checked on POST; domain errors become readable pages.

    Subclasses set ``area`` to admit another role with the same machinery.
    """

    area: ClassVar[Area] = OPERATOR_AREA

    def get_route_handler(self) -> Handler:
        inner = super().get_route_handler()
        area = self.area
        template = area.error_template

        async def guarded(request: Request) -> Response:
            try:
                console = await run_in_threadpool(open_session, request, area)
            except LoginRequired:
                return login_redirect(request, area)
            except WrongRole:
                return render_forbidden(request, area.wrong_role, template=template)
            request.state.console = console
            if request.method == "POST":
                # Parsed once here with the console's limits; FastAPI reuses the cached form.
                form = await request.form(max_files=1, max_fields=200, max_part_size=MAX_FORM_PART)
                sent = str(form.get("csrf") or "")
                # The form was signed with the token the browser holds, even if this request renews it.
                if not hmac.compare_digest(sent, csrf_token(state_of(request).jwt_secret, console.sent_token)):
                    return refresh_cookie(render_forbidden(request, "csrf", template=template), request, console)
            try:
                response = await inner(request)
            except DomainError as exc:
                # The handler's transaction rolled back: nothing changed.
                response = render_console_error(request, exc, template=template)
            return refresh_cookie(response, request, console)

        return guarded
