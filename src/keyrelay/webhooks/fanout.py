"""Turn one event into one delivery per subscribed, enabled endpoint of the distributors concerned.

Runs inside the outbox drain's transaction: the deliveries exist if and only if
the outbox event is marked processed, so fan-out is durable and happens once.
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Sequence
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from keyrelay.distribution import network
from keyrelay.distribution.network import Distributor
from keyrelay.kit.clock import utcnow
from keyrelay.kit.db import memo
from keyrelay.kit.errors import NotFound
from keyrelay.webhooks import service, signing
from keyrelay.webhooks.models import WebhookEndpoint

DataFor = Callable[[Distributor], dict[str, Any]]
"""The event's data as one recipient sees it (e.g. its own cost)."""
Accept = Callable[[Distributor], bool]


def listening(session: Session, event_type: str) -> list[WebhookEndpoint]:
    """Every enabled endpoint that takes ``event_type``, read once per transaction (one worker pass).

    A pass handles up to a hundred events; most have no listener at all, and
    the handlers ask this first instead of walking chains for nobody.
    """
    known: dict[str, list[WebhookEndpoint]] = memo(session, "webhooks.listening")
    if event_type not in known:
        query = select(WebhookEndpoint).where(WebhookEndpoint.enabled.is_(True)).order_by(WebhookEndpoint.id)
        known[event_type] = [e for e in session.scalars(query) if not e.event_types or event_type in e.event_types]
    return known[event_type]


def _subscribed(session: Session, event_type: str, user_ids: Collection[int] | None) -> list[WebhookEndpoint]:
    endpoints = listening(session, event_type)
    return endpoints if user_ids is None else [e for e in endpoints if e.user_id in user_ids]


def to_distributors(session: Session, event_type: str, distributors: Sequence[Distributor], data_for: DataFor) -> int:
    """Deliver to the endpoints of these (active) distributors; returns how many deliveries were queued."""
    by_user = {d.user_id: d for d in distributors if d.status == "active"}
    if not by_user:
        return 0
    endpoints = _subscribed(session, event_type, by_user.keys())
    return _enqueue_all(session, event_type, [(e, by_user[e.user_id]) for e in endpoints], data_for)


def broadcast(session: Session, event_type: str, accept: Accept, data_for: DataFor) -> int:
    """Deliver to every subscribed endpoint whose owner is an active distributor that ``accept``s."""
    owners: dict[int, Distributor | None] = {}
    pairs: list[tuple[WebhookEndpoint, Distributor]] = []
    for endpoint in _subscribed(session, event_type, None):
        if endpoint.user_id not in owners:
            owners[endpoint.user_id] = _distributor_of(session, endpoint.user_id)
        owner = owners[endpoint.user_id]
        if owner is not None and owner.status == "active" and accept(owner):
            pairs.append((endpoint, owner))
    return _enqueue_all(session, event_type, pairs, data_for)


def _distributor_of(session: Session, user_id: int) -> Distributor | None:
    try:
        return network.for_user(session, user_id)
    except NotFound:
        return None


def _enqueue_all(session: Session, event_type: str, pairs: list[tuple[WebhookEndpoint, Distributor]], data_for: DataFor) -> int:
    if not pairs:
        return 0
    event_id, at = signing.new_event_id(), utcnow()
    payloads: dict[int, dict[str, Any]] = {}
    for endpoint, owner in pairs:
        if owner.id not in payloads:
            payloads[owner.id] = signing.envelope(event_type, data_for(owner), at)
        service.enqueue(session, endpoint, event_id=event_id, event_type=event_type, payload=payloads[owner.id])
    return len(pairs)
