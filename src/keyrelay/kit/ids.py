"""Identifiers that must be unique and unguessable (order numbers, tokens)."""

import secrets

from keyrelay.kit.clock import utcnow

# Crockford base32 without I, L, O, U: easy to read aloud and to type from a receipt.
_ALPHABET = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"


def random_code(length: int) -> str:
    """``length`` symbols of Crockford base32 (5 bits each) from the OS CSPRNG."""
    return "".join(secrets.choice(_ALPHABET) for _ in range(length))


def new_order_number() -> str:
    """``KR`` + UTC date + 14 random symbols (70 bits): sortable by day, not guessable."""
    return f"KR{utcnow():%y%m%d}{random_code(14)}"
