"""Checkbox groups in console forms: every ticked value of one name (``forms.Posted`` keeps only the last)."""

from __future__ import annotations

from typing import Any

from fastapi import Depends, Request


def ticked(name: str) -> Any:
    """Dependency: the values of the boxes called ``name`` that were ticked, in the order sent."""

    async def read(request: Request) -> list[str]:
        # The route guard already parsed the form within the console's limits; this reads the cached copy.
        return [value for value in (await request.form()).getlist(name) if isinstance(value, str)]

    return Depends(read)
