"""Turn console form posts into service inputs, and validation failures into per-field messages.

HTML forms send strings; the schemas want typed values (prices as integers of
minor units). Conversion happens here so handlers stay thin and every problem
comes back as ``{field: FieldError}`` for the template to show beside its input.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Annotated, Any

from fastapi import Depends, Request
from pydantic import ValidationError

from keyrelay.catalog.schemas import CategoryIn, ProductIn
from keyrelay.kit.errors import DomainError
from keyrelay.kit.money import MoneyError, exponent, format_minor, parse_decimal

FORM_LEVEL = "__all__"
"""Key of problems that concern the whole form (e.g. prices out of order)."""

MONEY_FIELDS = {"price": "price_minor", "supply_price": "supply_price_minor", "map_price": "map_minor"}
"""Decimal inputs of the product form and the schema field each becomes."""


@dataclass(frozen=True)
class FieldError:
    """One problem: ``code`` lets the template word common cases, ``message`` is the English fallback.

    A domain error brings ``say`` (its console wording, a msgid) and ``params``
    (already formatted for people), which the template translates.
    """

    code: str
    message: str
    say: str = ""
    params: Mapping[str, object] = field(default_factory=dict)


Errors = dict[str, FieldError]


def from_validation(exc: ValidationError, renames: Mapping[str, str] | None = None) -> Errors:
    """First message per field; schema names are mapped back to the form's input names."""
    back = {schema: form for form, schema in (renames or {}).items()}
    errors: Errors = {}
    for err in exc.errors():
        field = str(err["loc"][0]) if err["loc"] else FORM_LEVEL
        message = str(err["msg"]).removeprefix("Value error, ")
        errors.setdefault(back.get(field, field), FieldError(str(err["type"]), message))
    return errors


def from_domain(exc: DomainError, currency: str = "") -> Errors:
    """A service's typed error, placed on its field when it names one."""
    return {exc.field or FORM_LEVEL: field_error(exc, currency)}


def field_error(exc: DomainError, currency: str = "") -> FieldError:
    """The error as a console shows it: its code, its wording and its parameters (money as money)."""
    return FieldError(exc.code, exc.detail, exc.say, shown_params(exc, currency))


def shown_params(exc: DomainError, currency: str = "") -> dict[str, object]:
    """Parameters for people: ``*_minor`` amounts in the error's (or the page's) currency."""
    money_in = str(exc.params.get("currency") or currency)
    shown: dict[str, object] = {}
    for name, value in exc.params.items():
        if name.endswith("_minor") and isinstance(value, int) and money_in:
            shown[name] = format_minor(value, money_in)
        elif isinstance(value, list | tuple):
            shown[name] = ", ".join(str(v) for v in value)
        else:
            shown[name] = value
    return shown


def checkbox(form: Mapping[str, Any], name: str) -> bool:
    return str(form.get(name, "")).lower() in ("on", "1", "true", "yes")


def text(form: Mapping[str, Any], name: str) -> str:
    value = form.get(name, "")
    return value if isinstance(value, str) else ""


def category_input(form: Mapping[str, Any]) -> CategoryIn:
    """Raises ``ValidationError``; nothing is written before the input is whole."""
    return CategoryIn.model_validate(
        {
            "name": text(form, "name"),
            "slug": text(form, "slug"),
            "description": text(form, "description"),
            "sort_order": text(form, "sort_order") or 0,
            "is_active": checkbox(form, "is_active"),
        }
    )


def product_input(form: Mapping[str, Any]) -> tuple[ProductIn | None, Errors]:
    """Build a ``ProductIn`` from decimal prices; return every problem at once, not just the first."""
    currency = text(form, "currency").strip().upper() or "CNY"
    money: dict[str, int | None] = {}
    errors: Errors = {}
    for name, schema_field in MONEY_FIELDS.items():
        raw = text(form, name).strip()
        if not raw and name != "price":
            money[schema_field] = 0
            continue
        try:
            money[schema_field] = parse_decimal(raw, currency)
        except MoneyError as exc:
            money[schema_field] = None
            errors[name] = FieldError(exc.code, str(exc))
    markup = text(form, "max_markup_bp").strip()
    values: dict[str, Any] = {
        "category_id": text(form, "category_id") or 0,
        "name": text(form, "name"),
        "slug": text(form, "slug"),
        "description": text(form, "description"),
        "kind": text(form, "kind") or "card_key",
        "currency": currency,
        "max_markup_bp": markup or None,
        "max_per_order": text(form, "max_per_order") or 10,
        "max_per_contact": text(form, "max_per_contact") or 0,
        "low_stock_threshold": text(form, "low_stock_threshold") or 10,
        "fixed_content": text(form, "fixed_content") or None,
        "is_active": checkbox(form, "is_active"),
        "sort_order": text(form, "sort_order") or 0,
        **money,
    }
    try:
        product = ProductIn.model_validate(values)
    except ValidationError as exc:
        # A money input that did not parse already has the clearer message; keep it.
        return None, {**from_validation(exc, MONEY_FIELDS), **errors}
    return (None, errors) if errors else (product, {})


def decimal_of(minor: int, currency: str) -> str:
    """Minor units back into the plain decimal an edit form shows (``1999`` → ``19.99``)."""
    digits = exponent(currency)
    whole, frac = divmod(minor, 10**digits)
    return f"{whole}.{frac:0{digits}d}" if digits else str(whole)


async def posted(request: Request) -> dict[str, Any]:
    """Dependency: the posted fields (parsed once, within the console's limits, by the route guard)."""
    return dict(await request.form())


Posted = Annotated[dict[str, Any], Depends(posted)]
"""Lets handlers stay synchronous (database work runs in the thread pool) yet read any form."""
