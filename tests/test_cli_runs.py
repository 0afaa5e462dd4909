"""``karbon-async export`` runs: progress views, the JSON summary, refused credentials,
interrupted exports and ``--since`` file names."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

import pytest
from _cli_helpers import accounts_file, cli, files

import karbon_async as ka
from karbon_async.cli import main
from karbon_async.export import Account, Exporter, ExportEvent, load_checkpoints
from karbon_async.testing import FakeKarbon

ALL_FOUR = ["contacts", "organizations", "work-items", "users"]


async def _main(*argv: str) -> int:
    """The CLI in-process, in a thread with its own event loop, while FakeKarbon serves here."""
    return await asyncio.to_thread(main, list(argv))


async def test_a_redirected_log_fills_during_the_run(tmp_path: Path) -> None:
    """No --progress: not a terminal, so plain lines, each flushed when written."""
    limit = ka.RateLimit(10, 0.5)
    async with FakeKarbon(accounts=2, rate_limit=limit, sizes={"Contacts": 400}) as fake:
        accounts = accounts_file(fake, tmp_path / "accounts.toml", limit)
        log = tmp_path / "export.log"
        with log.open("wb") as sink:
            process = await cli(
                "export", "--accounts", str(accounts), "--out", str(tmp_path / "o"),
                "--resources", "contacts", "--page-size", "10", "--progress-interval", "0.2",
                stderr=sink.fileno(),
            )  # fmt: skip
            seen_while_running = ""
            for _ in range(300):
                await asyncio.sleep(0.02)
                seen_while_running = log.read_text()
                if "firm 1: " in seen_while_running or process.returncode is not None:
                    break
            assert process.returncode is None, "finished before any progress was seen"
            assert "firm 1: " in seen_while_running
            await process.communicate()
    assert process.returncode == 0
    lines = log.read_text().splitlines()
    assert "\x1b" not in log.read_text()  # no terminal codes
    periodic = [line for line in lines if line.split("] ", 1)[1].startswith("firm 0: ")]
    assert len(periodic) >= 2
    assert all(" records, " in line and " 429s, eta " in line for line in periodic)
    done = [line for line in lines if "/contacts done: 400 records in 40 pages" in line]
    assert len(done) == 2
    assert any(
        line.endswith("firm 0 finished in " + line.split(" finished in ")[-1]) for line in lines
    )


async def test_json_progress_and_summary(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    limit = ka.RateLimit(50, 1.0)
    summary = tmp_path / "summary.json"
    sizes = {"Contacts": 30, "Users": 5}
    async with FakeKarbon(accounts=2, rate_limit=limit, sizes=sizes) as fake:
        accounts = accounts_file(fake, tmp_path / "accounts.toml", limit)
        code = await _main(
            "export", "--accounts", str(accounts), "--out", str(tmp_path / "o"),
            "--resources", "contacts,users", "--page-size", "10", "--progress", "json",
            "--progress-interval", "0.05", "--summary-json", str(summary),
        )  # fmt: skip
    captured = capsys.readouterr()
    assert code == 0, captured.err
    events = [json.loads(line) for line in captured.err.splitlines()]
    kinds = [e["event"] for e in events]
    assert kinds[-1] == "export-done"
    assert events[-1]["ok"] is True
    assert events[-1]["records"] == 70
    assert kinds.count("stream-started") == kinds.count("stream-done") == 4
    assert kinds.count("account-done") == 2
    assert kinds.count("page") == 8
    written = files(tmp_path / "o")
    done = {e["resource"]: e for e in events if e["event"] == "stream-done"}
    assert done["contacts"]["records"] == 30
    assert {e["file"] for e in done.values()} <= {str(tmp_path / "o" / f) for f in written}
    document = json.loads(summary.read_text())
    assert document["ok"] is True
    assert document["records"] == 70
    assert document["rate_limited"] == 0
    assert [a["account"] for a in document["accounts"]] == ["firm 0", "firm 1"]
    for account in document["accounts"]:
        assert account["status"] == "done"
        assert account["records"] == 35
        assert account["requests"] == 4  # 3 pages of contacts, 1 of users
        assert account["seconds"] > 0
        assert sorted(account["resources"]) == ["contacts", "users"]
        contacts = account["resources"]["contacts"]
        assert contacts["status"] == "done"
        assert contacts["records"] == 30
        assert contacts["pages"] == 3
        assert contacts["seconds"] > 0
        assert contacts["file"] == str(tmp_path / "o" / account["account"] / "contacts.jsonl")
        assert written[f"{account['account']}/contacts.jsonl"].count(b"\n") == 30


async def test_refused_credentials_are_one_line_per_account(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out, summary = tmp_path / "o", tmp_path / "summary.json"
    async with FakeKarbon(accounts=1, rate_limit=ka.RateLimit(50, 1.0), size=10) as fake:
        good = fake.accounts[0]
        path = tmp_path / "accounts.toml"
        for name, token in (("wrong", "not-the-token"), ("right", good.bearer_token)):
            path.write_text(
                f'[firm]\nbearer_token = "{token}"\naccess_key = "{good.access_key}"\n'
                f'base_url = "{fake.base_url}"\n'
            )
            code = await _main(
                "export", "--accounts", str(path), "--out", str(out), "--plain",
                "--resources", ",".join(ALL_FOUR), "--summary-json", str(summary),
            )  # fmt: skip
            captured = capsys.readouterr()
            if name == "wrong":
                assert code == 1
                failed = [line for line in captured.err.splitlines() if "FAILED" in line]
                assert failed == [
                    f"FAILED firm ({', '.join(ALL_FOUR)}): AuthenticationError: "
                    + failed[0].split(": AuthenticationError: ")[1]
                ]
                assert captured.err.count("AuthenticationError") == 2  # progress and summary
                assert ".jsonl" not in captured.out + captured.err  # no file never written
                assert list(out.rglob("*.part")) == []
                document = json.loads(summary.read_text())
                resources = document["accounts"][0]["resources"]
                assert {r["status"] for r in resources.values()} == {"failed"}
                assert {r["file"] for r in resources.values()} == {None}
                assert document["accounts"][0]["status"] == "failed"
            else:  # nothing was written, so nothing is in the way: no --resume needed
                assert code == 0, captured.err
    assert sorted(files(out)) == [f"firm/{r}.jsonl" for r in sorted(ALL_FOUR)]


async def _interrupt(fake: FakeKarbon, out: Path, limit: ka.RateLimit) -> dict[str, bytes]:
    """An export of contacts stopped after its second page; the files it left."""
    account = fake.accounts[0]
    pages = asyncio.Event()

    def on_event(event: ExportEvent) -> None:
        if event.kind == "page" and event.stream is not None and event.stream.pages >= 2:
            pages.set()

    exporter = Exporter(
        [Account("firm 0", account.bearer_token, account.access_key, fake.base_url, limit)],
        ["contacts"],
        out=out,
        page_size=10,
        on_event=on_event,
    )
    run = asyncio.ensure_future(exporter.run())
    await pages.wait()
    run.cancel()
    with pytest.raises(asyncio.CancelledError):
        await run
    state = load_checkpoints(out / ".karbon-export")[("firm 0", "contacts")]
    assert state.run is not None
    assert state.run.status == "running"
    assert state.run.pages >= 2
    return files(out)


async def test_an_interrupted_export_is_not_overwritten_unasked(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    limit = ka.RateLimit(5, 0.5)
    out = tmp_path / "o"
    async with FakeKarbon(accounts=1, rate_limit=limit, sizes={"Contacts": 60}) as fake:
        accounts = accounts_file(fake, tmp_path / "accounts.toml", limit)
        left = await _interrupt(fake, out, limit)
        assert list(left) == ["firm 0/contacts.jsonl.part"]
        common = ["export", "--accounts", str(accounts), "--resources", "contacts", "--plain"]
        common += ["--page-size", "10"]

        assert await _main(*common, "--out", str(out)) == 2
        err = capsys.readouterr().err
        assert err == (
            f"karbon-async: error: {out} holds an interrupted export: add --resume to continue "
            "it, or --restart to discard it and start over\n"
        )
        assert files(out) == left

        assert await _main(*common, "--out", str(out), "--restart") == 0
        capsys.readouterr()
        lines = files(out)["firm 0/contacts.jsonl"].splitlines()
        assert len(lines) == len({json.loads(line)["ContactKey"] for line in lines}) == 60

        # A finished export has nothing to resume.
        assert await _main(*common, "--out", str(out), "--resume") == 2
        assert capsys.readouterr().err == (
            f"karbon-async: error: nothing to resume in {out}: no interrupted export of "
            "these accounts and resources there; run without --resume\n"
        )
        # No checkpoint at all (an export killed before its first one): --resume starts it
        # afresh, saying so, rather than refusing on every retry.
        empty = tmp_path / "empty"
        (empty / "firm 0").mkdir(parents=True)
        (empty / "firm 0" / "contacts.jsonl.part").write_text('{"ContactKey": "half')
        assert await _main(*common, "--out", str(empty), "--resume") == 0
        assert (
            f"karbon-async: --resume: no checkpoint in {empty} for these accounts and resources "
            "(stopped before the first one?): starting the export afresh\n"
        ) in capsys.readouterr().err
        lines = files(empty)["firm 0/contacts.jsonl"].splitlines()
        assert len(lines) == len({json.loads(line)["ContactKey"] for line in lines}) == 60


@pytest.mark.parametrize(
    ("since", "stamp"),
    [("2025-12-25", "20251225T000000Z"), ("2025-12-25T10:00:00+02:00", "20251225T080000Z")],
)
async def test_since_names_files_in_utc(
    since: str, stamp: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    limit = ka.RateLimit(50, 1.0)
    async with FakeKarbon(accounts=1, rate_limit=limit, size=10) as fake:
        accounts = accounts_file(fake, tmp_path / "accounts.toml", limit)
        code = await _main(
            "export", "--accounts", str(accounts), "--out", str(tmp_path / "o"),
            "--resources", "contacts,users", "--since", since, "--plain",
        )  # fmt: skip
    assert code == 0, capsys.readouterr().err
    assert sorted(files(tmp_path / "o")) == [
        f"firm 0/contacts.changes-since-{stamp}.jsonl",
        "firm 0/users.jsonl",  # users do not sort by LastModifiedDateTime: exported in full
    ]
