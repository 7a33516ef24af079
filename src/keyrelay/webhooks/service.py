"""Webhook endpoint use cases: create, list, update, delete, rotate, test, deliveries, redeliver.

Every read goes through ``_owned`` / ``_owned_delivery``: an endpoint or delivery
of another user is reported exactly like one that does not exist.
"""

from __future__ import annotations

import secrets
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import Select, delete, func, select
from sqlalchemy.orm import Session

from keyrelay.audit.service import record
from keyrelay.kit.clock import utcnow
from keyrelay.kit.vault import Vault
from keyrelay.webhooks import errors, rules, signing, ssrf
from keyrelay.webhooks.errors import EndpointDisabled, EndpointLimitReached
from keyrelay.webhooks.models import WebhookAttempt, WebhookDelivery, WebhookEndpoint

MAX_ENDPOINTS_PER_USER = 20
ROTATION_GRACE = timedelta(hours=24)
"""How long a rotated-out secret keeps signing next to the new one."""
SUBSCRIBABLE: tuple[str, ...] = tuple(t for t in rules.EVENT_TYPES if t != "webhook.test")
"""Event types an owner picks from; ``webhook.test`` goes to an endpoint whatever it subscribes to."""


def secret_aad(public_id: str) -> bytes:
    return f"webhook:{public_id}".encode()


@dataclass(frozen=True)
class NewSecret:
    """A secret shown once (creation or rotation); it is never returned again."""

    endpoint: WebhookEndpoint
    secret: str


@dataclass(frozen=True)
class EndpointChanges:
    """A partial update; None leaves a field as it is."""

    url: str | None = None
    description: str | None = None
    event_types: Sequence[str] | None = None
    enabled: bool | None = None


def readable_by(user_id: int) -> Select[tuple[WebhookEndpoint]]:
    """The base query of every endpoint read: an account's endpoints are its own.

    Not even an upline or the operator reads them (they hold a receiver's URL and
    signing secret), so the reach of a webhook read is the owning account alone.
    """
    return select(WebhookEndpoint).where(WebhookEndpoint.user_id == user_id)


def deliveries_readable_by(user_id: int) -> Select[tuple[WebhookDelivery, WebhookEndpoint]]:
    """The base query of every delivery read: deliveries to the account's own endpoints, with the endpoint."""
    return (
        select(WebhookDelivery, WebhookEndpoint)
        .join(WebhookEndpoint, WebhookEndpoint.id == WebhookDelivery.endpoint_id)
        .where(WebhookEndpoint.user_id == user_id)
    )


def _owned(session: Session, user_id: int, public_id: str) -> WebhookEndpoint:
    found = session.scalar(readable_by(user_id).where(WebhookEndpoint.public_id == public_id))
    if found is None:
        raise errors.NOT_FOUND(resource="webhook endpoint", id=public_id)
    return found


def _event_types(values: Sequence[str]) -> list[str]:
    unknown = sorted(set(values) - set(rules.EVENT_TYPES))
    if unknown:
        raise errors.UNKNOWN_EVENT_TYPES(field="events", unknown=", ".join(unknown), known=", ".join(rules.EVENT_TYPES))
    return sorted(set(values))


def _description(value: str) -> str:
    value = value.strip()
    if len(value) > 200:
        raise errors.DESCRIPTION_TOO_LONG(field="description")
    return value


def create_endpoint(
    session: Session,
    *,
    user_id: int,
    url: str,
    description: str = "",
    event_types: Sequence[str] = (),
    vault: Vault,
    policy: ssrf.UrlPolicy,
    actor: str,
) -> NewSecret:
    """A new endpoint (enabled) and its signing secret, shown this once."""
    ssrf.check(url, policy)
    count = session.scalar(select(func.count()).select_from(WebhookEndpoint).where(WebhookEndpoint.user_id == user_id)) or 0
    if count >= MAX_ENDPOINTS_PER_USER:
        raise EndpointLimitReached(f"at most {MAX_ENDPOINTS_PER_USER} webhook endpoints per account")
    public_id = f"ep_{secrets.token_hex(10)}"
    secret = signing.new_secret()
    endpoint = WebhookEndpoint(
        public_id=public_id,
        user_id=user_id,
        url=url,
        description=_description(description),
        event_types=_event_types(event_types),
        enabled=True,
        disabled_reason="",
        secret_ciphertext=vault.encrypt(secret.encode(), secret_aad(public_id)),
    )
    session.add(endpoint)
    session.flush()
    record(session, actor=actor, action="webhook.create", target_type="webhook_endpoint", target_id=public_id, url=url)
    return NewSecret(endpoint, secret)


