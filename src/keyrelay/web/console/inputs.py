"""Typed values out of the network and money forms: decimal amounts, percentages, whole numbers.

Each reader records a problem under its input's name instead of raising, so a
form shows every problem at once and nothing is written until all are fixed.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Annotated, Any

from fastapi import Path

from keyrelay.kit.money import MAX_AMOUNT_MINOR, MoneyError, parse_decimal
from keyrelay.web.console.forms import Errors, FieldError, text

_PERCENT = re.compile(r"^\s*(\d{1,7})(?:\.(\d{1,2}))?\s*%?\s*$")
_WHOLE = re.compile(r"^\s*\d{1,9}\s*$")
MAX_ID = 2**63 - 1
"""Ids are 64-bit columns: a larger number in a URL or form is simply no id (never a database error)."""
PathId = Annotated[int, Path(ge=1, le=MAX_ID)]
PERCENT_RULES = frozenset({"markup_pct"})
"""Rules whose value is a percentage (stored as basis points), not an amount of money."""


def amount(form: Mapping[str, Any], name: str, currency: str, errors: Errors, *, required: bool = True) -> int | None:
    """A typed decimal such as ``12.50`` as minor units; None (and a problem) if it does not parse."""
    raw = text(form, name).strip()
    if not raw and not required:
        return None
    try:
        value = parse_decimal(raw, currency)
    except MoneyError as exc:
        errors[name] = FieldError(exc.code, str(exc))
        return None
    if value > MAX_AMOUNT_MINOR:
        errors[name] = FieldError("less_than_equal", "too large")
        return None
    return value


def percent_bp(raw: str) -> int | None:
    """``"12.5"`` or ``"12.5%"`` as basis points (1250); None if it is not such a number."""
    found = _PERCENT.match(raw)
    if not found:
        return None
    return int(found.group(1)) * 100 + int((found.group(2) or "").ljust(2, "0"))


def rule_value(form: Mapping[str, Any], rule: str, currency: str, errors: Errors, *, name: str = "value") -> int:
    """The value of a price rule: a percentage for markups in %, an amount for the others, 0 for inherit."""
    if rule == "inherit":
        return 0
    if rule in PERCENT_RULES:
        bp = percent_bp(text(form, name))
        if bp is None:
            errors[name] = FieldError("percent", "enter a percentage like 15 or 12.5")
            return 0
        return bp
    return amount(form, name, currency, errors) or 0


def whole(form: Mapping[str, Any], name: str, errors: Errors, *, default: int) -> int:
    """A whole number input (empty: ``default``)."""
    raw = text(form, name).strip()
    if not raw:
        return default
    if not _WHOLE.match(raw):
        errors[name] = FieldError("int_parsing", "enter a whole number")
        return default
    return int(raw)


def parse_id(raw: str) -> int | None:
    """An id from a query string or form; None unless it is digits that fit the column."""
    raw = raw.strip()
    return int(raw) if raw.isdigit() and len(raw) <= 19 and int(raw) <= MAX_ID else None


def optional_id(form: Mapping[str, Any], name: str, errors: Errors) -> int | None:
    """An id chosen from a list; empty means none."""
    raw = text(form, name).strip()
    if not raw:
        return None
    found = parse_id(raw)
    if found is None:
        errors[name] = FieldError("literal_error", "choose one of the options")
    return found
