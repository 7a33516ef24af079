"""The OpenAPI document as the API really answers: errors are problem+json, machines sign requests.

FastAPI documents a 422 ``HTTPValidationError`` JSON body that this API never
sends; every error here is an RFC 9457 ``application/problem+json`` document
with a stable ``code`` (``web.errors``). This rewrites each ``/api/`` operation's
error answers accordingly and adds a ``default`` answer for the other statuses.
"""

from __future__ import annotations

import json
from typing import Any

from fastapi import FastAPI
from fastapi.openapi.utils import get_openapi
from fastapi.routing import APIRoute, iter_route_contexts

PROBLEM_MEDIA = "application/problem+json"
PROBLEM_REF = {"$ref": "#/components/schemas/Problem"}
PROBLEM_SCHEMA: dict[str, Any] = {
    "title": "Problem",
    "type": "object",
    "description": "RFC 9457 problem details. Switch on `code`: it is stable; `title` and `detail` are for people.",
    "required": ["type", "title", "status", "detail", "code"],
    "properties": {
        "type": {"type": "string", "description": "URI naming the problem type"},
        "title": {"type": "string"},
        "status": {"type": "integer", "description": "The HTTP status, repeated"},
        "detail": {"type": "string", "description": "What went wrong with this request"},
        "code": {"type": "string", "description": "Stable machine-readable code, e.g. out_of_stock, bad_signature"},
        "errors": {
            "type": "array",
            "description": "Per-field problems of invalid input",
            "items": {
                "type": "object",
                "required": ["field", "message"],
                "properties": {"field": {"type": "string"}, "message": {"type": "string"}},
            },
        },
        "retry_after": {"type": "integer", "description": "Seconds to wait (429), also sent as Retry-After"},
    },
    "additionalProperties": True,
}
SIGNING = (
    "\n\nMachines authenticate with an API key: every request carries `X-Key-Id`, `X-Timestamp` (unix seconds), "
    "`X-Nonce` (fresh per request) and `X-Signature` = lowercase hex HMAC-SHA256 with the key's secret over "
    "`METHOD\\nPATH?QUERY\\nTIMESTAMP\\nNONCE\\nhex(sha256(BODY))`. Consoles and scripts may instead send "
    "`Authorization: Bearer <JWT>` from `POST /api/v1/auth/token`. See docs/integration.md."
)


def _problem(description: str) -> dict[str, Any]:
    return {"description": description, "content": {PROBLEM_MEDIA: {"schema": PROBLEM_REF}}}


def _document_problems(operation: dict[str, Any]) -> None:
    responses: dict[str, Any] = operation.setdefault("responses", {})
    for status, answer in list(responses.items()):
        if status.startswith(("4", "5")):
            responses[status] = _problem(answer.get("description") or "Error")
    if "422" in responses and responses["422"]["description"] == "Validation Error":
        responses["422"]["description"] = "Invalid input (code validation_failed; `errors` names the fields)"
    responses["default"] = _problem("Any other error (401, 403, 404, 409, 429, 5xx) as problem+json with a stable `code`")


def _document_scopes(app: FastAPI, paths: dict[str, Any]) -> None:
    """Say in each operation what an API key needs: the scope its guard declares, or that keys are refused."""
    from keyrelay.web.auth import guards_of

    for context in iter_route_contexts(app.routes):
        route = context.original_route
        if not isinstance(route, APIRoute) or context.path not in paths:
            continue
        for guard in guards_of(route.dependant):
            for method in context.methods or ():
                operation = paths[context.path].get(method.lower())
                if operation is None:
                    continue
                operation["x-api-key-scope"] = guard.scope.value if guard.scope else None
                if guard.scope is None:
                    note = "**API keys:** refused (`403 forbidden`): console sessions only."
                else:
                    note = f"**API keys** need the `{guard.scope.value}` scope (else `403 missing_scope`)."
                operation["description"] = (operation.get("description", "") + "\n\n" + note).strip()


def build(app: FastAPI) -> dict[str, Any]:
    """The app's OpenAPI document with the error answers as the API sends them."""
    doc = get_openapi(title=app.title, version=app.version, description=(app.description or "") + SIGNING, routes=app.routes)
    _document_scopes(app, doc.get("paths", {}))
    for path, item in doc.get("paths", {}).items():
        if path.startswith("/api/"):
            for operation in item.values():
                _document_problems(operation)
    schemas: dict[str, Any] = doc.setdefault("components", {}).setdefault("schemas", {})
    schemas["Problem"] = PROBLEM_SCHEMA
    if "#/components/schemas/HTTPValidationError" not in json.dumps(doc.get("paths", {})):
        for unused in ("HTTPValidationError", "ValidationError"):
            schemas.pop(unused, None)
    return doc


def install(app: FastAPI) -> None:
    """Serve ``build(app)`` at ``/openapi.json`` (computed once, like FastAPI's own)."""

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            app.openapi_schema = build(app)
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]
