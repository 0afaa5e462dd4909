"""``karbon-async``: every bad input is one line and exit 2; ``--version``; ``--since`` in UTC."""

from __future__ import annotations

import datetime as dt
import re
import socket
import sys
from pathlib import Path

import pytest
from _cli_helpers import ENV_KEYS, run_cli
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import karbon_async as ka
from karbon_async._cli_inputs import parse_since
from karbon_async._converter import format_datetime
from karbon_async.cli import _progress, main
from karbon_async.cli._progress import resolve_progress
from karbon_async.export import RESOURCES, StreamInfo
from karbon_async.export._writers import output_name


@pytest.fixture(autouse=True)
def credentials(monkeypatch: pytest.MonkeyPatch) -> None:
    """Good credentials in the environment, so each test's one bad input is the only one."""
    for key in ENV_KEYS:
        monkeypatch.delenv(key, raising=False)
    monkeypatch.setenv("KARBON_BEARER_TOKEN", "token")
    monkeypatch.setenv("KARBON_ACCESS_KEY", "key")


def _exit_code(argv: list[str]) -> int:
    """``main``'s exit code, whether argparse exits or ``main`` returns."""
    try:
        return main(argv)
    except SystemExit as exited:
        code = exited.code
    assert isinstance(code, int)
    return code


def _one_line_exit_2(argv: list[str], capsys: pytest.CaptureFixture[str]) -> str:
    assert _exit_code(argv) == 2
    captured = capsys.readouterr()
    lines = captured.err.splitlines()
    assert len(lines) == 1, captured.err
    assert lines[0].startswith("karbon-async"), lines
    assert "error: " in lines[0]
    assert "Traceback" not in captured.err + captured.out
    return lines[0]


