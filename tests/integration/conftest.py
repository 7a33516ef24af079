"""Fixtures shared by the integration tests; data is built with ``tests/factories.py``."""

from __future__ import annotations

import pytest
from factories import make_providers

from keyrelay.checkout import Terms
from keyrelay.config import Settings
from keyrelay.kit.vault import Vault


@pytest.fixture
def vault(settings: Settings) -> Vault:
    """The instance's card-key vault (active key ``t1``)."""
    return settings.vault


@pytest.fixture
def providers(settings: Settings) -> Terms:
    return make_providers(settings)
