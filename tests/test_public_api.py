"""``karbon_async.__all__`` is honest: everything listed imports, everything public is listed."""

from __future__ import annotations

import importlib
import types

import karbon_async as ka


def test_every_name_in_all_is_importable() -> None:
    assert len(ka.__all__) == len(set(ka.__all__))
    for name in ka.__all__:
        assert hasattr(ka, name), name
        module = importlib.import_module("karbon_async")
        assert getattr(module, name) is getattr(ka, name)


def test_every_public_attribute_is_listed() -> None:
    public = {
        name
        for name, value in vars(ka).items()
        if not name.startswith("_") and not isinstance(value, types.ModuleType)
    }
    assert public - set(ka.__all__) == set()


def test_star_import_gives_exactly_all() -> None:
    namespace: dict[str, object] = {}
    exec("from karbon_async import *", namespace)
    namespace.pop("__builtins__")
    assert set(namespace) == set(ka.__all__)
