"""The ASGI application: API, storefront, console, health, static files."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

import anyio.to_thread
import jinja2
import structlog
from fastapi import FastAPI
from fastapi.responses import JSONResponse
from fastapi.staticfiles import StaticFiles
from fastapi.templating import Jinja2Templates
from starlette.datastructures import Headers, MutableHeaders
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from keyrelay import __version__
from keyrelay.checkout import Terms
from keyrelay.config import Settings, load_settings
from keyrelay.kit.db import Database
from keyrelay.kit.throttle import Throttle
from keyrelay.payments import registry
from keyrelay.web import errors, ratelimit
from keyrelay.web.api.v1 import router as api_router
from keyrelay.web.nonces import shared_nonces
from keyrelay.web.ratelimit import Limiter
from keyrelay.web.state import AppState
from keyrelay.worker import Worker

WEB = Path(__file__).resolve().parent / "web"
log = structlog.get_logger(__name__)


def build_state(settings: Settings) -> AppState:
    env = jinja2.Environment(loader=jinja2.FileSystemLoader(str(WEB / "templates")), autoescape=True, extensions=["jinja2.ext.i18n"])
    templates = Jinja2Templates(env=env)
    return AppState(
        settings=settings,
        db=Database(settings.resolved_database_url, pool_size=settings.db_pool_size),
        terms=terms_from(settings),
        templates=templates,
        lookup_throttle=Throttle(limit=settings.lookup_per_ip_per_minute),
        order_throttle=Throttle(limit=settings.lookup_per_order_per_minute),
        jwt_secret=settings.derived_key(b"jwt"),
        link_secret=settings.derived_key(b"order-link"),
        seen_nonces=shared_nonces(settings.redis_url),
    )


def terms_from(settings: Settings) -> Terms:
    """The instance's payment providers and sale terms; production refuses the sandbox."""
    providers = registry.build(
        settings.payment_providers.split(","),
        production=settings.env == "production",
        secrets=registry.ProviderSecrets.derived(settings.derived_key, sandbox_notify_url=settings.sandbox_notify_url),
    )
    return Terms(providers=providers, hold_seconds=settings.hold_ttl_seconds, commission_hold_days=settings.commission_hold_days)


def create_app(settings: Settings | None = None, *, run_worker: bool = False) -> FastAPI:
    """Build the app; ``run_worker`` starts the background worker thread with it."""
    settings = settings or load_settings()
    state = build_state(settings)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        # Blocking work (every database call) runs on AnyIO's thread pool; its size is how many requests
        # one process works on at once. More threads than the pool has connections only queue on the pool.
        anyio.to_thread.current_default_thread_limiter().total_tokens = settings.request_threads
        worker = Worker(state.db, interval=settings.worker_interval_seconds, settings=settings) if run_worker else None
        if worker:
            worker.start_thread()
        yield
        if worker:
            worker.stop()
        state.db.dispose()

    app = FastAPI(
        title="KeyRelay API",
        version=__version__,
        lifespan=lifespan,
        description="Sell digital goods delivered instantly as card keys. Errors are RFC 9457 problem+json with a stable `code`.",
    )
    app.state.keyrelay = state
    errors.install(app)
    app.state.limiter = Limiter.build(redis_url=settings.redis_url, per_ip=settings.rate_limit_per_ip, per_key=settings.rate_limit_per_key)
    app.add_middleware(ratelimit.PerIpLimit, limiter=app.state.limiter)
    app.add_middleware(RequestId)
    app.include_router(api_router)
    _add_health(app, state)
    from keyrelay.web.console.routes import router as console_router
    from keyrelay.web.distributor_console.routes import router as distributor_console_router
    from keyrelay.web.storefront.routes import router as storefront_router
    from keyrelay.web.storefront.sandbox import router as sandbox_router

    if state.providers.sandbox() is not None:  # development and demos only: production cannot enable it
        app.include_router(sandbox_router)
    app.include_router(console_router)
    app.include_router(distributor_console_router)
    app.include_router(storefront_router)
    app.mount("/static", StaticFiles(directory=str(WEB / "static")), name="static")
    return app


def server_process_app() -> FastAPI:
    """The app of one of several server processes (``keyrelay serve --workers N``): settings from the environment, no worker."""
    from keyrelay.logging import configure

    settings = load_settings()
    configure(json=settings.log_json)
    return create_app(settings)


class RequestId:
    """ASGI middleware: every request gets an id (echoed as X-Request-Id) bound into every log line.

    Plain ASGI rather than ``BaseHTTPMiddleware``, which would run the app in a
    task of its own and stream the response through a queue on every request.
    """

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        sent = Headers(scope=scope).get("x-request-id", "")[:64]
        request_id = sent if sent.isprintable() and sent else uuid.uuid4().hex

        async def send_with_id(message: Message) -> None:
            if message["type"] == "http.response.start":
                MutableHeaders(scope=message).append("X-Request-Id", request_id)
            await send(message)

        structlog.contextvars.bind_contextvars(request_id=request_id)
        try:
            await self.app(scope, receive, send_with_id)
        finally:
            structlog.contextvars.unbind_contextvars("request_id")


def _add_health(app: FastAPI, state: AppState) -> None:
    @app.get("/healthz", tags=["health"])
    def healthz() -> dict[str, str]:
        """Alive: the process answers."""
        return {"status": "ok"}

    @app.get("/readyz", tags=["health"])
    def readyz() -> JSONResponse:
        """Ready: the database answers."""
        ok = state.db.ping()
        return JSONResponse({"status": "ok" if ok else "unavailable", "database": ok}, status_code=200 if ok else 503)
