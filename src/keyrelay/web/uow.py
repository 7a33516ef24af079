"""The request's unit of work: one transaction per request, from one dependency.

A route takes ``ReadSession`` or ``WriteSession`` — never both, and never a
``db.transaction()`` of its own besides — and does all its work in it. The
transaction commits when the handler has returned *and its response has been
rendered*, and before a byte of that response is sent; any exception raised by
the handler (a ``DomainError`` too) or while rendering rolls everything back
and becomes the error answer. So a client never sees success for a change that
was not committed, and an error answer never leaves a change behind.

Why ``scope="function"``: in the FastAPI we run (read in ``fastapi/routing.py``)
the exit code of a yield dependency runs by default *after the response has
been sent* (``scope="request"``: the request's exit stack closes after
``await response(...)``). A commit there could fail after the client was told
201. ``scope="function"`` (FastAPI ≥ 0.121, hence the pin) closes the
dependency as soon as the route function has returned its rendered response,
before it is sent. ``tests/integration/test_unit_of_work.py`` pins this: a
commit that fails answers 500, never 2xx.

Not for: ``run_once`` routes (idempotent creates keep their own transaction:
the claim, the change and the stored answer commit together, and a signed
request's nonce is spent in it too), routes that must commit before doing more
work (a webhook test send delivers after its commit), and the nonce of a signed
request to any other route, which is spent in its own transaction before the
route runs (see ``web.auth``).
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Annotated

from fastapi import Depends, Request
from sqlalchemy.orm import Session

from keyrelay.web.state import state_of


def _read(request: Request) -> Iterator[Session]:
    with state_of(request).db.transaction(write=False) as session:
        yield session


def _write(request: Request) -> Iterator[Session]:
    with state_of(request).db.transaction() as session:
        yield session


ReadSession = Annotated[Session, Depends(_read, scope="function")]
"""A read-only transaction (on SQLite a plain ``BEGIN``: it never waits for writers)."""
WriteSession = Annotated[Session, Depends(_write, scope="function")]
"""A write transaction, committed before the response is sent."""
UNITS_OF_WORK = (_read, _write)
"""The dependency callables, for the route checks in the tests."""
