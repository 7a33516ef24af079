"""Versioned REST API, ``/api/v1``."""

from fastapi import APIRouter

from keyrelay.web.api.v1 import admin, auth, catalog, distributor, me, network_admin, orders, payments, webhooks

router = APIRouter(prefix="/api/v1")
for module in (auth, catalog, orders, payments, me, distributor, admin, network_admin, webhooks):
    router.include_router(module.router)
router.include_router(network_admin.public)
