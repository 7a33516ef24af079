"""API shapes of webhook endpoints and their delivery log."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from keyrelay.webhooks.models import WebhookAttempt, WebhookDelivery, WebhookEndpoint
from keyrelay.webhooks.rules import DeliveryStatus, EventType
from keyrelay.webhooks.service import DeliveryLog

_URL = Field(max_length=2000, examples=["https://shop.example.com/hooks/keyrelay"])
_EVENTS_DOC = "Event types to receive; empty: every type, including ones added later."


class WebhookEndpointIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    url: str = _URL
    description: str = Field(default="", max_length=200)
    events: list[EventType] = Field(default_factory=list, description=_EVENTS_DOC, examples=[["order.delivered", "stock.changed"]])


class WebhookEndpointPatch(BaseModel):
    """Only the fields present change."""

    model_config = ConfigDict(extra="forbid")
    url: str | None = Field(default=None, max_length=2000)
    description: str | None = Field(default=None, max_length=200)
    events: list[EventType] | None = Field(default=None, description=_EVENTS_DOC)
    enabled: bool | None = None


class WebhookEndpointOut(BaseModel):
    id: str
    url: str
    description: str
    events: list[str]
    enabled: bool
    disabled_reason: str = Field(description="Empty while enabled; by_owner or persistent_failure")
    last_success_at: datetime | None
    created_at: datetime
    updated_at: datetime

    @classmethod
    def of(cls, row: WebhookEndpoint) -> WebhookEndpointOut:
        return cls(
            id=row.public_id,
            url=row.url,
            description=row.description,
            events=list(row.event_types),
            enabled=row.enabled,
            disabled_reason=row.disabled_reason,
            last_success_at=row.last_success_at,
            created_at=row.created_at,
            updated_at=row.updated_at,
        )


class WebhookEndpointCreatedOut(WebhookEndpointOut):
    secret: str = Field(
        description="whsec_… signing secret: shown in this response only", examples=["whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"]
    )


class WebhookSecretOut(BaseModel):
    id: str
    secret: str = Field(description="The new whsec_… secret, shown once; the old one also signs for 24 h")
    previous_secret_expires_at: datetime | None


class WebhookAttemptOut(BaseModel):
    at: datetime
    succeeded: bool
    status_code: int | None
    latency_ms: int
    response_excerpt: str
    error: str

    @classmethod
    def of(cls, row: WebhookAttempt) -> WebhookAttemptOut:
        return cls(
            at=row.at,
            succeeded=row.succeeded,
            status_code=row.status_code,
            latency_ms=row.latency_ms,
            response_excerpt=row.response_excerpt,
            error=row.error,
        )


class WebhookDeliveryOut(BaseModel):
    id: int
    endpoint_id: str
    event_id: str = Field(description="Sent as webhook-id; the same on every retry")
    event_type: str
    status: DeliveryStatus
    attempt_count: int
    next_attempt_at: datetime | None
    created_at: datetime
    payload: dict[str, Any] = Field(description="The body as sent: type, timestamp, data")
    attempts: list[WebhookAttemptOut]

    @classmethod
    def of(cls, log: DeliveryLog) -> WebhookDeliveryOut:
        row: WebhookDelivery = log.delivery
        return cls(
            id=row.id,
            endpoint_id=log.endpoint.public_id,
            event_id=row.event_id,
            event_type=row.event_type,
            status=row.status,
            attempt_count=row.attempts,
            next_attempt_at=row.next_attempt_at,
            created_at=row.created_at,
            payload=row.payload,
            attempts=[WebhookAttemptOut.of(a) for a in log.attempts],
        )
