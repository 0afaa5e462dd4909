"""RedisBudget's parts a newcomer finds in their own places: its Lua scripts are package files
(loaded through importlib.resources, shipped as package data) and its local fallback window is
a class of its own. The budget's behaviour is proven by the redis tests with a real server."""

from __future__ import annotations

import math
import re
from importlib import resources
from pathlib import Path

import pytest

import karbon_async as ka
from karbon_async._redis_window import LocalWindow

pytest.importorskip("redis")

from karbon_async._redis_budget import SCRIPTS, load_script

ROOT = Path(__file__).resolve().parent.parent


def test_every_script_is_a_package_file_with_its_includes_filled_in() -> None:
    folder = resources.files("karbon_async").joinpath(SCRIPTS)
    names = sorted(entry.name for entry in folder.iterdir() if entry.name.endswith(".lua"))
    assert names == [
        "acquire.lua",
        "close.lua",
        "cool_down.lua",
        "release.lua",
        "release_slots.lua",
        "restore.lua",
    ]
    for name in names:
        text = load_script(name)
        assert not re.search(r"^-- @include", text, flags=re.MULTILINE)
        assert text.startswith("--"), f"{name} starts with its contract"
    shared = "local function release(first, last)"
    assert all(shared in load_script(name) for name in ("acquire.lua", "release.lua", "close.lua"))
    assert shared not in load_script("cool_down.lua")


def test_the_scripts_are_shipped_as_package_data() -> None:
    pyproject = (ROOT / "pyproject.toml").read_text(encoding="utf-8")
    section = pyproject.split("[tool.setuptools.package-data]", 1)[1].split("\n[", 1)[0]
    assert re.search(r'"_redis_scripts/\*\.lua"', section)


def test_the_local_window_counts_held_and_recently_released_slots() -> None:
    window = LocalWindow(ka.RateLimit(4, 10.0), share=2, lease=30.0)
    window.hold("a", 0.0)
    window.hold("b", 0.0)
    assert window.count(1.0) == 2
    assert not window.has_room(1.0)
    assert window.next_free(1.0) == math.inf  # only held slots: their release pokes
    assert window.release("a", 2.0)
    assert not window.release("a", 2.0)  # released twice: nothing more
    assert window.next_free(3.0) == 9.0  # "a" counts until 2 + per
    assert window.slots(5.0) == [("b", 30_000.0), ("a", 7_001.0)]
    assert window.count(12.0) == 1
    assert window.has_room(12.0)
    window.forget("b")
    assert window.count(12.0) == 0


def test_the_local_window_opens_per_seconds_after_an_outage_and_after_a_cool_down() -> None:
    window = LocalWindow(ka.RateLimit(4, 10.0), share=2, lease=30.0)
    assert window.paused_for(0.0) == 0.0
    window.open_after(5.0)
    assert window.paused_for(6.0) == 9.0
    window.cool_down(20.0)
    window.cool_down(18.0)  # only ever later
    assert window.paused_for(16.0) == 4.0
    assert window.paused_for(20.0) == 0.0
