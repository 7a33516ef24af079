"""The committed OpenAPI document (docs/openapi.json) is what the app serves, and it documents the API well.

When the first test fails, the API changed: run ``.venv/bin/python scripts/openapi.py``,
review the diff of docs/openapi.json (v1 may only grow: see docs/api-versioning.md) and commit it.
"""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest
from fastapi.testclient import TestClient

ROOT = Path(__file__).resolve().parents[2]
COMMITTED = ROOT / "docs" / "openapi.json"
METHODS = {"get", "put", "post", "delete", "patch", "head", "options"}


def _script() -> ModuleType:
    spec = importlib.util.spec_from_file_location("_openapi_script", ROOT / "scripts" / "openapi.py")
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def generated() -> dict[str, Any]:
    doc: dict[str, Any] = _script().generate()
    return doc


def _operations(doc: dict[str, Any], prefix: str = "/api/v1") -> list[tuple[str, str, dict[str, Any]]]:
    return [
        (method.upper(), path, op)
        for path, item in doc["paths"].items()
        if path.startswith(prefix)
        for method, op in item.items()
        if method in METHODS
    ]


def test_the_committed_document_is_what_the_app_generates(generated: dict[str, Any]) -> None:
    script = _script()
    committed = COMMITTED.read_text(encoding="utf-8") if COMMITTED.exists() else ""
    assert committed == script.render(generated), "docs/openapi.json differs from the app's OpenAPI document: run scripts/openapi.py"


def test_the_served_document_is_the_generated_one(generated: dict[str, Any], tmp_path: Path) -> None:
    from keyrelay.app import create_app
    from keyrelay.config import Settings
    from keyrelay.kit.vault import format_vault_keys, generate_vault_key

    settings = Settings(
        database_url=f"sqlite:///{tmp_path}/served.db",
        data_dir=tmp_path,
        vault_keys=format_vault_keys([generate_vault_key("served")]),
        secret_key="served-" + "y" * 40,
        _env_file=None,  # type: ignore[call-arg]
    )
    with TestClient(create_app(settings)) as client:
        served = client.get("/openapi.json").json()
    assert served == json.loads(json.dumps(generated))


def test_every_v1_operation_has_a_summary_and_a_description(generated: dict[str, Any]) -> None:
    undocumented = [f"{m} {p}" for m, p, op in _operations(generated) if not (op.get("summary") and op.get("description"))]
    assert not undocumented, f"add a docstring to these routes: {undocumented}"


def test_operation_ids_are_unique(generated: dict[str, Any]) -> None:
    ids = [op["operationId"] for _, _, op in _operations(generated, "/")]
    assert len(ids) == len(set(ids))


def test_errors_are_documented_as_problem_json(generated: dict[str, Any]) -> None:
    for method, path, op in _operations(generated, "/api/"):
        for status, answer in op["responses"].items():
            if status == "default" or status[0] in "45":
                assert list(answer["content"]) == ["application/problem+json"], f"{method} {path} {status}"
        assert "default" in op["responses"], f"{method} {path}"
    assert "HTTPValidationError" not in json.dumps(generated)
    problem = generated["components"]["schemas"]["Problem"]
    assert {"type", "title", "status", "detail", "code"} <= set(problem["required"])


def test_creating_posts_document_idempotency_answers(generated: dict[str, Any]) -> None:
    purchase = generated["paths"]["/api/v1/distributor/purchases"]["post"]
    assert "idempotency_in_progress" in purchase["responses"]["409"]["description"]
    assert "idempotency_key_reused" in purchase["responses"]["422"]["description"]
    body = generated["components"]["schemas"]["PurchaseIn"]
    assert body.get("examples"), "the wholesale purchase carries a request example"
