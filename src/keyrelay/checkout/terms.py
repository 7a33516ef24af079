"""The instance's terms of sale that every use case of the pipeline needs."""

from __future__ import annotations

from dataclasses import dataclass

from keyrelay.payments.registry import Registry


@dataclass(frozen=True)
class Terms:
    """Built once from settings (``Terms.from_settings``) and shared by every request."""

    providers: Registry
    """The enabled payment providers."""
    hold_seconds: int = 900
    """How long an unpaid order holds its stock."""
    commission_hold_days: int = 7
    """Settlement hold: earnings stay pending this long."""
