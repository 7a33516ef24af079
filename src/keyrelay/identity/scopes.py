"""What an API key may do: a small fixed set of scopes; every API route declares the one it needs.

A key carries exactly the scopes it was created with, nothing implied. Console
sessions (a JWT or the console cookie) are not limited by scopes, only by their
role. The route → scope table: docs/integration.md, docs/adr/0006-declared-scopes.md.
"""

from __future__ import annotations

from enum import StrEnum


class Scope(StrEnum):
    """One right an API key can be given (the full text, with what each allows, is set from ``DESCRIPTIONS`` below)."""

    CATALOG_READ = "catalog:read"
    ORDERS_WRITE = "orders:write"
    MONEY_WRITE = "money:write"
    NETWORK_MANAGE = "network:manage"
    WEBHOOKS_MANAGE = "webhooks:manage"
    KEYS_MANAGE = "keys:manage"

    @property
    def description(self) -> str:
        return DESCRIPTIONS[self]


DESCRIPTIONS: dict[Scope, str] = {
    Scope.CATALOG_READ: "Read products, stock, prices, orders, sales, the network, the wallet and withdrawals",
    Scope.ORDERS_WRITE: "Place orders: wholesale purchases and checkouts paid from the balance",
    Scope.MONEY_WRITE: "Move money out: request withdrawals",
    Scope.NETWORK_MANAGE: "Run the shop and the network: sub-site settings, retail and child prices, invites, channels",
    Scope.WEBHOOKS_MANAGE: "Manage webhook endpoints, their secrets and their delivery log",
    Scope.KEYS_MANAGE: "List and revoke the account's API keys (keys are created only from a console session)",
}

Scope.__doc__ = "What an API key may do; a key has exactly the scopes it was created with. " + "; ".join(
    f"`{scope.value}`: {text}" for scope, text in DESCRIPTIONS.items()
)
"""The enum's docstring is its description in the OpenAPI document: one source for the wording."""

SCOPES: tuple[str, ...] = tuple(s.value for s in Scope)
"""Every scope's value, in declaration order."""
