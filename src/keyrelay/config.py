"""One typed settings object, read from ``KEYRELAY_*`` environment variables or ``.env``.

A dev/demo instance may run without configured secrets: it generates them once,
stores them under the data directory and warns loudly. Production refuses to
start without them, because a lost vault key means every stored card key is lost.
"""

from __future__ import annotations

import base64
import os
import secrets
from functools import cached_property
from pathlib import Path
from typing import Literal

import structlog
from pydantic import Field, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from keyrelay.kit.vault import Vault, VaultKey, format_vault_keys, generate_vault_key, parse_vault_keys

log = structlog.get_logger(__name__)

_PLACEHOLDERS = {"", "changeme", "change-me", "secret", "xxx", "todo"}


class ConfigError(RuntimeError):
    """The configuration cannot run safely; the message says which variable to fix."""


class Settings(BaseSettings):
    """Every tunable of KeyRelay. The README's configuration table mirrors this class."""

    model_config = SettingsConfigDict(env_prefix="KEYRELAY_", env_file=".env", extra="ignore")

    env: Literal["dev", "production"] = "dev"
    """``production`` refuses generated secrets and demo data."""
    data_dir: Path = Path("var")
    """Where the SQLite file and generated dev secrets live."""
    database_url: str = ""
    """SQLAlchemy URL; empty means ``sqlite:///<data_dir>/keyrelay.db``."""
    vault_keys: str = ""
    """Card-key encryption keys, ``id:base64url(32 bytes)``, comma separated, active first."""
    secret_key: str = ""
    """Signs console JWTs, order-access links and derives the fingerprint/sandbox keys."""
    public_url: str = ""
    """Base URL the outside world reaches us at (payment callbacks); empty: the request's."""
    hold_ttl_seconds: int = Field(default=900, ge=30, le=86400)
    """How long an unpaid order holds its card keys."""
    jwt_ttl_seconds: int = Field(default=1800, ge=60, le=86400)
    """Lifetime of a console session token."""
    request_threads: int = Field(default=40, ge=1, le=1000)
    """Requests one process works on at once (AnyIO's thread pool); the rest wait their turn."""
    db_pool_size: int = Field(default=10, ge=1, le=500)
    """Database connections each process keeps open (up to twice as many more open for bursts, then close)."""
    worker_interval_seconds: float = Field(default=0.5, gt=0, le=60)
    """Pause between worker passes when there is nothing to do."""
    lookup_per_ip_per_minute: int = Field(default=20, ge=1)
    """Central order lookup: attempts per client IP per minute."""
    lookup_per_order_per_minute: int = Field(default=8, ge=1)
    """Central order lookup: attempts per order number per minute."""
    low_stock_threshold: int = Field(default=10, ge=0)
    """Default available-key count below which a product counts as low on stock."""
    distribution_max_depth: int = Field(default=3, ge=1, le=10)
    """Deepest distributor level allowed (level 1 is invited by the operator)."""
    commission_hold_days: int = Field(default=7, ge=0, le=365)
    """Settlement hold: earnings stay pending this long before they can be withdrawn."""
    withdraw_min_minor: int = Field(default=1000, ge=1)
    """Smallest withdrawal, in minor units."""
    currency: str = "CNY"
    """Default currency for new products."""
    redis_url: str = ""
    """Redis shared by every process: rate limits, and a first look at signed requests' nonces (empty: per-process memory)."""
    rate_limit_per_ip: str = "600/minute"
    """API requests per client IP (``limits`` notation, e.g. ``100/second``)."""
    rate_limit_per_key: str = "300/minute"
    """API requests per API key."""
    webhooks_allow_private: bool = False
    """Let webhook URLs reach private, loopback and link-local addresses (LAN receivers, tests)."""
    webhooks_timeout_seconds: float = Field(default=10.0, gt=0, le=60)
    """Per-request timeout of a webhook delivery."""
    webhooks_backoff_scale: float = Field(default=1.0, ge=0, le=10)
    """Multiplies the webhook retry schedule (about a day at 1.0; tests use 0.01 or 0)."""
    payment_providers: str = ""
    """Enabled payment providers, comma separated, in checkout order. Empty: ``sandbox,balance`` in dev,
    ``balance`` in production (where the sandbox cannot be enabled)."""
    sandbox_notify_url: str = ""
    """Dev/demo only: where the sandbox gateway posts its notification; empty applies it in-process."""
    log_json: bool = False
    """Emit JSON log lines (for log shippers) instead of human-readable ones."""

    @field_validator("currency")
    @classmethod
    def _upper(cls, value: str) -> str:
        return value.upper()

    @property
    def resolved_database_url(self) -> str:
        """The database URL with the SQLite default filled in."""
        return self.database_url or f"sqlite:///{(self.data_dir / 'keyrelay.db').as_posix()}"

    @property
    def is_sqlite(self) -> bool:
        return self.resolved_database_url.startswith("sqlite")

    @cached_property
    def vault(self) -> Vault:
        """The card-key vault built from the configured keys."""
        return Vault(parse_vault_keys(self.vault_keys), fingerprint_key=self.derived_key(b"fingerprint"))

    def derived_key(self, purpose: bytes) -> bytes:
        """A 32-byte key for one purpose, so one leaked use does not expose another."""
        import hashlib
        import hmac

        return hmac.new(self.secret_key.encode(), b"keyrelay:" + purpose, hashlib.sha256).digest()

    def ensure_secrets(self) -> None:
        """Fill missing secrets in dev from a generated file; refuse in production."""
        missing = [n for n in ("vault_keys", "secret_key") if getattr(self, n).strip().lower() in _PLACEHOLDERS]
        if not missing:
            return
        names = ", ".join(f"KEYRELAY_{n.upper()}" for n in missing)
        if self.env == "production":
            raise ConfigError(f"{names} must be set in production (see `keyrelay vault genkey`)")
        stored = _load_or_create_dev_secrets(self.data_dir / "dev-secrets.env")
        for name in missing:
            setattr(self, name, stored[name])
        log.warning(
            "dev_secrets_in_use",
            message=f"{names} not set: using generated dev secrets from {self.data_dir / 'dev-secrets.env'}. "
            "NOT FOR PRODUCTION — back this file up or lose every stored card key.",
        )


def _load_or_create_dev_secrets(path: Path) -> dict[str, str]:
    """Read ``path`` (``name=value`` lines), creating it with fresh secrets the first time."""
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        body = (
            f"vault_keys={format_vault_keys([generate_vault_key('k1')])}\n"
            f"secret_key={base64.urlsafe_b64encode(secrets.token_bytes(32)).decode()}\n"
        )
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w") as handle:
            handle.write(body)
    pairs = (line.split("=", 1) for line in path.read_text().splitlines() if "=" in line)
    return {key.strip(): value.strip() for key, value in pairs}


def load_settings(**overrides: object) -> Settings:
    """Build settings from the environment (plus overrides) with secrets resolved."""
    settings = Settings(**overrides)  # type: ignore[arg-type]
    settings.ensure_secrets()
    return settings


__all__ = ["ConfigError", "Settings", "VaultKey", "load_settings"]
