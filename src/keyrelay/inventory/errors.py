"""Every failure of the inventory (key import, stock, single keys), with its stable code."""

from __future__ import annotations

from keyrelay.kit.errors import N_, Conflict, OutOfStock, ValidationFailed, define
from keyrelay.kit.errors import NOT_FOUND as NOT_FOUND  # re-exported: missing things share one code

KEY_FILE_REJECTED = define("key_file_rejected", ValidationFailed, "%(why)s")
"""The whole file is unusable; ``reason`` is ``empty_file``, ``binary_file``, ``bad_encoding`` or ``bad_csv``."""
INVALID_KEY_LINES = define("invalid_key_lines", ValidationFailed, "%(count)s invalid line(s); nothing was imported")
"""``invalid`` lists up to 100 ``{line, reason}``."""
CONCURRENT_IMPORT = define(
    "concurrent_key_import",
    Conflict,
    "some keys were imported concurrently by someone else; retry the import",
    N_("Someone else imported some of these keys just now; try again."),
)
ONLY_SOME_LEFT = define("out_of_stock", OutOfStock, "only %(available)s left in stock", N_("Only %(available)s left in stock."))
SOLD_OUT = define("out_of_stock", OutOfStock, "out of stock", N_("Out of stock."))
KEY_NOT_VOIDABLE = define("key_not_voidable", Conflict, "only an available key can be voided", N_("Only an available key can be voided."))
