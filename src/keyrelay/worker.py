"""The background worker: expires unpaid holds, releases matured earnings, drains the outbox, sends webhooks.

It runs as a thread inside ``keyrelay serve`` by default, or alone as
``keyrelay worker`` (any number of them on PostgreSQL: outbox rows are taken
with SKIP LOCKED and expiry uses conditional updates, so workers never collide).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import TYPE_CHECKING

import structlog

from keyrelay import checkout
from keyrelay.identity import api_keys
from keyrelay.kit import idempotency, outbox
from keyrelay.kit.db import Database
from keyrelay.ledger import earnings
from keyrelay.webhooks import delivery as webhook_delivery
from keyrelay.webhooks import events as _webhook_events  # noqa: F401 - importing registers the fan-out handlers

if TYPE_CHECKING:
    from keyrelay.config import Settings

log = structlog.get_logger(__name__)


_last_housekeeping = 0.0

FULL_PASS = 100
"""A pass that found this much work (the outbox's batch) goes again at once."""
GATHER_SECONDS = 0.05
"""After a pass that found a little work: events arriving in the meantime share the next pass (its transactions and queries)."""


def _housekeeping_due(every: float = 60.0) -> bool:
    """Old nonces and idempotency records are purged about once a minute per worker."""
    global _last_housekeeping
    now = time.monotonic()
    if now - _last_housekeeping < every:
        return False
    _last_housekeeping = now
    return True


def run_once(db: Database, webhooks: webhook_delivery.DeliveryConfig | None = None) -> int:
    """One pass; returns how much work it found (0 means the worker may sleep).

    Webhooks are sent only when ``webhooks`` is given (it carries the vault that opens endpoint secrets).
    """
    with db.transaction() as session:
        expired = checkout.expire_due(session)
    with db.transaction() as session:
        released = earnings.release_due(session)
    with db.transaction() as session:
        relayed = outbox.drain(session)
    sent = webhook_delivery.deliver_due(db, webhooks) if webhooks is not None else 0
    if _housekeeping_due():
        with db.transaction() as session:
            api_keys.purge_nonces(session)
            idempotency.purge(session)
            outbox.purge(session)  # finished work older than a week; dead tasks stay for the operator
    if expired or released:
        log.info("worker_pass", expired_orders=expired, released_earnings=released)
    return expired + released + relayed + sent


class Worker:
    """Two loops that never die from one failed pass.

    The core loop (expiry, earnings release, outbox, housekeeping) and the
    webhook sender run on separate threads, so a slow receiver never delays
    the release of an expired hold.
    """

    def __init__(self, db: Database, *, interval: float, settings: Settings | None = None) -> None:
        self.db = db
        self.interval = interval
        self.webhooks = webhook_delivery.config_from(settings) if settings is not None else None
        if settings is None:
            log.warning("worker_without_settings", message="webhooks will not be sent by this worker")
        self._stop = threading.Event()
        self._threads: list[threading.Thread] = []

    def _core_pass(self) -> int:
        return run_once(self.db, None)

    def _webhook_pass(self) -> int:
        return webhook_delivery.deliver_due(self.db, self.webhooks) if self.webhooks is not None else 0

    def _loop(self, name: str, work: Callable[[], int]) -> None:
        log.info("worker_started", loop=name)
        while not self._stop.is_set():
            try:
                busy = work()
            except Exception:
                log.exception("worker_pass_failed", loop=name)
                busy = 0
            if not busy:
                self._stop.wait(self.interval)
            elif busy < FULL_PASS:  # a trickle: let a few more events gather than pay a whole pass for each
                self._stop.wait(min(self.interval, GATHER_SECONDS))
        log.info("worker_stopped", loop=name)

    def _spawn(self, name: str, work: Callable[[], int]) -> None:
        thread = threading.Thread(target=self._loop, args=(name, work), name=f"keyrelay-{name}", daemon=True)
        thread.start()
        self._threads.append(thread)

    def run(self) -> None:
        """Run in the foreground (``keyrelay worker``): webhooks on a helper thread, the core loop here."""
        if self.webhooks is not None:
            self._spawn("webhooks", self._webhook_pass)
        try:
            self._loop("core", self._core_pass)
        finally:
            self.stop()

    def start_thread(self) -> None:
        """Run in the background (inside ``keyrelay serve``)."""
        self._spawn("core", self._core_pass)
        if self.webhooks is not None:
            self._spawn("webhooks", self._webhook_pass)

    def stop(self, timeout: float = 5.0) -> None:
        self._stop.set()
        for thread in self._threads:
            if thread is not threading.current_thread():
                thread.join(timeout)
