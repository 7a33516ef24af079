"""What every request handler may use, built once per app."""

from __future__ import annotations

from dataclasses import dataclass, field

from fastapi import Request
from fastapi.templating import Jinja2Templates

from keyrelay.checkout import Terms
from keyrelay.config import Settings
from keyrelay.identity.api_keys import KeyCache
from keyrelay.kit.db import Database
from keyrelay.kit.throttle import Throttle
from keyrelay.payments.registry import Registry
from keyrelay.web.nonces import NoSharedNonces, SeenNonces


@dataclass
class AppState:
    """Shared, thread-safe collaborators of the web layer."""

    settings: Settings
    db: Database
    terms: Terms
    """Payment providers, hold and settlement times: what every order use case needs."""
    templates: Jinja2Templates
    lookup_throttle: Throttle
    """Per client IP: central lookups and sign-in attempts."""
    order_throttle: Throttle
    """Per order number: central lookups, whoever asks (stops distributed guessing of one order)."""
    jwt_secret: bytes
    link_secret: bytes
    seen_nonces: SeenNonces = field(default_factory=NoSharedNonces)
    """Redis's first look at signed requests' nonces, shared by every process (``web.nonces``; the database decides)."""
    known_keys: KeyCache = field(default_factory=KeyCache)
    """API keys this process has verified lately (``web.auth``: signed purchases then skip the nonce transaction)."""

    @property
    def providers(self) -> Registry:
        return self.terms.providers


def state_of(request: Request) -> AppState:
    app_state: AppState = request.app.state.keyrelay
    return app_state


def client_ip(request: Request) -> str:
    return request.client.host if request.client else ""


def base_url(request: Request) -> str:
    """Public base URL: configured, or the one the request came in on."""
    configured = state_of(request).settings.public_url
    return configured.rstrip("/") if configured else str(request.base_url).rstrip("/")
