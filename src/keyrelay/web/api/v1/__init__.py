"""Versioned REST API, ``/api/v1``."""

from fastapi import APIRouter

from keyrelay.web.api.v1 import admin, auth, catalog, distributor, me, network_admin, orders, payments, webhooks
from keyrelay.web.auth import GuardedRoute

router = APIRouter(prefix="/api/v1", route_class=GuardedRoute)
for module in (auth, catalog, orders, payments, me, distributor, admin, network_admin, webhooks):
    router.include_router(module.router)
router.include_router(network_admin.public)
