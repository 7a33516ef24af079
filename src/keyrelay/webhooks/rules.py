"""Pure delivery rules: event types, statuses and the retry schedule."""

from __future__ import annotations

import random
from typing import Literal, get_args

EventType = Literal[
    "order.delivered",
    "order.refunded",
    "stock.changed",
    "stock.low",
    "price.changed",
    "product.updated",
    "webhook.test",
]
EVENT_TYPES: tuple[str, ...] = get_args(EventType)
"""What an endpoint may subscribe to (an empty subscription means all of them)."""

DeliveryStatus = Literal["pending", "failed", "succeeded", "dead"]
PENDING, FAILED, SUCCEEDED, DEAD = get_args(DeliveryStatus)
LIVE = (PENDING, FAILED)
"""Statuses the worker still sends."""

NOMINAL_DELAYS = (5, 30, 120, 600, 1800, 3600, 3 * 3600, 6 * 3600, 12 * 3600)
"""Mean wait in seconds after the 1st, 2nd … 9th failure; the 10th failure kills the delivery.

They add up to 22.7 h, so a delivery keeps trying for about a day.
"""
MAX_ATTEMPTS = len(NOMINAL_DELAYS) + 1


def retry_delay(failures: int, *, scale: float = 1.0, rng: random.Random | None = None) -> float | None:
    """Seconds to wait after the ``failures``-th failure in a row, or None: give up.

    Full jitter: uniform between 0 and twice the nominal wait, so retries of
    many deliveries failing together (one receiver down) spread out instead of
    arriving in waves, and on average the schedule still spans the nominal day.
    ``scale`` shrinks the schedule (tests, staging).
    """
    if failures < 1:
        raise ValueError("failures counts from 1")
    if failures > len(NOMINAL_DELAYS):
        return None
    cap = 2 * NOMINAL_DELAYS[failures - 1] * scale
    return (rng or random).uniform(0, cap)
