"""Stable error codes of the webhooks domain."""

from __future__ import annotations

from keyrelay.kit.errors import N_, Conflict, ValidationFailed, define
from keyrelay.kit.errors import NOT_FOUND as NOT_FOUND  # re-exported: missing things share one code


class WebhookUrlForbidden(ValidationFailed):
    """The URL may not receive webhooks; ``reason`` (an extra field) says why."""

    code, title = "webhook_url_forbidden", "Webhook URL not allowed"

    def __init__(self, detail: str, *, reason: str) -> None:
        super().__init__(detail, field="url", reason=reason)
        self.reason = reason


class EndpointDisabled(Conflict):
    code, title = "webhook_endpoint_disabled", "Webhook endpoint is disabled"


class EndpointLimitReached(Conflict):
    code, title = "webhook_endpoint_limit", "Too many webhook endpoints"


UNKNOWN_EVENT_TYPES = define(
    "unknown_event_types", ValidationFailed, "unknown event types %(unknown)s; known: %(known)s", N_("Choose events from the list.")
)
DESCRIPTION_TOO_LONG = define(
    "description_too_long",
    ValidationFailed,
    "description must be at most 200 characters",
    N_("The description must be at most 200 characters."),
)
