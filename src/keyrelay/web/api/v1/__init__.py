"""Versioned REST API, ``/api/v1``."""

from fastapi import APIRouter

from keyrelay.web.api.v1 import admin, auth, catalog, me, orders, payments

router = APIRouter(prefix="/api/v1")
for module in (auth, catalog, orders, payments, me, admin):
    router.include_router(module.router)