@pytest.mark.parametrize(
    ("extra", "needle"),
    [
        (["--page-size", "0"], "--page-size: '0' is not a positive whole number"),
        (["--page-size", "-5"], "'-5' is not a positive whole number"),
        (["--page-size", "ten"], "'ten' is not a positive whole number"),
        (["--progress", "fancy"], "invalid choice: 'fancy'"),
        (["--progress-interval", "0"], "'0' is not a positive number of seconds"),
        (["--progress-interval", "nan"], "'nan' is not a number of seconds"),
        (["--resume", "--restart"], "not allowed with argument"),
        (["--resources", "contacts,invoicez"], "invoicez"),
        (["--since", "yesterday"], "--since"),
    ],
)
def test_bad_export_options(
    extra: list[str], needle: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    line = _one_line_exit_2(["export", "--out", str(tmp_path / "o"), *extra], capsys)
    assert needle in line
    assert not (tmp_path / "o").exists()


@pytest.mark.parametrize(
    ("extra", "needle"),
    [
        (["--port", "70000"], "'70000' is not a port number"),
        (["--requests", "0"], "'0' is not a positive whole number"),
        (["--per", "0"], "'0' is not a positive number of seconds"),
        (["--size", "-1"], "'-1' is not a whole number, 0 or more"),
        (["--latency-min", "2", "--latency-max", "1"], "--latency-min"),
    ],
)
def test_bad_sandbox_options(
    extra: list[str], needle: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert needle in _one_line_exit_2(["sandbox", "--port", "0", *extra], capsys)


def test_a_busy_sandbox_port(capsys: pytest.CaptureFixture[str]) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        line = _one_line_exit_2(["sandbox", "--port", str(port)], capsys)
    assert f"cannot serve on 127.0.0.1:{port}" in line
    assert "choose another --port" in line


def test_an_output_path_that_is_a_file(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    blocker = tmp_path / "out.jsonl"
    blocker.write_text("kept")
    line = _one_line_exit_2(["export", "--out", str(blocker)], capsys)
    assert line.endswith(f"--out {blocker} is a file, not a directory")
    assert blocker.read_text() == "kept"


@pytest.mark.parametrize(
    ("where", "needle"),
    [("dir", "is a directory"), ("file/s.json", "file is a file, not a directory")],
)
def test_a_summary_path_that_cannot_be_written(
    where: str, needle: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (tmp_path / "dir").mkdir()
    (tmp_path / "file").write_text("kept")
    argv = ["export", "--out", str(tmp_path / "o"), "--summary-json", str(tmp_path / where)]
    assert needle in _one_line_exit_2(argv, capsys)
    assert not (tmp_path / "o").exists()


def test_an_output_file_gets_its_missing_folders(tmp_path: Path) -> None:
    from karbon_async._cli_inputs import check_output_file

    target = tmp_path / "export" / "run 1" / "summary.json"
    check_output_file(str(target), "--summary-json")
    assert target.parent.is_dir()
    assert not target.exists()


@pytest.mark.parametrize(
    ("table", "needle"),
    [
        ('bearer_token = "t"\naccess_key = "k"\nrequest = 60\n', "request: unknown setting "),
        ('bearer_token = "t"\naccess_key = "k"\nrequest = 60\n', "did you mean requests?"),
        ('bearer_token = "t"\naccess_key = "k"\ncolour = 1\n', "known: bearer_token, access_"),
    ],
)
def test_unknown_keys_in_the_accounts_file_are_named(
    table: str, needle: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "accounts.toml"
    path.write_text(f"[firm]\n{table}")
    line = _one_line_exit_2(["export", "--accounts", str(path), "--out", str(tmp_path)], capsys)
    assert f"accounts file {path}: [firm] " in line
    assert needle in line


def test_rich_progress_without_rich(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setitem(sys.modules, "rich.console", None)  # as if rich were not installed
    line = _one_line_exit_2(["export", "--out", str(tmp_path), "--progress", "rich"], capsys)
    assert "pip install 'karbon-async[cli]'" in line


class _Stream:
    def __init__(self, tty: bool) -> None:
        self.tty = tty

    def isatty(self) -> bool:
        return self.tty


def test_auto_progress_is_rich_on_a_terminal_only(monkeypatch: pytest.MonkeyPatch) -> None:
    terminal, log = _Stream(True), _Stream(False)
    assert resolve_progress("auto", terminal) == "rich"  # type: ignore[arg-type]
    assert resolve_progress("auto", log) == "plain"  # type: ignore[arg-type]
    assert resolve_progress("json", terminal) == "json"  # type: ignore[arg-type]
    monkeypatch.setattr(_progress, "_rich_console", lambda: None)
    assert resolve_progress("auto", terminal) == "plain"  # type: ignore[arg-type]


def test_version(capsys: pytest.CaptureFixture[str]) -> None:
    assert _exit_code(["--version"]) == 0
    assert capsys.readouterr().out == f"karbon-async {ka.__version__}\n"


async def test_python_m_karbon_async_is_the_command() -> None:
    code, output = await run_cli("--version")
    assert (code, output) == (0, f"karbon-async {ka.__version__}\n")
    code, output = await run_cli("export")
    assert code == 2
    assert output == "karbon-async export: error: one of the arguments --out --to is required\n"


UTC = dt.timezone.utc


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("2025-12-25", dt.datetime(2025, 12, 25, tzinfo=UTC)),
        ("2025-12-25T10:30:00", dt.datetime(2025, 12, 25, 10, 30, tzinfo=UTC)),
        ("2025-12-25T10:30:00+02:00", dt.datetime(2025, 12, 25, 8, 30, tzinfo=UTC)),
        ("2025-12-25T01:00:00-05:30", dt.datetime(2025, 12, 25, 6, 30, tzinfo=UTC)),
        ("2025-12-25T23:00:00-03:00", dt.datetime(2025, 12, 26, 2, 0, tzinfo=UTC)),
    ],
)
def test_since_is_converted_to_utc(text: str, expected: dt.datetime, local_zone: str) -> None:
    since = parse_since(text)
    assert since == expected
    assert isinstance(since, dt.datetime)
    assert since.utcoffset() == dt.timedelta(0)


_STAMPED = re.compile(r"contacts\.changes-since-(\d{8}T\d{6}Z)\.jsonl")


@given(
    moment=st.datetimes(
        min_value=dt.datetime(1900, 1, 2),
        max_value=dt.datetime(9998, 12, 30),
        timezones=st.builds(
            dt.timezone,
            st.integers(-23 * 60 + 1, 23 * 60 - 1).map(lambda m: dt.timedelta(minutes=m)),
        ),
    )
)
# The zone is set once for all examples: sharing the function-scoped fixture is the point.
@settings(suppress_health_check=[HealthCheck.function_scoped_fixture])
def test_changes_since_file_names_are_utc(moment: dt.datetime, local_zone: str) -> None:
    """Whatever offset --since had, and whatever the machine's zone, the file is named by the
    same instant in UTC."""
    since = parse_since(moment.isoformat())
    assert isinstance(since, dt.datetime)
    info = StreamInfo("firm", RESOURCES["contacts"], format_datetime(since))
    match = _STAMPED.fullmatch(output_name(info, "jsonl"))
    assert match is not None, output_name(info, "jsonl")
    named = dt.datetime.strptime(match[1], "%Y%m%dT%H%M%SZ").replace(tzinfo=UTC)
    assert named == moment.replace(microsecond=0)
