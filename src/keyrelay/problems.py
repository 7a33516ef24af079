"""Every error code the product can answer, gathered from each domain's ``errors`` module.

``docs/api.md`` carries this list (written by ``scripts/error_codes.py``); a
test fails when a code exists that the document lacks, so an integrator can
always look a ``code`` up.
"""

from __future__ import annotations

from dataclasses import dataclass

from keyrelay.catalog import errors as _catalog_errors
from keyrelay.checkout import errors as _checkout_errors
from keyrelay.distribution import errors as _distribution_errors
from keyrelay.distribution import rules as _distribution_rules
from keyrelay.identity import errors as _identity_errors
from keyrelay.inventory import errors as _inventory_errors
from keyrelay.kit import errors as kit_errors
from keyrelay.kit import idempotency as _idempotency
from keyrelay.kit import states as _states
from keyrelay.ledger import errors as _ledger_errors
from keyrelay.ledger import rules as _ledger_rules
from keyrelay.orders import errors as _order_errors
from keyrelay.payments import errors as _payment_errors
from keyrelay.web import codes as _web_codes
from keyrelay.webhooks import errors as _webhook_errors

DOMAINS = (
    _catalog_errors,
    _checkout_errors,
    _distribution_errors,
    _distribution_rules,
    _states,
    _ledger_rules,
    _identity_errors,
    _inventory_errors,
    _idempotency,
    _ledger_errors,
    _order_errors,
    _payment_errors,
    _web_codes,
    _webhook_errors,
)
"""Imported so that every ``define`` has run."""

EDGE_CODES = {
    "validation_failed": (422, "the request does not match the schema; `errors` lists each field and what is wrong"),
    "method_not_allowed": (405, "this path does not take this method"),
    "internal_error": (500, "something went wrong on our side; it has been logged"),
    "http_error": (400, "another HTTP-level refusal"),
}
"""Codes the web edge answers without a domain error (schema validation, routing)."""


GENERIC = (
    kit_errors.NotFound,
    kit_errors.ValidationFailed,
    kit_errors.Conflict,
    kit_errors.OutOfStock,
    kit_errors.IllegalTransition,
    kit_errors.Unauthorized,
    kit_errors.Forbidden,
    kit_errors.InsufficientBalance,
)
"""Classes that fix a status but not a meaning: never raised without a declared code."""


@dataclass(frozen=True)
class CodeRow:
    code: str
    status: int
    meaning: str


def _subclasses(cls: type[kit_errors.DomainError]) -> list[type[kit_errors.DomainError]]:
    found = []
    for sub in cls.__subclasses__():
        found += [sub, *_subclasses(sub)]
    return found


def catalog() -> list[CodeRow]:
    """One row per code, sorted: its HTTP status and what it means (its wordings, joined)."""
    rows: dict[str, CodeRow] = {}
    for code, specs in kit_errors.all_codes().items():
        meaning = "; ".join(sorted(set(spec.detail.replace("%(", "{").replace(")s", "}").replace(")r", "}") for spec in specs)))
        rows[code] = CodeRow(code, specs[0].status, meaning)
    for cls in _subclasses(kit_errors.DomainError):
        # The generic classes are raised only through declared codes (a test keeps it so).
        if cls.code not in rows and "code" in vars(cls) and cls not in GENERIC:
            rows[cls.code] = CodeRow(cls.code, cls.status, cls.title)
    for code, (status, meaning) in EDGE_CODES.items():
        rows.setdefault(code, CodeRow(code, status, meaning))
    return sorted(rows.values(), key=lambda r: (r.status, r.code))
