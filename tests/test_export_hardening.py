"""Exporter hardening: distinct output paths, per-account isolation, disk full, restarts."""

from __future__ import annotations

import asyncio
import errno
import json
import os
import re
import signal
import sys
import threading
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import karbon_async as ka
from karbon_async import _statefile
from karbon_async.cli import main
from karbon_async.cli._export import finish_export
from karbon_async.export import (
    RESOURCES,
    Account,
    Exporter,
    FileSink,
    StreamInfo,
    load_checkpoints,
)
from karbon_async.export._writers import safe_name
from karbon_async.testing import FakeKarbon

LIMIT = ka.RateLimit(50, 1.0)
RESOURCE_NAMES = ["contacts", "users"]
COLLECTION = {"contacts": "Contacts", "users": "Users"}


def _accounts(fake: FakeKarbon, names: list[str]) -> list[Account]:
    return [
        Account(name, a.bearer_token, a.access_key, fake.base_url, LIMIT)
        for name, a in zip(names, fake.accounts, strict=True)
    ]


def _exporter(accounts: list[Account], out: Path, **kw: Any) -> Exporter:
    kw.setdefault("page_size", 20)
    kw.setdefault("page_retry_delay", 0.01)
    kw.setdefault("retry", ka.RetryPolicy(base_delay=0.01, max_delay=0.05))
    return Exporter(accounts, RESOURCE_NAMES, out=out, **kw)


def _assert_complete(fake: FakeKarbon, out: Path, names: list[str]) -> None:
    for name, account in zip(names, fake.accounts, strict=False):  # the first len(names)
        for resource in RESOURCE_NAMES:
            path = FileSink(out).path_for(StreamInfo(name, RESOURCES[resource]))
            lines = path.read_text(encoding="utf-8").splitlines()
            keys = [json.loads(line)[RESOURCES[resource].key_field] for line in lines]
            expected = list(fake.collection(account.index, COLLECTION[resource]).keys())
            assert keys == expected, f"{path}: not every record exactly once"
    assert not list(out.rglob("*.part"))


# ---------------------------------------------------------------- 1: distinct output paths

names = st.text(min_size=1, max_size=40)


@settings(max_examples=500)
@given(names, names)
def test_distinct_names_get_distinct_folders(a: str, b: str) -> None:
    if a != b:
        assert safe_name(a) != safe_name(b)
    # Case-insensitive file systems: only pure case variants of plain names can meet, and
    # the exporter refuses those up front.
    if a != b and safe_name(a).casefold() == safe_name(b).casefold():
        assert a.casefold() == b.casefold()
        assert (safe_name(a), safe_name(b)) == (a, b)


@settings(max_examples=500)
@given(names)
def test_a_folder_is_one_safe_ascii_path_component(name: str) -> None:
    folder = safe_name(name)
    assert folder.isascii()
    assert folder.isprintable()
    assert not {"/", "\\"} & set(folder)
    assert not folder.startswith((".", " "))
    assert not folder.endswith((".", " "))
    assert 0 < len(folder) <= 111


@given(st.from_regex(r"[A-Za-z0-9][A-Za-z0-9 _()@+-]{0,30}[A-Za-z0-9]", fullmatch=True))
def test_plain_names_are_their_own_folder(name: str) -> None:
    if not re.search(r"-[0-9a-f]{10}$", name):
        assert safe_name(name) == name


def test_accented_names_stay_readable_and_apart() -> None:
    muller, moller = safe_name("Müller GmbH"), safe_name("Möller GmbH")
    assert muller.startswith("Muller GmbH-")
    assert moller.startswith("Moller GmbH-")
    assert safe_name(muller) != muller  # a name shaped like a hashed folder is hashed again


async def test_accounts_differing_only_in_accents_export_separately(tmp_path: Path) -> None:
    names = ["Müller GmbH", "Möller GmbH"]
    async with FakeKarbon(accounts=2, rate_limit=LIMIT, size=45) as fake:
        report = await _exporter(_accounts(fake, names), tmp_path).run()
        assert report.ok
        _assert_complete(fake, tmp_path, names)
    assert len({s.output for a in report.accounts for s in a.streams.values()}) == 4


