"""The fake's modules form a layered graph: every module imports on its own, none in a circle."""

from __future__ import annotations

import ast
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

import karbon_async.testing

PACKAGE = Path(karbon_async.testing.__file__).parent
MODULES = sorted(p.stem for p in PACKAGE.glob("*.py"))


def _imports(module: str) -> set[str]:
    """Sibling modules ``module`` imports, including those imported only for type checking."""
    tree = ast.parse((PACKAGE / f"{module}.py").read_text(encoding="utf-8"))
    found: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.level == 1:
            if node.module:
                found.add(node.module.split(".")[0])
            else:
                found.update(alias.name for alias in node.names)
    return found & set(MODULES)


def test_import_graph_has_no_cycle() -> None:
    graph = {m: _imports(m) for m in MODULES}
    done: set[str] = set()

    def visit(module: str, path: tuple[str, ...]) -> None:
        if module in path:
            cycle = " -> ".join((*path[path.index(module) :], module))
            pytest.fail(f"import cycle: {cycle}")
        if module in done:
            return
        for dep in sorted(graph[module]):
            visit(dep, (*path, module))
        done.add(module)

    for module in MODULES:
        visit(module, ())
    # The walk must see real edges, or it proves nothing.
    assert "_common" in graph["_server"]
    assert "_store" in graph["_data"]


# Run in a child interpreter: the SDK and third-party packages are imported once, then each
# forked grandchild imports one testing module first, so no sibling can have been imported.
_IMPORT_EACH_FIRST = """
import importlib, os, sys
import karbon_async  # the SDK itself, never a testing module
assert not any(m.startswith("karbon_async.testing") for m in sys.modules)
children = {}
for name in sys.argv[1:]:
    pid = os.fork()
    if pid == 0:
        try:
            importlib.import_module(name)
        except BaseException as exc:
            print(name, repr(exc), file=sys.stderr, flush=True)
            os._exit(1)
        os._exit(0)
    children[pid] = name
failed = [children[pid] for pid in children if os.waitpid(pid, 0)[1] != 0]
sys.exit(1 if failed else 0)
"""


@pytest.mark.skipif(not hasattr(os, "fork"), reason="needs os.fork")
def test_each_module_imports_first_in_a_fresh_interpreter() -> None:
    # A module that only works after a sibling was imported fails here even when the package
    # import order hides it.
    names = [f"karbon_async.testing.{m}" for m in MODULES if m != "__init__"]
    proc = subprocess.run(
        [sys.executable, "-W", "error", "-c", _IMPORT_EACH_FIRST, *names],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 0, proc.stderr


def test_public_names_are_unchanged() -> None:
    assert sorted(karbon_async.testing.__all__) == [
        "ChangeEvent",
        "CollectionStore",
        "DeliveryAttempt",
        "DeliveryChaos",
        "FakeAccount",
        "FakeKarbon",
        "Fault",
        "FaultKind",
        "FaultRule",
        "ODataError",
        "WebhookDelivery",
    ]
    for name in karbon_async.testing.__all__:
        assert getattr(karbon_async.testing, name).__name__ == name


def _sample_paths(pattern: str) -> list[str]:
    """Concrete paths a route pattern matches: each alternative of a group, a key elsewhere."""
    body = pattern.removesuffix("/?$")
    paths = [body]
    for group in re.findall(r"\(\?P<\w+>[^)]*\)", body):
        inner = group[group.index(">") + 1 : -1]
        choices = inner.split("|") if "[" not in inner else ["K3yK3yK3yK3y"]
        paths = [p.replace(group, c, 1) for p in paths for c in choices]
    return paths


def test_every_routed_path_has_exactly_one_row_per_method() -> None:
    """The table's order decides nothing: one row per (method, path), so a newcomer can read
    any row alone, and every handler the domain modules define is reachable from it."""
    from karbon_async.testing._routes import ROUTES

    assert len(ROUTES) > 20
    for row in ROUTES:
        for path in _sample_paths(row.pattern.pattern):
            rows = [r for r in ROUTES if r.method == row.method and r.pattern.match(path)]
            assert rows == [row], (row.method, path, rows)
            assert row.pattern.match(path + "/"), path
    handlers = {r.handler for r in ROUTES}
    assert len(handlers) == len(ROUTES)


def test_no_module_registers_a_route_on_import() -> None:
    # Routes are rows of one table (_routes.ROUTES), never a side effect of an import.
    for module in MODULES:
        tree = ast.parse((PACKAGE / f"{module}.py").read_text(encoding="utf-8"))
        for node in ast.walk(tree):
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
                names = [ast.unparse(d) for d in node.decorator_list]
                assert not any("route" in n for n in names), f"{module}.{node.name}: {names}"
