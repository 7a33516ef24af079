"""End-to-end fixtures; the machinery lives in ``harness.py``."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from .harness import DeployFactory, deployments


@pytest.fixture(scope="module")
def deploy(tmp_path_factory: pytest.TempPathFactory, test_secrets: dict[str, str]) -> Iterator[DeployFactory]:
    """``deploy(backend, servers=1)`` → a running ``Deployment``; all are torn down with the module."""
    yield from deployments(tmp_path_factory, test_secrets)
