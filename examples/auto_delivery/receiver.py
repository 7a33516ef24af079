"""The webhook endpoint: verify (Standard Webhooks), de-duplicate on webhook-id, update the catalog, answer 2xx fast."""

from __future__ import annotations

import logging
import threading
from collections import OrderedDict
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from catalog import Catalog
from keyrelay_client import WebhookVerificationError, verify_webhook

log = logging.getLogger("auto_delivery.webhooks")
MAX_BODY = 1024 * 1024


class Seen:
    """The last few thousand event ids: delivery is at-least-once, so the same event may come twice."""

    def __init__(self, size: int = 5000) -> None:
        self._ids: OrderedDict[str, None] = OrderedDict()
        self._size = size
        self._lock = threading.Lock()

    def first_time(self, event_id: str) -> bool:
        with self._lock:
            if event_id in self._ids:
                return False
            self._ids[event_id] = None
            if len(self._ids) > self._size:
                self._ids.popitem(last=False)
            return True


def make_server(port: int, secret: Callable[[], str | None], catalog: Catalog, host: str = "127.0.0.1") -> ThreadingHTTPServer:
    """An HTTP server for ``POST /webhooks``; ``secret()`` returns the endpoint's current ``whsec_`` secret."""
    seen = Seen()

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            length = int(self.headers.get("content-length") or 0)
            if self.path != "/webhooks" or length > MAX_BODY:
                self._answer(404)
                return
            body = self.rfile.read(length)
            key = secret()
            if key is None:
                self._answer(503)  # not registered yet: KeyRelay retries later
                return
            try:
                event = verify_webhook(key, dict(self.headers.items()), body)
            except WebhookVerificationError as exc:
                log.warning("refused a webhook: %s", exc)
                self._answer(400)
                return
            if seen.first_time(self.headers["webhook-id"]):
                catalog.apply(str(event.get("type", "")), dict(event.get("data") or {}))
            self._answer(204)

        def _answer(self, status: int) -> None:
            self.send_response(status)
            self.send_header("Content-Length", "0")
            self.end_headers()

        def log_message(self, format: str, *args: object) -> None:
            log.debug(format, *args)

    return ThreadingHTTPServer((host, port), Handler)