def test_case_variants_are_refused_before_anything_is_written(tmp_path: Path) -> None:
    accounts = [Account(n, "t", "k", "https://example.invalid") for n in ("ACME", "acme")]
    with pytest.raises(ValueError, match="'ACME' and 'acme' would write to the same file"):
        Exporter(accounts, ["users"], out=tmp_path / "o")
    assert not (tmp_path / "o").exists()


async def test_resume_does_not_call_a_stream_done_when_its_file_came_from_elsewhere(
    tmp_path: Path,
) -> None:
    """What two accounts sharing a folder did: one published the file the other's unfinished
    checkpoint points at. A resume must fail that stream, never report it done."""
    names = ["a", "b"]
    async with FakeKarbon(accounts=2, rate_limit=LIMIT, size=45) as fake:
        accounts = _accounts(fake, names)
        assert (await _exporter(accounts, tmp_path / "whole").run()).ok
        out = tmp_path / "o"
        state = load_checkpoints(tmp_path / "whole" / ".karbon-export")[("a", "contacts")]
        assert state.run is not None
        # An unfinished checkpoint for a/contacts, and a finished file where its output goes.
        state.run.status, state.run.pages, state.run.next_link = "running", 1, "https://x/"
        (out / ".karbon-export").mkdir(parents=True)
        from karbon_async.export._state import JOURNAL, _encode

        (out / ".karbon-export" / JOURNAL).write_bytes(_encode(("a", "contacts"), state))
        (out / "a").mkdir()
        (out / "a" / "contacts.jsonl").write_text("{}\n")
        report = await _exporter(accounts, out, resume=True).run()
    assert not report.ok
    [failure] = report.failures
    assert (failure.account, failure.resource) == ("a", "contacts")
    assert "is unfinished" in (failure.error or "")


async def test_resume_fails_a_done_stream_whose_output_is_gone(tmp_path: Path) -> None:
    async with FakeKarbon(accounts=1, rate_limit=LIMIT, size=45) as fake:
        accounts = _accounts(fake, ["a"])
        assert (await _exporter(accounts, tmp_path).run()).ok
        (tmp_path / "a" / "users.jsonl").unlink()
        report = await _exporter(accounts, tmp_path, resume=True).run()
    assert [(f.resource, "is missing" in (f.error or "")) for f in report.failures] == [
        ("users", True)
    ]


# ---------------------------------------------------------------- 4: one bad account


