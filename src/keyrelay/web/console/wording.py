"""Service error messages reworded for the consoles: translated, with minor units shown as money.

Services speak English and count in minor units ("retail may not be below your
cost (9000)"); a person who typed ``85.00`` should read "… your cost (¥90.00)"
in their own language. Each known message is matched once here; anything else
is shown as the service worded it.
"""

from __future__ import annotations

import re
from collections.abc import Mapping

from fastapi import Request

from keyrelay.kit.errors import DomainError
from keyrelay.kit.money import format_minor
from keyrelay.web import i18n
from keyrelay.web.console.forms import FORM_LEVEL, Errors, FieldError

EXPLAINED = "explained"
"""Code of a reworded problem: the console macros then show its message as it is."""


def N_(message: str) -> str:
    """Mark a message for extraction; it is translated later, when a reader's language is known."""
    return message


# Named groups called ``amount`` are minor units, shown as money in the product's currency.
_MESSAGES: list[tuple[str, str]] = [
    (
        r"retail may not be below the minimum advertised price \((?P<amount>-?\d+)\)",
        N_("Retail may not be below the minimum advertised price (%(amount)s)."),
    ),
    (r"retail may not be below your cost \((?P<amount>-?\d+)\)", N_("Retail may not be below your cost (%(amount)s).")),
    (r"retail may not exceed (?P<amount>-?\d+) \(maximum markup\)", N_("Retail may not be above the ceiling (%(amount)s).")),
    (r"price must be a positive integer of minor units", N_("Enter a price above zero, like 19.99.")),
    (
        r"your children's price may not be below your own cost \((?P<amount>-?\d+)\)",
        N_("Your sub-distributors' price may not be below your own cost (%(amount)s)."),
    ),
    (r"a default rule cannot be a fixed price; use a markup", N_("A default rule cannot be a fixed price: use a markup.")),
    (r"rule must be one of .*", N_("Choose one of the options.")),
    (r"value must be a non-negative integer .*", N_("Enter a value of zero or more.")),
    (r"level must be between 1 and (?P<n>\d+)", N_("The level must be between 1 and %(n)s.")),
    (r"a level price may not be below the supply price", N_("A level price may not be below the supply price.")),
    (r"max_uses must be between 1 and 1000", N_("Uses must be between 1 and 1000.")),
    (r"ttl_hours must be between 1 and 2160", N_("Validity must be between 1 and 2160 hours.")),
    (r"distributors invite under themselves only", N_("You can only invite under yourself.")),
    (r"a suspended or unapproved distributor cannot invite", N_("Your account is not active, so you cannot invite yet.")),
    (r"the network is at most (?P<n>\d+) levels deep", N_("The network is at most %(n)s levels deep.")),
    (r"channel name must be 1–60 characters", N_("The channel name must be 1–60 characters.")),
    (r"kind must be one of .*", N_("Choose one of the options.")),
    (r"you already have a channel with this name", N_("You already have a channel with this name.")),
    (r"quantity must be a whole number of at least 1", N_("Enter a whole number of at least 1.")),
    (r"at most (?P<n>\d+) per order", N_("At most %(n)s per order.")),
    (
        r"at most (?P<n>\d+) per buyer per day \((?P<m>\d+) already ordered\)",
        N_("At most %(n)s per buyer per day (%(m)s already ordered)."),
    ),
    (r"only (?P<n>\d+) left in stock", N_("Only %(n)s left in stock.")),
    (r"out of stock", N_("Out of stock.")),
    (r"the wallet balance is too low for this payment", N_("Your balance is too low for this. Top up or choose a smaller amount.")),
    (
        r"this distributor is not active \(pending approval or suspended\)",
        N_("Your account is not active (pending approval or suspended)."),
    ),
    (r"this product is not available here at the moment \(retail below cost\)", N_("This product is not available at the moment.")),
    (r"the order total is too large; order fewer units", N_("The order total is too large: order fewer units.")),
    (r"this channel is switched off", N_("This channel is switched off.")),
    (r"channel \d+ does not exist", N_("Choose one of your channels.")),
    (r"product \d+ does not exist", N_("Choose a product from the list.")),
    (r"amount must be a positive integer of minor units", N_("Enter an amount above zero, like 12.50.")),
    (r"the minimum withdrawal is (?P<amount>\d+) minor units", N_("The minimum withdrawal is %(amount)s.")),
    (r"say where the money should go", N_("Say where the money should go.")),
    (r"shop name must be 1–80 characters", N_("The shop name must be 1–80 characters.")),
    (r"logo must be an http\(s\) URL or a path", N_("The logo must be an http(s) URL or a path.")),
    (r"host must be a domain name such as shop.example.com", N_("The host must be a domain name such as shop.example.com.")),
    (r"another shop uses this host name", N_("Another shop uses this host name.")),
    (r"a (?P<a>\w+) distributor cannot become (?P<b>\w+)", N_("Not possible for a distributor in this state; nothing was changed.")),
    (r"a (?P<a>\w+) withdrawal cannot become (?P<b>\w+)", N_("Not possible for a withdrawal in this state; nothing was changed.")),
    (r"the withdrawal was changed concurrently", N_("Someone else changed this withdrawal just now; reload the page.")),
    (r"enter the payout reference", N_("Enter the payout reference.")),
    (r"say why the order is refunded", N_("Say why the order is refunded.")),
    (r"enter what the buyer receives", N_("Enter what the buyer receives.")),
    (r"content is longer than 16 KiB", N_("The content is longer than 16 KiB.")),
    (r"distributor \d+ does not exist", N_("Choose a distributor from the list.")),
    (r"an order that is (?P<a>\w+) cannot become (?P<b>\w+)", N_("Not possible in the order's current state; nothing was changed.")),
]
_COMPILED = [(re.compile(f"^{pattern}$"), msgid) for pattern, msgid in _MESSAGES]


def reword(request: Request, exc: DomainError, currency: str) -> FieldError:
    """The problem as this request's reader should see it."""
    gettext = i18n.formatting_gettext(i18n.translations(i18n.choose_language(request)))
    for pattern, msgid in _COMPILED:
        found = pattern.match(exc.detail)
        if found:
            values = {k: format_minor(int(v), currency) if k == "amount" else v for k, v in found.groupdict().items()}
            return FieldError(EXPLAINED, gettext(msgid, **values))
    return FieldError(exc.code, exc.detail)


def errors_of(request: Request, exc: DomainError, currency: str, fields: Mapping[str, str] | None = None) -> Errors:
    """``{form input: problem}``; ``fields`` maps a service's field name onto the form's input name."""
    field = (fields or {}).get(exc.field or "", exc.field) or FORM_LEVEL
    return {field: reword(request, exc, currency)}


def problem(request: Request, message: str, **values: object) -> FieldError:
    """A problem found by the web layer itself (e.g. a decimal that does not parse), translated."""
    gettext = i18n.formatting_gettext(i18n.translations(i18n.choose_language(request)))
    return FieldError(EXPLAINED, gettext(message, **values))