def list_endpoints(session: Session, user_id: int) -> list[WebhookEndpoint]:
    return list(session.scalars(readable_by(user_id).order_by(WebhookEndpoint.id)))


def failing_counts(session: Session, user_id: int) -> dict[int, int]:
    """Per endpoint id of this user: deliveries whose last try failed and that are waiting for a retry."""
    query = (
        deliveries_readable_by(user_id)
        .where(WebhookDelivery.status == rules.FAILED)
        .with_only_columns(WebhookDelivery.endpoint_id, func.count(), maintain_column_froms=True)
        .group_by(WebhookDelivery.endpoint_id)
    )
    return {endpoint_id: int(n) for endpoint_id, n in session.execute(query).tuples()}


def get_endpoint(session: Session, user_id: int, public_id: str) -> WebhookEndpoint:
    return _owned(session, user_id, public_id)


def update_endpoint(
    session: Session, *, user_id: int, public_id: str, changes: EndpointChanges, policy: ssrf.UrlPolicy, actor: str
) -> WebhookEndpoint:
    endpoint = _owned(session, user_id, public_id)
    if changes.url is not None:
        ssrf.check(changes.url, policy)
        endpoint.url = changes.url
    if changes.description is not None:
        endpoint.description = _description(changes.description)
    if changes.event_types is not None:
        endpoint.event_types = _event_types(changes.event_types)
    if changes.enabled is not None:
        endpoint.enabled = changes.enabled
        endpoint.disabled_reason = "" if changes.enabled else "by_owner"
    endpoint.updated_at = utcnow()
    fields = [name for name in ("url", "description", "event_types", "enabled") if getattr(changes, name) is not None]
    record(session, actor=actor, action="webhook.update", target_type="webhook_endpoint", target_id=public_id, fields=fields)
    return endpoint


def delete_endpoint(session: Session, *, user_id: int, public_id: str, actor: str) -> None:
    """Remove the endpoint with its delivery log; nothing more is sent to it."""
    endpoint = _owned(session, user_id, public_id)
    deliveries = select(WebhookDelivery.id).where(WebhookDelivery.endpoint_id == endpoint.id)
    session.execute(delete(WebhookAttempt).where(WebhookAttempt.delivery_id.in_(deliveries)))
    session.execute(delete(WebhookDelivery).where(WebhookDelivery.endpoint_id == endpoint.id))
    session.delete(endpoint)
    record(session, actor=actor, action="webhook.delete", target_type="webhook_endpoint", target_id=public_id)


def rotate_secret(session: Session, *, user_id: int, public_id: str, vault: Vault, actor: str, now: datetime | None = None) -> NewSecret:
    """A fresh secret, shown once; the old one keeps signing too for ``ROTATION_GRACE``."""
    endpoint = _owned(session, user_id, public_id)
    secret = signing.new_secret()
    endpoint.previous_secret_ciphertext = endpoint.secret_ciphertext
    endpoint.previous_secret_expires_at = (now or utcnow()) + ROTATION_GRACE
    endpoint.secret_ciphertext = vault.encrypt(secret.encode(), secret_aad(public_id))
    endpoint.updated_at = utcnow()
    record(session, actor=actor, action="webhook.rotate_secret", target_type="webhook_endpoint", target_id=public_id)
    return NewSecret(endpoint, secret)


def signing_secrets(endpoint: WebhookEndpoint, vault: Vault, *, now: datetime) -> list[str]:
    """The secrets a request to ``endpoint`` is signed with: the current one, plus the previous during its grace."""
    aad = secret_aad(endpoint.public_id)
    found = [vault.decrypt(endpoint.secret_ciphertext, aad).decode()]
    expires = endpoint.previous_secret_expires_at
    if endpoint.previous_secret_ciphertext is not None and expires is not None and expires > now:
        found.append(vault.decrypt(endpoint.previous_secret_ciphertext, aad).decode())
    return found


