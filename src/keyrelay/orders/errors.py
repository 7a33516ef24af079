"""Every failure of the order aggregate, with its stable code."""

from __future__ import annotations

from keyrelay.kit.errors import N_, IllegalTransition, NotFound, ValidationFailed, define
from keyrelay.kit.errors import NOT_FOUND as NOT_FOUND  # re-exported: missing things share one code

LOOKUP_MISS = define("not_found", NotFound, "no order matches this number and contact or password", N_("Not found."))
"""A wrong credential and a missing order answer exactly alike."""
LOOKUP_NEEDS_CREDENTIAL = define(
    "lookup_needs_credential",
    ValidationFailed,
    "give the contact e-mail or the query password",
    N_("Enter the e-mail or the query password."),
)
ILLEGAL_MOVE = define(
    "illegal_transition",
    IllegalTransition,
    "an order that is %(current)s cannot become %(target)s",
    N_("Not possible in the order's current state; nothing was changed."),
)
CHANGED_CONCURRENTLY = define(
    "illegal_transition",
    IllegalTransition,
    "order %(ref)s changed concurrently (now %(current)s)",
    N_("Someone else changed this order just now; reload the page."),
)
