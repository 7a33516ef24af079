"""Stable error codes of the webhooks domain."""

from __future__ import annotations

from keyrelay.kit.errors import Conflict, ValidationFailed


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
