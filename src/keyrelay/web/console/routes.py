"""Operator console pages under /admin (filled in by the console module)."""

from fastapi import APIRouter

router = APIRouter(prefix="/admin", include_in_schema=False)
