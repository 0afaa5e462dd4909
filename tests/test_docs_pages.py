"""The resource reference pages: every declared operation on exactly one page (no mkdocs needed)."""

from __future__ import annotations

import importlib.util
import re
from pathlib import Path
from types import SimpleNamespace

import pytest

from karbon_async._resources import operation_table

ROOT = Path(__file__).resolve().parent.parent
spec = importlib.util.spec_from_file_location("mkdocs_hooks", ROOT / "tools" / "mkdocs_hooks.py")
assert spec is not None
assert spec.loader is not None
hooks = importlib.util.module_from_spec(spec)
spec.loader.exec_module(hooks)


def rendered_pages() -> str:
    out = []
    for path in sorted((ROOT / "docs" / "resources").glob("*.md")):
        page = SimpleNamespace(file=SimpleNamespace(src_path=str(path.relative_to(ROOT))))
        out.append(hooks.on_page_markdown(path.read_text(encoding="utf-8"), page))
    hooks.on_post_build()
    return "\n".join(out)


def test_every_operation_is_one_table_row() -> None:
    text = rendered_pages()
    for attribute, entry in operation_table():
        row = rf"^\| .*`{entry.method_name}`.* \| `{entry.operation_id}` \|"
        rows = re.findall(row, text, re.M)
        assert len(rows) == 1, (attribute, entry)
    assert "::: karbon_async.models.Contact\n" in text


def test_a_resource_on_no_page_fails_the_build() -> None:
    page = SimpleNamespace(file=SimpleNamespace(src_path="resources/x.md"))
    hooks.on_page_markdown("<!-- resources: contacts -->", page)
    with pytest.raises(ValueError, match="organizations"):
        hooks.on_post_build()
