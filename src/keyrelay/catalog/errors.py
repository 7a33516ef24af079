"""Every failure the catalog reports, with its stable code."""

from __future__ import annotations

from keyrelay.kit.errors import N_, Conflict, NotFound, ValidationFailed, define
from keyrelay.kit.errors import NOT_FOUND as NOT_FOUND  # re-exported: missing things share one code

SLUG_NOT_FOUND = define("not_found", NotFound, "product %(slug)r does not exist", N_("Not found."))
FIXED_CONTENT_MISSING = define(
    "fixed_content_missing", ValidationFailed, "a fixed-content product needs its content", N_("A fixed-content product needs its content.")
)
SLUG_TAKEN = define("slug_taken", Conflict, "the slug %(slug)r is already used", N_("Already used: choose another."))
UNKNOWN_KIND = define("unknown_product_kind", ValidationFailed, "kind must be one of %(choices)s", N_("Choose one of the options."))
