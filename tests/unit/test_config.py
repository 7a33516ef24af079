"""Settings: generated dev secrets, and production refusing to run without real ones."""

from __future__ import annotations

import stat
from pathlib import Path

import pytest

from keyrelay.config import ConfigError, Settings
from keyrelay.kit.vault import format_vault_keys, generate_vault_key


def _settings(tmp_path: Path, **values: object) -> Settings:
    return Settings(data_dir=tmp_path, _env_file=None, **values)  # type: ignore[call-arg]


def test_production_refuses_to_start_without_secrets(tmp_path: Path) -> None:
    settings = _settings(tmp_path, env="production")
    with pytest.raises(ConfigError, match="KEYRELAY_VAULT_KEYS, KEYRELAY_SECRET_KEY"):
        settings.ensure_secrets()
    assert not (tmp_path / "dev-secrets.env").exists()


def test_production_refuses_placeholder_secrets(tmp_path: Path) -> None:
    settings = _settings(tmp_path, env="production", vault_keys=format_vault_keys([generate_vault_key("k1")]), secret_key="changeme")
    with pytest.raises(ConfigError, match="KEYRELAY_SECRET_KEY"):
        settings.ensure_secrets()


def test_dev_generates_private_secrets_once_and_reuses_them(tmp_path: Path) -> None:
    first = _settings(tmp_path)
    first.ensure_secrets()
    secrets_file = tmp_path / "dev-secrets.env"
    assert stat.S_IMODE(secrets_file.stat().st_mode) == 0o600
    blob = first.vault.encrypt(b"GIFT-1234", b"cardkey:1")

    second = _settings(tmp_path)
    second.ensure_secrets()
    assert second.secret_key == first.secret_key
    assert second.vault.decrypt(blob, b"cardkey:1") == b"GIFT-1234"  # a restart can still open stored keys


def test_configured_secrets_are_used_as_given(tmp_path: Path) -> None:
    keys = format_vault_keys([generate_vault_key("prod1")])
    settings = _settings(tmp_path, env="production", vault_keys=keys, secret_key="s" * 48)
    settings.ensure_secrets()
    assert settings.vault.active_key_id == "prod1"
    assert not (tmp_path / "dev-secrets.env").exists()
