"""Console pages for categories: list, create, edit."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from pydantic import ValidationError

from keyrelay.catalog import service as catalog
from keyrelay.kit.errors import DomainError
from keyrelay.web.console import forms
from keyrelay.web.console.guard import ConsoleRoute
from keyrelay.web.console.session import operator
from keyrelay.web.console.views import page
from keyrelay.web.state import state_of

router = APIRouter(route_class=ConsoleRoute)


def _list_page(
    request: Request, *, form: dict[str, Any] | None = None, errors: forms.Errors | None = None, status_code: int = 200
) -> HTMLResponse:
    with state_of(request).db.transaction(write=False) as session:
        categories = catalog.list_categories(session, active_only=False)
    return page(
        request,
        "console/categories.html",
        status_code=status_code,
        section="categories",
        categories=categories,
        form=form or {"is_active": True},
        errors=errors or {},
        flash_code=request.query_params.get("done", ""),
    )


@router.get("/categories", response_class=HTMLResponse)
def categories(request: Request) -> HTMLResponse:
    return _list_page(request)


@router.post("/categories")
def create_category(request: Request, form: forms.Posted) -> Response:
    """Validate the whole form first; on any problem re-show it (422) with nothing written."""
    try:
        data = forms.category_input(form)
        with state_of(request).db.transaction() as session:
            catalog.create_category(session, data, actor=operator(request).actor)
    except ValidationError as exc:
        return _list_page(request, form=form, errors=forms.from_validation(exc), status_code=422)
    except DomainError as exc:
        return _list_page(request, form=form, errors=forms.from_domain(exc), status_code=exc.status)
    return RedirectResponse("/admin/categories?done=created", status_code=303)


def _edit_page(
    request: Request, category_id: int, *, form: dict[str, Any] | None, errors: forms.Errors, status_code: int = 200
) -> HTMLResponse:
    with state_of(request).db.transaction(write=False) as session:
        category = catalog.get_category(session, category_id)
    if form is None:
        form = {k: getattr(category, k) for k in ("name", "slug", "description", "sort_order", "is_active")}
    return page(
        request, "console/category_edit.html", status_code=status_code, section="categories", category=category, form=form, errors=errors
    )


@router.get("/categories/{category_id}", response_class=HTMLResponse)
def edit_category_form(request: Request, category_id: int) -> HTMLResponse:
    return _edit_page(request, category_id, form=None, errors={})


@router.post("/categories/{category_id}")
def edit_category(request: Request, category_id: int, form: forms.Posted) -> Response:
    try:
        data = forms.category_input(form)
        with state_of(request).db.transaction() as session:
            catalog.update_category(session, category_id, data, actor=operator(request).actor)
    except ValidationError as exc:
        return _edit_page(request, category_id, form=form, errors=forms.from_validation(exc), status_code=422)
    except DomainError as exc:
        if exc.code == "not_found":
            raise
        return _edit_page(request, category_id, form=form, errors=forms.from_domain(exc), status_code=exc.status)
    return RedirectResponse("/admin/categories?done=saved", status_code=303)
