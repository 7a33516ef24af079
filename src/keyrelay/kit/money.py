"""Money as integer minor units with a currency. There are no floats here on purpose."""

from __future__ import annotations

import re
from dataclasses import dataclass

#: Minor-unit exponents for the currencies we display; anything else defaults to 2.
_EXPONENTS = {"CNY": 2, "USD": 2, "EUR": 2, "JPY": 0, "HKD": 2, "USDT": 2}
_SYMBOLS = {"CNY": "¥", "USD": "$", "EUR": "€", "JPY": "¥", "HKD": "HK$"}
_DECIMAL = re.compile(r"^\s*(\d{1,15})(?:\.(\d{1,4}))?\s*$")
CURRENCY = re.compile(r"^[A-Z]{3,4}$")
#: Largest price or order total accepted: money columns are 64-bit, and 10^15 stays exact in JSON doubles.
MAX_AMOUNT_MINOR = 10**15


class MoneyError(ValueError):
    """Raised for amounts that are not exact, non-negative minor-unit values; ``code`` says which."""

    def __init__(self, message: str, code: str = "money") -> None:
        super().__init__(message)
        self.code = code


@dataclass(frozen=True, slots=True)
class Money:
    """An exact amount: ``minor`` units of ``currency`` (e.g. 1999 CNY = ¥19.99)."""

    minor: int
    currency: str

    def __post_init__(self) -> None:
        if isinstance(self.minor, bool) or not isinstance(self.minor, int):
            raise MoneyError("amount must be an integer number of minor units")
        if not CURRENCY.match(self.currency):
            raise MoneyError(f"unknown currency code {self.currency!r}")

    def __add__(self, other: Money) -> Money:
        self._same_currency(other)
        return Money(self.minor + other.minor, self.currency)

    def __sub__(self, other: Money) -> Money:
        self._same_currency(other)
        return Money(self.minor - other.minor, self.currency)

    def times(self, quantity: int) -> Money:
        """Multiply by a whole quantity (never a fraction: splits live in the ledger)."""
        return Money(self.minor * quantity, self.currency)

    def _same_currency(self, other: Money) -> None:
        if other.currency != self.currency:
            raise MoneyError(f"cannot mix {self.currency} and {other.currency}")

    def format(self) -> str:
        """Human form such as ``¥19.99``."""
        return format_minor(self.minor, self.currency)


def exponent(currency: str) -> int:
    """Digits after the decimal point for ``currency``."""
    return _EXPONENTS.get(currency, 2)


def format_minor(minor: int, currency: str) -> str:
    """Render minor units as a decimal string with the currency symbol."""
    exp = exponent(currency)
    sign = "-" if minor < 0 else ""
    whole, frac = divmod(abs(minor), 10**exp) if exp else (abs(minor), 0)
    body = f"{whole:,}" + (f".{frac:0{exp}d}" if exp else "")
    symbol = _SYMBOLS.get(currency)
    return f"{sign}{symbol}{body}" if symbol else f"{sign}{body} {currency}"


def parse_decimal(text: str, currency: str) -> int:
    """Parse a typed decimal such as ``"19.9"`` into minor units exactly, or raise."""
    match = _DECIMAL.match(text)
    if not match:
        raise MoneyError("enter an amount like 19.99", "money_format")
    whole, frac = match.group(1), match.group(2) or ""
    exp = exponent(currency)
    if len(frac) > exp:
        raise MoneyError(f"{currency} has at most {exp} decimal places", "money_precision")
    scale: int = 10**exp
    return int(whole) * scale + (int(frac.ljust(exp, "0")) if exp else 0)
