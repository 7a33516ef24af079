"""Every error the product raises has a declared code, a documented meaning and a console wording that fits."""

from __future__ import annotations

import ast
import re
import subprocess
import sys
from pathlib import Path

from babel.messages.pofile import read_po

from keyrelay import problems
from keyrelay.kit import errors

ROOT = Path(__file__).resolve().parents[2]
SRC = ROOT / "src" / "keyrelay"
GENERIC = {cls.__name__ for cls in problems.GENERIC} | {"DomainError"}
PLACEHOLDER = re.compile(r"%\((\w+)\)[sr]")


def test_docs_list_every_code_the_product_can_answer() -> None:
    """docs/api.md carries the generated table: a new code without it fails here."""
    check = subprocess.run([sys.executable, str(ROOT / "scripts" / "error_codes.py"), "--check"], capture_output=True, text=True)
    assert check.returncode == 0, check.stderr
    documented = set(re.findall(r"^\| `(\w+)` \|", (ROOT / "docs" / "api.md").read_text(encoding="utf-8"), flags=re.M))
    assert {row.code for row in problems.catalog()} <= documented


def test_no_generic_error_is_raised_without_a_declared_code() -> None:
    """``raise ValidationFailed("…")`` would answer a code nobody declared; raise ``SOME_CODE(...)`` instead."""
    offenders = []
    for path in SRC.rglob("*.py"):
        tree = ast.parse(path.read_text(encoding="utf-8"))
        for node in ast.walk(tree):
            if isinstance(node, ast.Raise) and isinstance(node.exc, ast.Call):
                func = node.exc.func
                name = func.attr if isinstance(func, ast.Attribute) else func.id if isinstance(func, ast.Name) else ""
                if name in GENERIC:
                    offenders.append(f"{path.relative_to(SRC)}:{node.lineno} raise {name}(…)")
    assert offenders == []


def test_codes_are_snake_case_with_one_status() -> None:
    for code, specs in errors.all_codes().items():
        assert re.fullmatch(r"[a-z][a-z0-9_]*", code), code
        assert len({s.status for s in specs}) == 1, code


def test_each_wording_uses_only_its_codes_parameters() -> None:
    """The console formats ``say`` with the error's parameters: a placeholder the detail lacks would crash a page."""
    for code, specs in errors.all_codes().items():
        for spec in specs:
            assert set(PLACEHOLDER.findall(spec.say)) <= set(PLACEHOLDER.findall(spec.detail)), (code, spec.say)


def test_every_wording_is_translated_into_chinese() -> None:
    po = read_po((SRC / "locale" / "zh_CN" / "LC_MESSAGES" / "messages.po").open("rb"))
    translated = {m.id: m.string for m in po if m.id and m.string and not m.fuzzy}
    missing = sorted({spec.say for specs in errors.all_codes().values() for spec in specs if spec.say and spec.say not in translated})
    assert missing == []
    for specs in errors.all_codes().values():
        for spec in specs:
            if spec.say:
                assert set(PLACEHOLDER.findall(translated[spec.say])) == set(PLACEHOLDER.findall(spec.say)), spec.say


def test_raising_a_code_carries_its_parameters() -> None:
    from keyrelay.inventory import errors as inventory_errors

    exc = inventory_errors.ONLY_SOME_LEFT(field="quantity", available=3)
    assert (exc.code, exc.status, exc.field, exc.params) == ("out_of_stock", 409, "quantity", {"available": 3})
    assert exc.detail == "only 3 left in stock"
    assert exc.say == "Only %(available)s left in stock."
