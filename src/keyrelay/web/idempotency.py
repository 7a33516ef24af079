"""HTTP glue for idempotency keys: run a creating POST at most once per (caller, key).

The stored first response is sealed by the vault (``kit.idempotency.seal_body``):
a purchase's answer carries its card keys and a webhook endpoint's its signing
secret, and neither may sit in the database in clear text for the 48 h a record
is kept.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

from fastapi import Request
from fastapi.responses import JSONResponse, Response
from pydantic import BaseModel
from sqlalchemy.orm import Session

from keyrelay.kit import idempotency
from keyrelay.kit.errors import DomainError
from keyrelay.kit.vault import Vault
from keyrelay.web.errors import problem_body
from keyrelay.web.state import client_ip, state_of

HEADER = "idempotency-key"
#: OpenAPI documentation of the answers idempotency adds to a creating POST.
IDEMPOTENT: dict[int | str, dict[str, Any]] = {
    409: {"description": "A request with this Idempotency-Key is still running (code idempotency_in_progress)"},
    422: {"description": "Invalid input, or the Idempotency-Key was used with another body (code idempotency_key_reused)"},
}


def owner_of(request: Request, user_id: int | None, key_id: str | None) -> str:
    """Keys are scoped to the caller: an API key, else a user, else the client address."""
    if key_id:
        return f"key:{key_id}"
    return f"user:{user_id}" if user_id is not None else f"ip:{client_ip(request)}"


async def run_once(request: Request, *, owner: str, status_code: int, work: Callable[[Session], BaseModel]) -> Response:
    """Run ``work`` in one transaction, or replay the response of the first request with this key."""
    from starlette.concurrency import run_in_threadpool

    key = request.headers.get(HEADER)
    body = await request.body()
    return await run_in_threadpool(_run, request, key, owner, body, status_code, work)


def _run(request: Request, key: str | None, owner: str, body: bytes, status_code: int, work: Callable[[Session], BaseModel]) -> Response:
    st = state_of(request)
    if key is None:
        with st.db.transaction() as session:
            return JSONResponse(work(session).model_dump(mode="json"), status_code=status_code)
    fingerprint = idempotency.request_hash(request.method, request.url.path, body)
    with st.db.transaction() as session:
        claimed = idempotency.claim(session, owner=owner, key=key, fingerprint=fingerprint)
    if isinstance(claimed, idempotency.Stored):
        stored = idempotency.open_body(st.settings.vault, owner=owner, key=key, stored=claimed.body)
        replay = Response(stored, status_code=claimed.status, media_type=_media(claimed.status))
        replay.headers["Idempotent-Replayed"] = "true"
        return replay
    try:
        with st.db.transaction() as session:
            payload = work(session).model_dump(mode="json")
            idempotency.complete(session, claimed, status=status_code, body=_sealed(st.settings.vault, owner, key, payload))
        return JSONResponse(payload, status_code=status_code)
    except DomainError as exc:
        # An expected refusal is the answer to this request: keep it, so a retry gets the same one.
        problem = problem_body(exc)
        with st.db.transaction() as session:
            idempotency.complete(session, claimed, status=exc.status, body=_sealed(st.settings.vault, owner, key, problem))
        raise
    except Exception:
        with st.db.transaction() as session:
            idempotency.release(session, claimed)
        raise


def _render(content: Any) -> str:
    """JSON exactly as ``JSONResponse`` renders it, so a replay is byte-for-byte the first answer."""
    return json.dumps(content, ensure_ascii=False, allow_nan=False, indent=None, separators=(",", ":"))


def _sealed(vault: Vault, owner: str, key: str, content: Any) -> str:
    return idempotency.seal_body(vault, owner=owner, key=key, body=_render(content))


def _media(status: int) -> str:
    return "application/json" if status < 400 else "application/problem+json"


__all__ = ["IDEMPOTENT", "owner_of", "run_once"]
