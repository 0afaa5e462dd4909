"""Every shell line of README.md and docs/*.md, run as written against ``karbon-async sandbox``.

A command runs with bash in an empty folder holding the sandbox's ``accounts.toml``, with the
``karbon-async`` of this environment on PATH and ``KARBON_BASE_URL`` pointing at the sandbox;
a ``...`` placeholder (``export KARBON_ACCESS_KEY=...``) is filled with the sandbox's value.
A command that cannot run here is listed in ``NOT_RUN`` with the reason and where it is tested
instead; a new shell line in a document fails until it runs or is listed.
"""

from __future__ import annotations

import json
import os
import re
import shlex
import signal
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
DOCUMENTS = [ROOT / "README.md", *sorted((ROOT / "docs").glob("**/*.md"))]
FENCE = re.compile(r"^```[ \t]*(\S*)[^\n]*\n(.*?)^```[ \t]*$", re.S | re.M)
SHELL_TAGS = {"sh", "bash", "shell", "console"}
BIN = Path(sys.executable).parent

NOT_RUN = {
    r"make test": "runs this test suite",
    r"make demo": "a minute and more at the real limit: the same demo with a fast limit runs in "
    "test_the_demo_runs",
    r"make conformance\b": "needs Node.js and Prism (CI's conformance job)",
    r"make dist": "tests/test_packaging.py builds the wheel (CI=true)",
    r"pip install ": "would change this environment: tests/test_packaging.py installs the wheel "
    "into a fresh one (CI=true)",
    r"karbon-async export .*--to postgresql://user@db/": "needs PostgreSQL at host db: "
    "tests/test_postgres_sink.py exports into a real server",
    r"karbon-async fleet (worker|submit) ": "needs Redis at host redis and PostgreSQL at db: "
    "tests/test_fleet.py runs workers and submits against real servers",
    r"karbon-async mirror worker ": "needs Redis at host redis: tests/test_mirror_fleet.py runs "
    "a mirror worker against real servers",
    r"karbon-async mirror .*--to postgresql://localhost/": "needs PostgreSQL at localhost and a "
    "URL Karbon can call: tests/test_mirror_cli.py runs the mirror against the sandbox and a real "
    "server (killed -9 and started again)",
}


@dataclass(frozen=True)
class Command:
    path: Path
    line: int
    text: str

    @property
    def id(self) -> str:
        return f"{self.path.relative_to(ROOT)}:{self.line}"

    @property
    def not_run(self) -> str | None:
        return next((why for rule, why in NOT_RUN.items() if re.match(rule, self.text)), None)


def shell_commands(path: Path) -> list[Command]:
    """Each command of each shell block: continuation lines joined, comments dropped."""
    text = path.read_text(encoding="utf-8")
    commands = []
    for fence in FENCE.finditer(text):
        if fence.group(1).lower() not in SHELL_TAGS:
            continue
        first = text.count("\n", 0, fence.start()) + 2
        pending: list[str] = []
        start = first
        for offset, raw in enumerate(fence.group(2).splitlines()):
            line = re.sub(r"(^|\s)#.*$", "", raw).rstrip()
            if not pending:
                start = first + offset
            if line.endswith("\\"):
                pending.append(line[:-1].strip())
                continue
            whole = " ".join([*pending, line.strip()]).strip()
            pending = []
            if whole:
                commands.append(Command(path, start, whole))
    return commands


def all_commands() -> list[Command]:
    return [command for path in DOCUMENTS for command in shell_commands(path)]


def test_the_collector_joins_lines_and_drops_comments(tmp_path: Path) -> None:
    doc = tmp_path / "doc.md"
    doc.write_text("x\n```sh\na --b \\\n   c   # why\n# only a comment\nd=...\n```\n")
    assert [(c.line, c.text) for c in shell_commands(doc)] == [(3, "a --b c"), (6, "d=...")]


def test_every_rule_still_matches_a_documented_line() -> None:
    texts = [command.text for command in all_commands()]
    for rule in NOT_RUN:
        assert any(re.match(rule, text) for text in texts), f"stale NOT_RUN rule {rule!r}"


# --------------------------------------------------------------------------- the sandbox


@dataclass(frozen=True)
class Sandbox:
    base_url: str
    accounts_toml: Path
    bearer_token: str
    access_key: str


def _clean_env() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("KARBON_")}
    env["PATH"] = f"{BIN}{os.pathsep}{env.get('PATH', '')}"
    return env


