"""Domain errors worded for the consoles: translated by code and parameters, minor units shown as money.

Services speak English and count in minor units ("retail may not be below your
cost (9000)"); a person who typed ``85.00`` should read "… your cost (¥90.00)"
in their own language. Each error carries its console wording (``say``, a
msgid declared with its code) and its parameters, so nothing here reads the
English text; an error without a wording is shown as the service worded it.
"""

from __future__ import annotations

from collections.abc import Mapping

from fastapi import Request

from keyrelay.kit.errors import N_ as N_  # re-exported: console modules mark their own wording with it
from keyrelay.kit.errors import DomainError
from keyrelay.web import i18n
from keyrelay.web.console.forms import FORM_LEVEL, Errors, FieldError, shown_params

EXPLAINED = "explained"
"""Code of a reworded problem: the console macros then show its message as it is."""


def reword(request: Request, exc: DomainError, currency: str) -> FieldError:
    """The problem as this request's reader should see it."""
    if not exc.say:
        return FieldError(exc.code, exc.detail)
    gettext = i18n.formatting_gettext(i18n.translations(i18n.choose_language(request)))
    return FieldError(EXPLAINED, gettext(exc.say, **shown_params(exc, currency)))


def errors_of(request: Request, exc: DomainError, currency: str, fields: Mapping[str, str] | None = None) -> Errors:
    """``{form input: problem}``; ``fields`` maps a service's field name onto the form's input name."""
    field = (fields or {}).get(exc.field or "", exc.field) or FORM_LEVEL
    return {field: reword(request, exc, currency)}


def problem(request: Request, message: str, **values: object) -> FieldError:
    """A problem found by the web layer itself (e.g. a decimal that does not parse), translated."""
    gettext = i18n.formatting_gettext(i18n.translations(i18n.choose_language(request)))
    return FieldError(EXPLAINED, gettext(message, **values))
