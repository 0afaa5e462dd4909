"""Every operationId has a test against FakeKarbon: tests/test_operations_*.py mark the
operations they exercise with ``@covers(...)``."""

from __future__ import annotations

import ast
from pathlib import Path

from karbon_async._generated import OPERATIONS


def covered_operations() -> set[str]:
    found: set[str] = set()
    for path in Path(__file__).parent.glob("test_operations_*.py"):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if (
                isinstance(node, ast.Call)
                and isinstance(node.func, ast.Name)
                and node.func.id == "covers"
            ):
                found.update(
                    arg.value
                    for arg in node.args
                    if isinstance(arg, ast.Constant) and isinstance(arg.value, str)
                )
    return found


def test_covers_names_only_real_operations() -> None:
    assert covered_operations() - set(OPERATIONS) == set()


def test_every_operation_has_a_fake_karbon_test() -> None:
    missing = sorted(set(OPERATIONS) - covered_operations())
    assert missing == [], f"{len(missing)} operations without a FakeKarbon test: {missing}"


def test_docs_operations_table_is_current() -> None:
    import importlib.util

    root = Path(__file__).resolve().parent.parent
    spec = importlib.util.spec_from_file_location(
        "operations_table", root / "tools" / "operations_table.py"
    )
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    text = (root / "docs" / "OPERATIONS.md").read_text(encoding="utf-8")
    assert text == module.render(), "run python tools/operations_table.py"
    assert "Coverage: 74/74" in text