def enqueue(session: Session, endpoint: WebhookEndpoint, *, event_id: str, event_type: str, payload: dict[str, object]) -> WebhookDelivery:
    """One delivery of an event to an endpoint, due now (the caller's transaction makes it durable)."""
    delivery = WebhookDelivery(
        endpoint_id=endpoint.id,
        event_id=event_id,
        event_type=event_type,
        payload=payload,
        status=rules.PENDING,
        attempts=0,
        retry_step=0,
        next_attempt_at=utcnow(),
    )
    session.add(delivery)
    return delivery


def send_test(session: Session, *, user_id: int, public_id: str, actor: str) -> WebhookDelivery:
    """Queue a ``webhook.test`` event for one endpoint (the caller then sends it at once)."""
    endpoint = _owned(session, user_id, public_id)
    if not endpoint.enabled:
        raise EndpointDisabled("enable the endpoint before sending it a test event")
    now = utcnow()
    data = {"endpoint_id": endpoint.public_id, "message": "Test event from KeyRelay"}
    delivery = enqueue(
        session, endpoint, event_id=signing.new_event_id(), event_type="webhook.test", payload=signing.envelope("webhook.test", data, now)
    )
    session.flush()
    record(session, actor=actor, action="webhook.test", target_type="webhook_endpoint", target_id=public_id, delivery_id=delivery.id)
    return delivery


@dataclass(frozen=True)
class DeliveryLog:
    """A delivery with its endpoint and its attempts, oldest attempt first."""

    delivery: WebhookDelivery
    endpoint: WebhookEndpoint
    attempts: list[WebhookAttempt]


def list_deliveries(
    session: Session, *, user_id: int, public_id: str, limit: int = 20, before_id: int | None = None, status: str | None = None
) -> list[DeliveryLog]:
    """An endpoint's deliveries, newest first, each with its attempts."""
    endpoint = _owned(session, user_id, public_id)
    query = select(WebhookDelivery).where(WebhookDelivery.endpoint_id == endpoint.id).order_by(WebhookDelivery.id.desc()).limit(limit)
    if before_id is not None:
        query = query.where(WebhookDelivery.id < before_id)
    if status is not None:
        query = query.where(WebhookDelivery.status == status)
    return _with_attempts(session, [(d, endpoint) for d in session.scalars(query)])


def _with_attempts(session: Session, pairs: list[tuple[WebhookDelivery, WebhookEndpoint]]) -> list[DeliveryLog]:
    by_delivery: dict[int, list[WebhookAttempt]] = {d.id: [] for d, _ in pairs}
    if pairs:
        query = select(WebhookAttempt).where(WebhookAttempt.delivery_id.in_(list(by_delivery))).order_by(WebhookAttempt.id)
        for attempt in session.scalars(query):
            by_delivery[attempt.delivery_id].append(attempt)
    return [DeliveryLog(d, e, by_delivery[d.id]) for d, e in pairs]


def get_delivery(session: Session, *, user_id: int, delivery_id: int) -> DeliveryLog:
    return _with_attempts(session, [_owned_delivery(session, user_id, delivery_id)])[0]


def _owned_delivery(session: Session, user_id: int, delivery_id: int) -> tuple[WebhookDelivery, WebhookEndpoint]:
    found = session.execute(deliveries_readable_by(user_id).where(WebhookDelivery.id == delivery_id)).tuples().first()
    if found is None:
        raise errors.NOT_FOUND(resource="webhook delivery", id=delivery_id)
    return found


def redeliver(session: Session, *, user_id: int, delivery_id: int, actor: str) -> WebhookDelivery:
    """Send a delivery again, whatever its state: back to pending, due now, with a fresh retry schedule."""
    delivery, endpoint = _owned_delivery(session, user_id, delivery_id)
    if not endpoint.enabled:
        raise EndpointDisabled("enable the endpoint before redelivering to it")
    delivery.status = rules.PENDING
    delivery.retry_step = 0
    delivery.failing_since = None
    delivery.next_attempt_at = utcnow()
    record(session, actor=actor, action="webhook.redeliver", target_type="webhook_delivery", target_id=str(delivery.id))
    return delivery