@pytest.fixture(scope="module")
def sandbox(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Sandbox]:
    folder = tmp_path_factory.mktemp("sandbox")
    accounts = folder / "accounts.toml"
    process = subprocess.Popen(
        [BIN / "karbon-async", "sandbox", "--port", "0", "--accounts", "2", "--size", "30",
         "--requests", "200", "--per", "1", "--write-accounts", str(accounts)],
        stdout=subprocess.PIPE,
        env=_clean_env(),
    )  # fmt: skip
    try:
        assert process.stdout is not None
        first = process.stdout.readline().decode()
        found = re.search(r" at (http://127\.0\.0\.1:\d+)", first)
        assert found, first
        for _ in range(3):
            if "accounts written" in process.stdout.readline().decode():
                break
        text = accounts.read_text(encoding="utf-8")
        yield Sandbox(
            base_url=found.group(1),
            accounts_toml=accounts,
            bearer_token=re.findall(r'bearer_token = "([^"]+)"', text)[0],
            access_key=re.findall(r'access_key = "([^"]+)"', text)[0],
        )
    finally:
        process.send_signal(signal.SIGTERM)
        process.communicate(timeout=30)
    assert process.returncode == 0


def run(command: str, folder: Path, sandbox: Sandbox) -> subprocess.CompletedProcess[str]:
    values = {
        "KARBON_BEARER_TOKEN": sandbox.bearer_token,
        "KARBON_ACCESS_KEY": sandbox.access_key,
        "KARBON_WEBHOOK_SIGNING_KEY": "docs-test-signing-key_0123",
    }
    filled = re.sub(
        r"\b(\w+)=\.\.\.(?=\s|$)", lambda m: f"{m[1]}={shlex.quote(values[m[1]])}", command
    )
    env = {**_clean_env(), "KARBON_BASE_URL": sandbox.base_url}
    return subprocess.run(
        ["bash", "-euo", "pipefail", "-c", filled],
        cwd=folder,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )


def check_export(folder: Path) -> None:
    summary = json.loads((folder / "export" / "summary.json").read_text(encoding="utf-8"))
    assert summary["ok"] is True
    assert len(summary["accounts"]) == 2
    for account in summary["accounts"]:
        assert set(account["resources"]) == {"contacts", "work-items"}, account
        for resource in account["resources"].values():
            assert resource["records"] == 30, resource
            assert (folder / resource["file"]).is_file(), resource


# What a command must leave behind, beyond its exit code 0.
CHECKS = {r"karbon-async export .*--out export/": check_export}


@pytest.mark.parametrize("command", all_commands(), ids=lambda command: command.id)
def test_shell_line_runs(command: Command, sandbox: Sandbox, tmp_path: Path) -> None:
    if command.not_run is not None:
        pytest.skip(command.not_run)
    (tmp_path / "accounts.toml").write_bytes(sandbox.accounts_toml.read_bytes())
    done = run(command.text, tmp_path, sandbox)
    assert done.returncode == 0, (command.text, done.stdout, done.stderr)
    for rule, check in CHECKS.items():
        if re.match(rule, command.text):
            check(tmp_path)


def test_the_documented_export_runs_on_a_first_run() -> None:
    """The command the README and docs/export.md show is run above, in a folder without
    ``export/`` (the run that used to exit 2: "there is no directory export")."""
    runs = [c for c in all_commands() if c.not_run is None and "--summary-json export/" in c.text]
    assert {c.path.name for c in runs} == {"README.md", "export.md"}


def test_the_demo_runs(tmp_path: Path) -> None:
    done = subprocess.run(
        [BIN / "karbon-async", "demo", "--accounts", "2", "--requests", "20", "--per", "1",
         "--windows", "1", "--plain", "--out", str(tmp_path)],
        capture_output=True,
        text=True,
        env=_clean_env(),
        timeout=120,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert len(list(tmp_path.glob("*/contacts.jsonl"))) == 2


def test_sandbox_help_shows_every_default() -> None:
    done = subprocess.run(
        [BIN / "karbon-async", "sandbox", "--help"],
        capture_output=True,
        text=True,
        check=True,
        env={**_clean_env(), "COLUMNS": "200"},
    )
    for option, default in [("--port", "8080"), ("--host", "127.0.0.1"), ("--accounts", "5"),
                            ("--size", "1000"), ("--seed", "0"), ("--requests", "120"),
                            ("--per", "60.0"), ("--latency-max", "0.0")]:  # fmt: skip
        # An option's help: its line up to the next option's.
        paragraph = re.search(rf"^  {option} .*?(?=^  -|\Z)", done.stdout, re.M | re.S)
        assert paragraph, option
        assert f"(default: {default})" in " ".join(paragraph[0].split()), paragraph[0]
