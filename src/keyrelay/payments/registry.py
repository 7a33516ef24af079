"""The payment providers of this instance, built once from settings.

Adding a provider is one module under ``payments/providers`` plus one line in
``_FACTORIES``. Nothing outside ``payments`` names a provider: the order
pipeline, the storefront and the API ask this registry what is enabled.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

from keyrelay.payments import errors
from keyrelay.payments.providers.balance import BalanceProvider
from keyrelay.payments.providers.base import PaymentProvider
from keyrelay.payments.providers.sandbox import SandboxProvider


class ProviderConfigError(ValueError):
    """The configured providers cannot run in this environment."""


@dataclass(frozen=True)
class ProviderSecrets:
    """What providers may need from settings (credentials arrive with real gateways)."""

    sandbox_secret: bytes
    sandbox_notify_url: str = ""

    @classmethod
    def derived(cls, derive_key: Callable[[bytes], bytes], *, sandbox_notify_url: str = "") -> ProviderSecrets:
        """Each provider's keys derived from the instance secret, one purpose each."""
        return cls(sandbox_secret=derive_key(b"sandbox"), sandbox_notify_url=sandbox_notify_url)


_FACTORIES: dict[str, Callable[[ProviderSecrets], PaymentProvider]] = {
    "sandbox": lambda s: SandboxProvider(s.sandbox_secret, notify_url=s.sandbox_notify_url),
    "balance": lambda _s: BalanceProvider(),
}
DEV_ONLY = frozenset({"sandbox"})
"""Providers whose money is make-believe: they never exist in production."""
REAL = frozenset(_FACTORIES) - DEV_ONLY - {"balance"}
"""Providers that take real money from outside (none yet; the next gateways go here)."""
DEV_DEFAULT = ("sandbox", "balance")
PRODUCTION_DEFAULT = ("balance",)


class Registry:
    """The enabled providers, in the order checkout offers them."""

    def __init__(self, providers: Sequence[PaymentProvider]) -> None:
        self._by_name = {p.name: p for p in providers}

    def names(self) -> list[str]:
        return list(self._by_name)

    def enabled(self) -> list[PaymentProvider]:
        return list(self._by_name.values())

    def has(self, name: str) -> bool:
        return name in self._by_name

    def get(self, name: str) -> PaymentProvider:
        """The provider called ``name``; an unknown or disabled one is invalid input."""
        try:
            return self._by_name[name]
        except KeyError:
            raise errors.UNKNOWN_PROVIDER(field="payment_provider", choices=self.names()) from None

    def gateway(self, name: str) -> PaymentProvider:
        """A provider that sends callbacks; ``KeyError`` for anything else (unknown callbacks are rejected)."""
        provider = self._by_name.get(name)
        if provider is None or provider.settles_at_checkout:
            raise KeyError(name)
        return provider

    def sandbox(self) -> SandboxProvider | None:
        """The sandbox gateway when enabled (development and demos only)."""
        provider = self._by_name.get("sandbox")
        return provider if isinstance(provider, SandboxProvider) else None

    def for_buyer(self, *, signed_in: bool) -> list[PaymentProvider]:
        """What checkout offers this buyer."""
        return [p for p in self._by_name.values() if signed_in or not p.requires_account]

    def default_for(self, *, signed_in: bool) -> str:
        """The provider used when a request names none: the first this buyer may use."""
        offered = self.for_buyer(signed_in=signed_in) or self.enabled()
        return offered[0].name

    def wallet(self) -> PaymentProvider:
        """The provider that pays from the buyer's own wallet (wholesale purchases)."""
        for provider in self._by_name.values():
            if provider.pays_from_wallet:
                return provider
        raise errors.WALLET_OFF(field="payment_provider")


def build(names: Sequence[str], *, production: bool, secrets: ProviderSecrets) -> Registry:
    """The registry for ``names`` (empty: the environment's default), refusing what production must not run."""
    chosen = [n.strip() for n in names if n.strip()] or list(PRODUCTION_DEFAULT if production else DEV_DEFAULT)
    unknown = [n for n in chosen if n not in _FACTORIES]
    if unknown:
        raise ProviderConfigError(f"unknown payment providers: {', '.join(unknown)} (known: {', '.join(_FACTORIES)})")
    if production and DEV_ONLY & set(chosen):
        raise ProviderConfigError("the sandbox gateway takes no real money and cannot be enabled in production")
    return Registry([_FACTORIES[name](secrets) for name in dict.fromkeys(chosen)])
