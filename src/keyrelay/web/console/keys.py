"""Console actions on card keys: import a batch (paste or file) and reveal one key."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse
from starlette.datastructures import UploadFile

from keyrelay.catalog import service as catalog
from keyrelay.inventory import service as inventory
from keyrelay.inventory.parsing import KeyFileError, sniff_format
from keyrelay.kit.errors import DomainError
from keyrelay.web.console import forms
from keyrelay.web.console.guard import MAX_FORM_PART, ConsoleRoute
from keyrelay.web.console.products import detail_page
from keyrelay.web.console.session import operator
from keyrelay.web.state import client_ip, state_of

router = APIRouter(route_class=ConsoleRoute)
SHOWN_LINES = 200
"""Duplicate line numbers listed on the page; the rest are counted."""


@dataclass(frozen=True)
class ImportProblem:
    """Why an import stored nothing. ``code`` picks the translated wording; ``message`` is the English detail."""

    code: str
    message: str
    invalid: list[dict[str, Any]] = field(default_factory=list)


def _upload(form: dict[str, Any]) -> tuple[bytes, str, str] | None:
    """(data, parser format, batch source) of an uploaded file, or None when no file was chosen."""
    upload = form.get("file")
    if not isinstance(upload, UploadFile) or not upload.filename:
        return None
    data = upload.file.read(MAX_FORM_PART + 1)
    fmt = sniff_format(upload.filename, data)
    return data, fmt, "csv" if fmt == "csv" else "txt"


def _problem(exc: DomainError | KeyFileError) -> ImportProblem:
    if isinstance(exc, KeyFileError):
        return ImportProblem(str(exc.code), exc.message)
    if exc.extra.get("invalid"):
        return ImportProblem("invalid_lines", exc.detail, list(exc.extra["invalid"]))
    return ImportProblem(str(exc.extra.get("reason") or exc.code), exc.detail)


@router.post("/products/{product_id}/keys", response_class=HTMLResponse)
def import_keys(request: Request, product_id: int, form: forms.Posted) -> HTMLResponse:
    """All or nothing: invalid lines reject the batch; duplicates are skipped and reported by line."""
    st = state_of(request)
    chosen = _upload(form) or (forms.text(form, "text").encode(), "text", "paste")
    data, fmt, source = chosen
    if len(data) > MAX_FORM_PART:
        return detail_page(request, product_id, status_code=422, problem=ImportProblem("too_large", "the file is larger than 64 MiB"))
    try:
        with st.db.transaction() as session:
            catalog.get_product(session, product_id)
            report = inventory.import_keys(
                session, product_id=product_id, data=data, fmt=fmt, source=source, vault=st.settings.vault, actor=operator(request).actor
            )
    except (KeyFileError, DomainError) as exc:
        if isinstance(exc, DomainError) and exc.code == "not_found":
            raise
        status = exc.status if isinstance(exc, DomainError) else 422
        return detail_page(request, product_id, status_code=status, problem=_problem(exc))
    return detail_page(request, product_id, status_code=201, report=report, shown_lines=SHOWN_LINES)


@router.post("/products/{product_id}/keys/{key_id}/reveal", response_class=HTMLResponse)
def reveal_key(request: Request, product_id: int, key_id: int) -> HTMLResponse:
    """Decrypt one key into this response only (never a URL or a log line); the reveal is audited."""
    st = state_of(request)
    with st.db.transaction() as session:
        revealed = inventory.reveal_key(
            session, key_id=key_id, vault=st.settings.vault, actor=operator(request).actor, ip=client_ip(request)
        )
    return detail_page(request, product_id, secret=True, revealed=revealed)
