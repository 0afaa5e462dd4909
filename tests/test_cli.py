"""The ``karbon-async`` command line: bad input, exports in a subprocess, kill -9 and resume."""

from __future__ import annotations

import asyncio
import json
import signal
import sys
from pathlib import Path

import pytest
from _cli_helpers import ENV_KEYS, accounts_file, cli, files, run_cli

import karbon_async as ka
from karbon_async.cli import main
from karbon_async.export import load_checkpoints
from karbon_async.testing import FakeKarbon


@pytest.fixture
def no_credentials(monkeypatch: pytest.MonkeyPatch) -> None:
    for key in ENV_KEYS:
        monkeypatch.delenv(key, raising=False)


def _one_error_line(capsys: pytest.CaptureFixture[str]) -> str:
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1, err
    assert err[0].startswith("karbon-async: error: ")
    return err[0]


def test_unknown_resource_is_one_line_and_exit_2(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], no_credentials: None
) -> None:
    code = main(["export", "--resources", "contacts,invoicez", "--out", str(tmp_path / "o")])
    assert code == 2
    assert "invoicez" in _one_error_line(capsys)
    assert not (tmp_path / "o").exists()


def test_missing_credentials(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], no_credentials: None
) -> None:
    assert main(["export", "--out", str(tmp_path / "o")]) == 2
    assert "KARBON_BEARER_TOKEN" in _one_error_line(capsys)
    assert not (tmp_path / "o").exists()


@pytest.mark.parametrize(
    ("content", "needle"),
    [(None, "cannot read"), ("not [toml", "not valid TOML"), ('[a]\nbearer_token = "x"\n', "[a]")],
)
def test_bad_accounts_file(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], content: str | None, needle: str
) -> None:
    path = tmp_path / "accounts.toml"
    if content is not None:
        path.write_text(content)
    code = main(["export", "--accounts", str(path), "--out", str(tmp_path / "o")])
    assert code == 2
    assert needle in _one_error_line(capsys)
    assert not (tmp_path / "o").exists()


def test_unwritable_directory(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("")
    path = tmp_path / "accounts.toml"
    path.write_text('[a]\nbearer_token = "x"\naccess_key = "y"\n')
    code = main(["export", "--accounts", str(path), "--out", str(blocker / "sub")])
    assert code == 2
    assert "cannot write" in _one_error_line(capsys)


def test_bad_since_and_bad_format(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], no_credentials: None
) -> None:
    assert main(["export", "--since", "yesterday", "--out", str(tmp_path)]) == 2
    assert "--since" in _one_error_line(capsys)
    with pytest.raises(SystemExit) as exited:
        main(["export", "--format", "xml", "--out", str(tmp_path)])
    assert exited.value.code == 2


async def test_export_from_an_accounts_file(tmp_path: Path) -> None:
    limit = ka.RateLimit(50, 1.0)
    async with FakeKarbon(accounts=2, rate_limit=limit, size=40) as fake:
        accounts = accounts_file(fake, tmp_path / "accounts.toml", limit)
        code, output = await run_cli(
            "export", "--accounts", str(accounts), "--out", str(tmp_path / "o"),
            "--resources", "contacts,work-items", "--page-size", "20", "--plain", "--format", "csv",
        )  # fmt: skip
    assert code == 0, output
    assert "0 stream(s) failed" in output
    written = files(tmp_path / "o")
    assert sorted(written) == [
        "firm 0/contacts.csv",
        "firm 0/work-items.csv",
        "firm 1/contacts.csv",
        "firm 1/work-items.csv",
    ]
    assert all(content.count(b"\n") == 41 for content in written.values())


async def test_failed_stream_exits_1_with_a_message(tmp_path: Path) -> None:
    async with FakeKarbon(accounts=1, rate_limit=ka.RateLimit(50, 1.0), size=10) as fake:
        path = tmp_path / "accounts.toml"
        path.write_text(
            f'[wrong]\nbearer_token = "x"\naccess_key = "y"\nbase_url = "{fake.base_url}"\n'
        )
        code, output = await run_cli(
            "export", "--accounts", str(path), "--out", str(tmp_path / "o"),
            "--resources", "users", "--plain",
        )  # fmt: skip
    assert code == 1
    assert "FAILED wrong/users: AuthenticationError" in output


async def test_kill_9_mid_export_then_resume_gives_the_same_files(tmp_path: Path) -> None:
    limit = ka.RateLimit(10, 0.5)
    sizes = {"Contacts": 300, "WorkItems": 200}
    async with FakeKarbon(accounts=2, rate_limit=limit, size=50, sizes=sizes) as fake:
        accounts = accounts_file(fake, tmp_path / "accounts.toml", limit)
        common = ["--accounts", str(accounts), "--page-size", "10", "--plain"]
        common += ["--resources", "contacts,work-items,users"]
        code, output = await run_cli("export", *common, "--out", str(tmp_path / "whole"))
        assert code == 0, output

        killed = tmp_path / "killed"
        process = await cli("export", *common, "--out", str(killed))
        for _ in range(400):
            await asyncio.sleep(0.02)
            run = load_checkpoints(killed / ".karbon-export").get(("firm 0", "contacts"))
            if run is not None and run.run is not None and run.run.pages >= 8:
                break
        process.send_signal(signal.SIGKILL)
        await process.wait()
        assert process.returncode == -signal.SIGKILL
        assert not (killed / "firm 0" / "contacts.jsonl").exists(), "killed too late"
        assert (killed / "firm 0" / "contacts.jsonl.part").exists()

        code, output = await run_cli("export", *common, "--out", str(killed), "--resume")
        assert code == 0, output
    assert files(killed) == files(tmp_path / "whole")
    lines = files(killed)["firm 0/contacts.jsonl"].splitlines()
    assert len(lines) == len({json.loads(line)["ContactKey"] for line in lines}) == 300


def test_without_rich_the_output_is_plain(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    from karbon_async.cli import _common, _summary
    from karbon_async.export import AccountProgress, ExportReport, StreamProgress

    monkeypatch.setitem(sys.modules, "rich.console", None)  # as if rich were not installed
    assert _common._rich_console() is None
    account = AccountProgress(
        "firm", ka.RateLimit(), {"users": StreamProgress("firm", "users", "done", records=7)}
    )
    _summary.print_summary(ExportReport([account], 1.0), plain=False)
    out = capsys.readouterr().out
    assert "firm" in out
    assert "7 records" in out


async def test_sandbox_serves_accounts_an_export_can_use(tmp_path: Path) -> None:
    accounts = tmp_path / "accounts.toml"
    sandbox = await cli(
        "sandbox", "--port", "0", "--accounts", "2", "--size", "30",
        "--requests", "50", "--per", "1", "--write-accounts", str(accounts),
    )  # fmt: skip
    try:
        assert sandbox.stdout is not None
        first = await asyncio.wait_for(sandbox.stdout.readline(), 30)
        assert b"FakeKarbon serving 2 account(s) at http://127.0.0.1:" in first
        for _ in range(200):
            if accounts.exists() and accounts.read_text().count("access_key") == 2:
                break
            await asyncio.sleep(0.05)
        code, output = await run_cli(
            "export", "--accounts", str(accounts), "--out", str(tmp_path / "o"),
            "--resources", "contacts", "--plain",
        )  # fmt: skip
        assert code == 0, output
        assert len(list((tmp_path / "o").glob("*/contacts.jsonl"))) == 2
    finally:
        sandbox.send_signal(signal.SIGTERM)
        await sandbox.communicate()
    assert sandbox.returncode == 0
