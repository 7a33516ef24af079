"""HTTP glue for idempotency keys: run a creating POST at most once per (caller, key).

The stored first response is sealed by the vault (``kit.idempotency.seal_body``):
a purchase's answer carries its card keys and a webhook endpoint's its signing
secret, and neither may sit in the database in clear text for the 48 h a record
is kept.
"""

from __future__ import annotations

import contextlib
import json
from collections.abc import Callable
from typing import Any

from fastapi import Request
from fastapi.responses import Response
from pydantic import BaseModel
from sqlalchemy.orm import Session

from keyrelay.identity import api_keys
from keyrelay.identity import errors as identity_errors
from keyrelay.kit import idempotency
from keyrelay.kit.errors import DomainError
from keyrelay.kit.vault import Vault
from keyrelay.web.auth import PendingNonce, pending_nonce
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
    """Claim, work and stored answer in one transaction, with a deferred signed request's nonce spent first.

    A concurrent request with the same key waits on the claim's unique index
    (PostgreSQL) or for the writer's turn (SQLite) and then replays the stored
    answer. When the work fails, everything rolls back and a second, short
    transaction spends the nonce all the same and, for an expected refusal,
    stores it as the answer to replay (``_after_failure``).
    """
    st = state_of(request)
    nonce = pending_nonce(request)
    fingerprint = idempotency.request_hash(request.method, request.url.path, body) if key is not None else ""
    claimed: int | idempotency.Stored | None = None
    try:
        with st.db.transaction() as session:
            if nonce is not None:
                nonce.spend(session, st.known_keys)
            if key is None:
                return _json(work(session).model_dump_json(), status_code)
            claimed = idempotency.claim(session, owner=owner, key=key, fingerprint=fingerprint)
            if isinstance(claimed, idempotency.Stored):
                stored = idempotency.open_body(st.settings.vault, owner=owner, key=key, stored=claimed.body)
                replay = Response(stored, status_code=claimed.status, media_type=_media(claimed.status))
                replay.headers["Idempotent-Replayed"] = "true"
                return replay
            # Rendered once (pydantic's own JSON): these bytes are the answer and, sealed, what a replay sends.
            rendered = work(session).model_dump_json()
            sealed = idempotency.seal_body(st.settings.vault, owner=owner, key=key, body=rendered)
            idempotency.complete(session, claimed, status=status_code, body=sealed)
        return _json(rendered, status_code)
    except Exception as exc:
        if nonce is not None and not nonce.spent:  # refused before the work: the key itself, or a replay
            raise
        # An expected refusal of the work is the answer to this request: kept, so a retry gets the same one.
        answer = exc if isinstance(exc, DomainError) and isinstance(claimed, int) and key is not None else None
        _after_failure(request, nonce, key, owner, fingerprint, answer)
        raise


def _after_failure(
    request: Request, nonce: PendingNonce | None, key: str | None, owner: str, fingerprint: str, answer: DomainError | None
) -> None:
    """The work's transaction rolled back: spend the nonce again, and store ``answer`` as the key's response."""
    if nonce is None and answer is None:
        return
    st = state_of(request)
    with st.db.transaction() as session:
        if nonce is not None:
            # A replay may have taken it in the meantime (and been refused, or run on its own): spent either way.
            with contextlib.suppress(identity_errors.SignatureRejected):
                api_keys.spend_nonce(session, nonce.key_id, nonce.nonce, nonce.ts)
        if answer is not None and key is not None:
            sealed = _sealed(st.settings.vault, owner, key, problem_body(answer))
            idempotency.store(session, owner=owner, key=key, fingerprint=fingerprint, status=answer.status, body=sealed)


def _render(content: Any) -> str:
    """JSON exactly as ``JSONResponse`` renders it, so a replay is byte-for-byte the first answer."""
    return json.dumps(content, ensure_ascii=False, allow_nan=False, indent=None, separators=(",", ":"))


def _sealed(vault: Vault, owner: str, key: str, content: Any) -> str:
    return idempotency.seal_body(vault, owner=owner, key=key, body=_render(content))


def _json(rendered: str, status_code: int) -> Response:
    return Response(rendered, status_code=status_code, media_type="application/json")


def _media(status: int) -> str:
    return "application/json" if status < 400 else "application/problem+json"


__all__ = ["IDEMPOTENT", "owner_of", "run_once"]
