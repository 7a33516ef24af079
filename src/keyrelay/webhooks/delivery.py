"""Sending deliveries: claim in a short transaction, POST outside any transaction, record in another.

A worker claims due deliveries (``FOR UPDATE SKIP LOCKED`` on PostgreSQL, the
write lock on SQLite) and pushes their ``next_attempt_at`` one lease ahead, so
no other worker takes them while the HTTP request runs; if this worker dies
mid-request, the lease runs out and the delivery is simply tried again
(at-least-once). The network is never touched with a transaction open.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Protocol

import httpx
import structlog
from sqlalchemy import select
from sqlalchemy.orm import Session

from keyrelay.audit.service import record
from keyrelay.kit import outbox
from keyrelay.kit.clock import utcnow
from keyrelay.kit.db import Database
from keyrelay.kit.vault import DecryptionError, Vault
from keyrelay.webhooks import rules, service, signing, ssrf
from keyrelay.webhooks.errors import WebhookUrlForbidden
from keyrelay.webhooks.models import WebhookAttempt, WebhookDelivery, WebhookEndpoint

log = structlog.get_logger(__name__)
USER_AGENT = "KeyRelay-Webhooks/1"
EXCERPT_CHARS = 500
_READ_LIMIT = 4 * EXCERPT_CHARS


class WebhookSettings(Protocol):
    """The part of the instance settings delivery needs."""

    @property
    def vault(self) -> Vault: ...
    @property
    def env(self) -> str: ...
    @property
    def webhooks_allow_private(self) -> bool: ...
    @property
    def webhooks_timeout_seconds(self) -> float: ...
    @property
    def webhooks_backoff_scale(self) -> float: ...


@dataclass(frozen=True)
class DeliveryConfig:
    vault: Vault
    policy: ssrf.UrlPolicy
    timeout: float = 10.0
    backoff_scale: float = 1.0
    batch: int = 50
    concurrency: int = 8

    @property
    def lease(self) -> timedelta:
        """How long a claim keeps other workers off: longer than any request can take."""
        return timedelta(seconds=2 * self.timeout + 30)


def url_policy(settings: WebhookSettings) -> ssrf.UrlPolicy:
    return ssrf.UrlPolicy(allow_private=settings.webhooks_allow_private, require_https=settings.env == "production")


def config_from(settings: WebhookSettings) -> DeliveryConfig:
    return DeliveryConfig(
        vault=settings.vault,
        policy=url_policy(settings),
        timeout=settings.webhooks_timeout_seconds,
        backoff_scale=settings.webhooks_backoff_scale,
    )


@dataclass(frozen=True)
class Job:
    """A claimed delivery, with everything needed to send it and nothing bound to a session."""

    delivery_id: int
    event_id: str
    url: str
    secrets: tuple[str, ...]
    body: bytes


@dataclass(frozen=True)
class Outcome:
    succeeded: bool
    status_code: int | None = None
    latency_ms: int = 0
    excerpt: str = ""
    error: str = ""


def claim(session: Session, config: DeliveryConfig, *, now: datetime, limit: int, delivery_id: int | None = None) -> list[Job]:
    """Take up to ``limit`` due deliveries of enabled endpoints for one lease."""
    query = (
        select(WebhookDelivery, WebhookEndpoint)
        .join(WebhookEndpoint, WebhookEndpoint.id == WebhookDelivery.endpoint_id)
        .where(
            WebhookDelivery.next_attempt_at <= now,
            WebhookDelivery.status.in_(rules.LIVE),
            WebhookEndpoint.enabled.is_(True),
        )
        .order_by(WebhookDelivery.next_attempt_at, WebhookDelivery.id)
        .limit(limit)
        .with_for_update(skip_locked=True, of=WebhookDelivery)
    )
    if delivery_id is not None:
        query = query.where(WebhookDelivery.id == delivery_id)
    jobs = []
    for delivery, endpoint in session.execute(query).tuples():
        delivery.next_attempt_at = now + config.lease
        try:
            secrets = tuple(service.signing_secrets(endpoint, config.vault, now=now))
        except DecryptionError:
            # A retired vault key: an operator problem, retried after the lease, loudly.
            log.error("webhook_secret_unreadable", endpoint=endpoint.public_id, delivery_id=delivery.id)
            continue
        jobs.append(Job(delivery.id, delivery.event_id, endpoint.url, secrets, signing.render(delivery.payload)))
    return jobs


def send(job: Job, config: DeliveryConfig, client: httpx.Client) -> Outcome:
    """POST one signed delivery; whatever the receiver does becomes an ``Outcome``, never an exception."""
    try:
        target = ssrf.check(job.url, config.policy)
    except WebhookUrlForbidden as exc:
        return Outcome(False, error=f"{exc.code}: {exc.detail}"[:500])
    headers = {"content-type": "application/json", "user-agent": USER_AGENT}
    headers.update(signing.headers(job.secrets, job.event_id, int(time.time()), job.body))
    if target.host_header:
        headers["host"] = target.host_header
    extensions = {"sni_hostname": target.sni_hostname} if target.sni_hostname else {}
    started = time.perf_counter()
    try:
        with client.stream("POST", target.url, content=job.body, headers=headers, extensions=extensions) as response:
            excerpt = _excerpt(response.iter_bytes(), deadline=started + config.timeout)
            status = response.status_code
    except Exception as exc:  # noqa: BLE001 - a receiver's failure is logged as its attempt, never the worker's crash
        return Outcome(False, latency_ms=_ms_since(started), error=f"{type(exc).__name__}: {exc}"[:500])
    ok = 200 <= status < 300
    return Outcome(ok, status, _ms_since(started), excerpt, "" if ok else f"HTTP {status}")


def _ms_since(started: float) -> int:
    return int((time.perf_counter() - started) * 1000)


def _excerpt(chunks: Iterator[bytes], *, deadline: float) -> str:
    """The start of the answer; a receiver that drips bytes is cut off at the deadline."""
    data = b""
    for chunk in chunks:
        data += chunk
        if len(data) >= _READ_LIMIT or time.perf_counter() > deadline:
            break
    return data.decode("utf-8", errors="replace")[:EXCERPT_CHARS]


def record_outcome(session: Session, job: Job, outcome: Outcome, config: DeliveryConfig, *, now: datetime) -> str | None:
    """Log the attempt and move the delivery on; returns its new status (None: deleted meanwhile)."""
    delivery = session.get(WebhookDelivery, job.delivery_id, with_for_update=True)
    if delivery is None:
        return None
    session.add(
        WebhookAttempt(
            delivery_id=delivery.id,
            succeeded=outcome.succeeded,
            status_code=outcome.status_code,
            latency_ms=outcome.latency_ms,
            response_excerpt=outcome.excerpt,
            error=outcome.error,
            at=now,
        )
    )
    delivery.attempts += 1
    if outcome.succeeded:
        delivery.status, delivery.next_attempt_at, delivery.failing_since = rules.SUCCEEDED, None, None
        endpoint = session.get(WebhookEndpoint, delivery.endpoint_id)
        if endpoint is not None:
            endpoint.last_success_at = now
        return delivery.status
    delivery.retry_step += 1
    delivery.failing_since = delivery.failing_since or now
    delay = rules.retry_delay(delivery.retry_step, scale=config.backoff_scale)
    if delay is not None:
        delivery.status, delivery.next_attempt_at = rules.FAILED, now + timedelta(seconds=delay)
        return delivery.status
    delivery.status, delivery.next_attempt_at = rules.DEAD, None
    _disable_if_persistent(session, delivery, now)
    return delivery.status


def _disable_if_persistent(session: Session, delivery: WebhookDelivery, now: datetime) -> None:
    """A delivery died and the endpoint answered nothing 2xx since it started failing: stop sending, tell the owner."""
    endpoint = session.get(WebhookEndpoint, delivery.endpoint_id, with_for_update=True)
    if endpoint is None or not endpoint.enabled:
        return
    since = delivery.failing_since or delivery.created_at
    if endpoint.last_success_at is not None and endpoint.last_success_at >= since:
        return
    endpoint.enabled, endpoint.disabled_reason = False, "persistent_failure"
    details: dict[str, Any] = {
        "endpoint_id": endpoint.public_id,
        "user_id": endpoint.user_id,
        "url": endpoint.url,
        "delivery_id": delivery.id,
    }
    record(
        session,
        actor="system:webhooks",
        action="webhook.endpoint_disabled",
        target_type="webhook_endpoint",
        target_id=endpoint.public_id,
        **details,
    )
    outbox.emit(session, "webhook.endpoint_disabled", {**details, "reason": "persistent_failure", "failing_since": since.isoformat()})
    log.warning("webhook_endpoint_disabled", endpoint=endpoint.public_id, delivery_id=delivery.id)


def _run(db: Database, config: DeliveryConfig, client: httpx.Client, job: Job) -> None:
    outcome = send(job, config, client)
    with db.transaction() as session:
        status = record_outcome(session, job, outcome, config, now=utcnow())
    log.info("webhook_attempt", delivery_id=job.delivery_id, status=status, http_status=outcome.status_code, ms=outcome.latency_ms)


def _client(config: DeliveryConfig) -> httpx.Client:
    # No redirects (a 3xx could point inside), no proxies from the environment (the pinned IP is the target).
    return httpx.Client(timeout=config.timeout, follow_redirects=False, trust_env=False)


def deliver_due(db: Database, config: DeliveryConfig) -> int:
    """One worker pass: send every due delivery (up to a batch, a few at a time); returns how many."""
    with db.transaction() as session:
        jobs = claim(session, config, now=utcnow(), limit=config.batch)
    if not jobs:
        return 0
    with _client(config) as client, ThreadPoolExecutor(max_workers=min(config.concurrency, len(jobs))) as pool:
        for future in [pool.submit(_run, db, config, client, job) for job in jobs]:
            future.result()
    return len(jobs)


def deliver_one(db: Database, config: DeliveryConfig, delivery_id: int) -> bool:
    """Send one delivery now if it is due and nobody holds it (e.g. a test event); False otherwise."""
    with db.transaction() as session:
        jobs = claim(session, config, now=utcnow(), limit=1, delivery_id=delivery_id)
    if not jobs:
        return False
    with _client(config) as client:
        _run(db, config, client, jobs[0])
    return True
