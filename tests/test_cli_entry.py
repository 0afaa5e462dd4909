"""The ways in to ``karbon-async``: the console script and ``python -m karbon_async`` run
``karbon_async.cli:main``, and ``--help`` lists exactly the commands of its table."""

from __future__ import annotations

import argparse
import re
import subprocess
import sys
from importlib.metadata import entry_points
from pathlib import Path

import pytest

import karbon_async as ka
from karbon_async.cli import COMMANDS, build_parser, main

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - exercised on 3.10 only
    import tomli as tomllib

ROOT = Path(__file__).resolve().parent.parent


def _run(*command: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(command, capture_output=True, text=True, timeout=120, check=False)


def _listed_commands(help_text: str) -> list[str]:
    """The ``{a,b,c}`` of the usage line of the top-level ``--help``."""
    found = re.search(r"^usage: karbon-async .*\{([a-z,-]+)\}", help_text, re.MULTILINE)
    assert found is not None, help_text
    return found.group(1).split(",")


def test_the_console_script_is_cli_main() -> None:
    declared = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))
    assert declared["project"]["scripts"] == {"karbon-async": "karbon_async.cli:main"}
    (installed,) = entry_points(group="console_scripts", name="karbon-async")
    assert installed.value == "karbon_async.cli:main"
    assert installed.load() is main


def test_the_installed_script_runs() -> None:
    script = Path(sys.executable).parent / "karbon-async"
    if not script.exists():
        pytest.skip(f"no karbon-async script beside {sys.executable}")
    result = _run(str(script), "--version")
    assert (result.returncode, result.stdout) == (0, f"karbon-async {ka.__version__}\n")


def test_python_m_karbon_async_lists_every_command_of_the_table() -> None:
    result = _run(sys.executable, "-m", "karbon_async", "--help")
    assert result.returncode == 0, result.stderr
    assert _listed_commands(result.stdout) == list(COMMANDS)
    for name in COMMANDS:
        assert re.search(rf"^    {name} +\S", result.stdout, re.MULTILINE), (name, result.stdout)


def test_each_command_of_the_table_has_its_parser(capsys: pytest.CaptureFixture[str]) -> None:
    parser = build_parser()
    (subparsers,) = (a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
    assert list(subparsers.choices) == list(COMMANDS)
    for name in COMMANDS:
        with pytest.raises(SystemExit) as exited:
            main([name, "--help"])
        assert exited.value.code == 0
        assert capsys.readouterr().out.startswith(f"usage: karbon-async {name} ")