def test_a_bad_accounts_file_names_every_bad_field(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "accounts.toml"
    path.write_text(
        '[good]\nbearer_token = "t"\naccess_key = "k"\n'
        '[noscheme]\nbearer_token = "t"\naccess_key = "k"\nbase_url = "api.example.com"\n'
        '[newline]\nbearer_token = "t\\n"\naccess_key = "k"\nrequests = 0\n'
        '[typo]\nbearer_token = "t"\naccess_key = "k"\nrequest = 60\n'
    )
    out = tmp_path / "o"
    code = main(["export", "--accounts", str(path), "--out", str(out)])
    captured = capsys.readouterr()
    assert code == 2
    assert captured.out == ""
    lines = captured.err.splitlines()
    prefix = f"karbon-async: error: accounts file {path}: "
    assert [line.removeprefix(prefix).split(":")[0] for line in lines] == [
        "[noscheme] base_url",
        "[newline] bearer_token",
        "[newline] requests",
        "[typo] request",
    ]
    assert all(line.startswith(prefix) for line in lines)
    assert "Traceback" not in captured.err
    assert not out.exists()


@pytest.mark.parametrize(
    ("base_url", "token"),
    [("127.0.0.1:9", "t"), ("{fake}", "tok\nen"), ("ftp://{host}", "t")],
)
async def test_one_account_failing_at_run_time_does_not_stop_the_others(
    tmp_path: Path, base_url: str, token: str
) -> None:
    async with FakeKarbon(accounts=2, rate_limit=LIMIT, size=45) as fake:
        good, other = _accounts(fake, ["good", "bad"])
        url = base_url.format(fake=fake.base_url, host=fake.base_url.split("//")[1])
        bad = Account("bad", token, other.access_key, url, LIMIT)
        report = await _exporter([bad, good], tmp_path).run()
        _assert_complete(fake, tmp_path, ["good"])
    assert not report.ok
    assert report.error is None
    assert {(f.account, f.resource) for f in report.failures} == {
        ("bad", "contacts"),
        ("bad", "users"),
    }
    assert all(a.done for a in report.accounts)


# ---------------------------------------------------------------- 5: disk full


def _disk_full_at(monkeypatch: pytest.MonkeyPatch, nth: int) -> list[int]:
    """Every local write after the ``nth`` fails with ENOSPC, as on a full disk."""
    real = _statefile.write_all
    calls = [0]

    def write_all(
        fd: int, data: bytes, path: str | os.PathLike[str], start: int | None = None
    ) -> int:
        calls[0] += 1
        if calls[0] >= nth:
            # Half the bytes land first, as a real short write before ENOSPC would.
            os.write(fd, data[: len(data) // 2])
            raise _statefile.LocalWriteError(path, OSError(errno.ENOSPC, os.strerror(28)))
        return real(fd, data, path, start)

    monkeypatch.setattr(_statefile, "write_all", write_all)
    return calls


@pytest.mark.parametrize("nth", [1, 2, 5, 12, 25, 33])
async def test_a_full_disk_stops_with_one_error_and_resume_completes(
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    nth: int,
) -> None:
    names = ["a", "b"]
    async with FakeKarbon(accounts=2, rate_limit=LIMIT, size=90) as fake:
        accounts = _accounts(fake, names)
        calls = _disk_full_at(monkeypatch, nth)
        report = await _exporter(accounts, tmp_path, commit_interval=0.02).run()
        assert calls[0] >= nth, "the fault was never reached"
        assert not report.ok
        assert report.error is not None
        assert re.fullmatch(r"cannot write .+: No space left on device", report.error)
        assert str(tmp_path) in report.error
        assert finish_export(report, plain=True) == 1
        errors = [line for line in capsys.readouterr().err.splitlines() if "No space left" in line]
        assert len(errors) == 1
        assert errors[0].startswith("karbon-async: error: cannot write")
        monkeypatch.undo()
        resumed = await _exporter(accounts, tmp_path, resume=True).run()
        assert resumed.ok, resumed.failures
        _assert_complete(fake, tmp_path, names)


# ---------------------------------------------------------------- 10: restart mid-window


async def _cli(*args: str) -> asyncio.subprocess.Process:
    env = {k: v for k, v in os.environ.items() if not k.startswith("KARBON_")}
    return await asyncio.create_subprocess_exec(
        sys.executable, "-m", "karbon_async", *args,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE, env=env,
    )  # fmt: skip


async def test_a_restart_after_kill_9_honours_the_dead_process_window(tmp_path: Path) -> None:
    limit = ka.RateLimit(12, 2.0)
    async with FakeKarbon(accounts=2, rate_limit=limit, size=10, sizes={"Contacts": 300}) as fake:
        path = tmp_path / "accounts.toml"
        path.write_text(
            "".join(
                f'["firm {a.index}"]\nbearer_token = "{a.bearer_token}"\n'
                f'access_key = "{a.access_key}"\nbase_url = "{fake.base_url}"\n'
                f"requests = {limit.requests}\nper = {limit.per}\n"
                for a in fake.accounts
            )
        )
        common = ["export", "--accounts", str(path), "--out", str(tmp_path / "o"), "--plain"]
        common += ["--resources", "contacts", "--page-size", "10"]
        process = await _cli(*common)
        # Kill once the first window is spent, while it is still open.
        while not all(len(a.arrivals) >= limit.requests for a in fake.accounts):  # noqa: ASYNC110
            await asyncio.sleep(0.005)
        process.send_signal(signal.SIGKILL)
        await process.wait()
        resumed = await _cli(*common, "--resume")
        out, err = await resumed.communicate()
        assert resumed.returncode == 0, (out + err).decode()
        for account in fake.accounts:
            assert account.max_in_window() <= limit.requests
            assert account.rejected_429 == 0
        lines = (tmp_path / "o" / "firm 0" / "contacts.jsonl").read_text().splitlines()
        assert len(lines) == len({json.loads(line)["ContactKey"] for line in lines}) == 300


async def test_a_budget_state_file_carries_slots_and_pauses_into_the_next_process(
    tmp_path: Path,
) -> None:
    limit = ka.RateLimit(3, 0.4)
    path = tmp_path / "budget.log"
    first = ka.BudgetStateFile(path, limit)
    loop = asyncio.get_running_loop()
    permits = [await first.acquire() for _ in range(3)]
    await permits[0].release()  # the other two are in flight when the process "dies"
    await first.cool_down(0.0)
    first.close()

    second = ka.BudgetStateFile(path, limit)
    started = loop.time()
    await second.acquire()
    # The slots the first one took are held a window past its end (it is gone, so its
    # requests in flight had arrived by then), as if this budget had granted them itself.
    assert limit.per <= loop.time() - started < limit.per + 0.2
    assert second.snapshot().granted == 1
    second.close()

    third = ka.BudgetStateFile(path, limit)  # the second's one slot, then a 429's pause
    await third.cool_down(0.6)
    third.close()
    fourth = ka.BudgetStateFile(path, limit)
    started = loop.time()
    await fourth.acquire()
    assert 0.55 <= loop.time() - started < 0.8
    fourth.close()


async def test_a_budget_state_file_opened_in_a_thread_counts_the_time_since(
    tmp_path: Path,
) -> None:
    """``open()`` off the loop reads the file; the budget takes what it said at the first
    acquire, aged by the time in between: the earlier process's slots free when they would
    have, not a window after the open."""
    limit = ka.RateLimit(2, 0.6)
    path = tmp_path / "budget.log"
    first = ka.BudgetStateFile(path, limit)
    for permit in [await first.acquire() for _ in range(2)]:
        await permit.release()
    first.close()

    loop = asyncio.get_running_loop()
    second = ka.BudgetStateFile(path, limit)
    await asyncio.to_thread(second.open)
    await asyncio.to_thread(second.open)  # a second call reads nothing again
    await asyncio.sleep(0.3)
    started = loop.time()
    await second.acquire()
    waited = loop.time() - started
    assert 0.2 <= waited < 0.45  # what was left of the window, not all of it again
    second.close()
    sends = [line for line in path.read_text().splitlines() if line.startswith("s ")]
    assert len(sends) == 1  # rewritten once, by the first open


async def test_a_budget_state_file_is_read_off_the_event_loop_once_for_concurrent_callers(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    limit = ka.RateLimit(2, 0.5)
    path = tmp_path / "budget.log"
    first = ka.BudgetStateFile(path, limit)
    await (await first.acquire()).release()  # one slot, held until 0.5 s after this
    first.close()

    readers: list[threading.Thread] = []
    read = ka.BudgetStateFile._load_and_compact

    def spy(self: ka.BudgetStateFile) -> Any:
        readers.append(threading.current_thread())
        return read(self)

    monkeypatch.setattr(ka.BudgetStateFile, "_load_and_compact", spy)
    loop = asyncio.get_running_loop()
    second = ka.BudgetStateFile(path, limit)
    started = loop.time()
    permits = await asyncio.gather(*(second.acquire() for _ in range(2)))
    # One slot was free at once, the other waited for the first process's slot.
    assert 0.3 <= loop.time() - started < 0.8
    assert len(readers) == 1  # read once, however many callers came first
    assert readers[0] is not threading.main_thread()
    for permit in permits:
        await permit.release()
    second.close()


async def test_streams_starting_together_share_group_commits(tmp_path: Path) -> None:
    """200 streams committing their start at once, while others mark pages, cost a couple of
    syncs (not one each, in a row), and each commit returns once its own state is saved."""
    from karbon_async.export import CheckpointStore, RunState, StreamState, load_checkpoints

    store = CheckpointStore(tmp_path, interval=3600)
    await store.open()
    running = True

    async def pages_of_running_streams() -> None:
        while running:  # streams already running mark a page every turn of the loop
            store.mark("busy", "contacts", StreamState(run=RunState(pages=1)), None)
            await asyncio.sleep(0)

    busy = asyncio.ensure_future(pages_of_running_streams())
    try:

        async def start(index: int) -> None:
            await store.commit(f"a{index}", "contacts", StreamState(run=RunState()), None)
            assert (f"a{index}", "contacts") in load_checkpoints(tmp_path)

        await asyncio.gather(*(start(i) for i in range(200)))
        assert store.commits <= 3
    finally:
        running = False
        await busy
        await store.close()
