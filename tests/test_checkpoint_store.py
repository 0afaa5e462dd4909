"""The checkpoint journal on its own: what it reads back, what it refuses, and the group
commit's promises (sinks durable before the states that point into them, one write for many
marks, a failed write failing every later commit)."""

from __future__ import annotations

import asyncio
import ctypes
import errno
import json
import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from karbon_async._statefile import LocalWriteError
from karbon_async.export import CheckpointStore, RunState, StreamState, _state, load_checkpoints
from karbon_async.export._writers import ExportStateError


def line(account: str, resource: str, **fields: Any) -> bytes:
    document = {"v": 1, "account": account, "resource": resource, **fields}
    return (json.dumps(document) + "\n").encode()


def journal(tmp_path: Path, *lines: bytes) -> Path:
    path = tmp_path / "checkpoints.journal"
    path.write_bytes(b"".join(lines))
    return path


class Sink:
    """A stream sink whose sync is recorded, with what the journal held at that moment."""

    def __init__(self, directory: Path, log: list[str], name: str) -> None:
        self.directory = directory
        self.log = log
        self.name = name

    async def sync(self) -> None:
        lines = (self.directory / "checkpoints.journal").read_bytes().count(b"\n")
        self.log.append(f"{self.name} synced with {lines} lines")


def test_no_journal_means_no_states(tmp_path: Path) -> None:
    assert load_checkpoints(tmp_path) == {}


def test_the_last_line_of_a_stream_wins(tmp_path: Path) -> None:
    run = {"status": "running", "next_link": "https://x/next", "pages": 3, "records": 9}
    journal(
        tmp_path,
        line("a", "contacts", watermark="w1", run=None),
        b"\n",
        line("b", "contacts", watermark=None, run=run),
        line("a", "contacts", watermark="w2", run=None),
    )
    states = load_checkpoints(tmp_path)
    assert states == {
        ("a", "contacts"): StreamState("w2", None),
        ("b", "contacts"): StreamState(
            None, RunState(status="running", next_link="https://x/next", pages=3, records=9)
        ),
    }


def test_a_line_torn_by_a_crash_is_ignored_wherever_it_was_cut(tmp_path: Path) -> None:
    whole = line("a", "contacts", watermark="w1")
    torn = line("a", "contacts", watermark="X y\nz")
    for cut in range(1, len(torn) - 1):  # every last byte: a quote, a space, an X, ...
        journal(tmp_path, whole, torn[:cut])
        assert load_checkpoints(tmp_path) == {("a", "contacts"): StreamState("w1", None)}


@pytest.mark.parametrize(
    ("lines", "message"),
    [
        ((b"{not json\n", line("a", "c")), r"checkpoints\.journal:1 is damaged$"),
        ((line("a", "c"), b"{not json\n"), r"checkpoints\.journal:2 is damaged$"),
        ((b'{"v": 2, "account": "a", "resource": "c"}\n',), ":1 is not a version 1 state"),
        ((b"[1, 2]\n",), ":1 is not a version 1 state"),
        ((b'{"v": 1, "resource": "c"}\n',), ":1 is damaged: 'account'"),
        ((line("a", "c", run={"pages": 1, "nonsense": 2}),), ":1 is damaged: .*nonsense"),
    ],
)
def test_a_damaged_journal_is_refused_with_its_line(
    tmp_path: Path, lines: tuple[bytes, ...], message: str
) -> None:
    journal(tmp_path, *lines)
    with pytest.raises(ExportStateError, match=message):
        load_checkpoints(tmp_path)


def test_an_unreadable_journal_is_an_export_state_error(tmp_path: Path) -> None:
    (tmp_path / "checkpoints.journal").mkdir()
    with pytest.raises(ExportStateError, match="cannot read checkpoints"):
        load_checkpoints(tmp_path)


def test_a_copy_of_a_state_is_detached() -> None:
    state = StreamState("w", RunState(pages=1))
    copied = state.copy()
    assert copied == state
    assert copied.run is not state.run
    copied.run.pages = 2  # type: ignore[union-attr]
    assert state.run.pages == 1  # type: ignore[union-attr]
    assert StreamState("w").copy() == StreamState("w", None)


async def test_commit_then_reopen_reads_the_states_back_compacted(tmp_path: Path) -> None:
    store = CheckpointStore(tmp_path, interval=3600)
    await store.open()
    for pages in (1, 2, 3):
        await store.commit("a", "contacts", StreamState(run=RunState(pages=pages)), None)
    await store.commit("b", "users", StreamState(watermark="w"), None)
    assert store.commits == 4
    await store.close()
    assert (tmp_path / "checkpoints.journal").read_bytes().count(b"\n") == 4

    again = CheckpointStore(tmp_path, interval=3600)
    await again.open()
    try:
        got = again.get("a", "contacts")
        assert got == StreamState(None, RunState(pages=3))
        got.run.pages = 99  # type: ignore[union-attr]
        assert again.get("a", "contacts").run.pages == 3  # type: ignore[union-attr]
        assert again.get("b", "users") == StreamState("w", None)
        assert again.get("nobody", "contacts") == StreamState()
        # Compacted when opened: one line per stream, read back the same.
        assert (tmp_path / "checkpoints.journal").read_bytes().count(b"\n") == 2
        assert load_checkpoints(tmp_path) == {
            ("a", "contacts"): StreamState(None, RunState(pages=3)),
            ("b", "users"): StreamState("w", None),
        }
        assert not (tmp_path / "checkpoints.journal.tmp").exists()
    finally:
        await again.close()


async def test_one_export_at_a_time_per_state_directory(tmp_path: Path) -> None:
    first = CheckpointStore(tmp_path, interval=3600)
    await first.open()
    second = CheckpointStore(tmp_path, interval=3600)
    with pytest.raises(ExportStateError, match="another export is using"):
        await second.open()
    await first.close()
    await second.open()  # the lock went with the first store
    await second.close()


async def test_a_closed_store_saves_nothing(tmp_path: Path) -> None:
    store = CheckpointStore(tmp_path, interval=3600)
    with pytest.raises(RuntimeError, match="not open"):
        await store.commit("a", "contacts", StreamState(), None)
    await store.open()
    await store.close()
    with pytest.raises(RuntimeError, match="not open"):
        await store.commit("a", "contacts", StreamState(), None)


async def test_marks_are_written_in_one_group_sinks_first(tmp_path: Path) -> None:
    store = CheckpointStore(tmp_path, interval=3600)
    await store.open()
    log: list[str] = []
    try:
        for index in range(3):
            sink = Sink(tmp_path, log, f"s{index}")
            store.mark(f"a{index}", "contacts", StreamState(watermark=str(index)), sink)  # type: ignore[arg-type]
        store.mark("a0", "contacts", StreamState(watermark="latest"), None)
        assert load_checkpoints(tmp_path) == {}, "a mark alone writes nothing"
        await store.flush()
        assert store.commits == 1
        # s0's sink was replaced by the later mark of the same stream: only s1 and s2 sync,
        # and both before any state reaches the journal.
        assert sorted(log) == ["s1 synced with 0 lines", "s2 synced with 0 lines"]
        assert load_checkpoints(tmp_path) == {
            ("a0", "contacts"): StreamState("latest"),
            ("a1", "contacts"): StreamState("1"),
            ("a2", "contacts"): StreamState("2"),
        }
        await store.flush()
        assert store.commits == 1, "nothing marked: nothing written"
    finally:
        await store.close()


async def test_a_forgotten_sink_is_not_synced(tmp_path: Path) -> None:
    store = CheckpointStore(tmp_path, interval=3600)
    await store.open()
    log: list[str] = []
    try:
        store.mark("a", "contacts", StreamState("w"), Sink(tmp_path, log, "s"))  # type: ignore[arg-type]
        await store.forget_sink("a", "contacts")
        await store.forget_sink("nobody", "contacts")
        await store.flush()
        assert log == []
        assert load_checkpoints(tmp_path) == {("a", "contacts"): StreamState("w")}
    finally:
        await store.close()


async def test_marks_are_written_every_interval_and_on_close(tmp_path: Path) -> None:
    store = CheckpointStore(tmp_path, interval=0.05)
    await store.open()
    store.mark("a", "contacts", StreamState("w1"), None)
    for _ in range(100):
        if load_checkpoints(tmp_path):
            break
        await asyncio.sleep(0.02)
    assert load_checkpoints(tmp_path) == {("a", "contacts"): StreamState("w1")}
    store.mark("a", "contacts", StreamState("w2"), None)
    await store.close()
    assert load_checkpoints(tmp_path) == {("a", "contacts"): StreamState("w2")}


async def test_a_commit_waiting_on_a_group_that_held_its_state_does_not_write_again(
    tmp_path: Path,
) -> None:
    store = CheckpointStore(tmp_path, interval=3600)
    await store.open()
    try:
        await asyncio.gather(
            *(store.commit(f"a{i}", "contacts", StreamState(str(i)), None) for i in range(20))
        )
        assert store.commits <= 2
        assert len(load_checkpoints(tmp_path)) == 20
    finally:
        await store.close()


class FailingSink:
    def __init__(self, error: Exception) -> None:
        self.error = error

    async def sync(self) -> None:
        raise self.error


@pytest.mark.parametrize(
    ("error", "raised", "message"),
    [
        (RuntimeError("disk on fire"), ExportStateError, "checkpoints cannot be saved: disk on"),
        (
            LocalWriteError("/x/out.jsonl", OSError(28, "No space left on device")),
            LocalWriteError,
            "cannot write /x/out.jsonl: No space left on device",
        ),
    ],
)
async def test_a_failed_write_fails_every_later_commit(
    tmp_path: Path, error: Exception, raised: type[Exception], message: str
) -> None:
    store = CheckpointStore(tmp_path, interval=3600)
    await store.open()
    store.mark("a", "contacts", StreamState("w"), FailingSink(error))  # type: ignore[arg-type]
    with pytest.raises(raised, match=message):
        await store.flush()
    for _ in range(2):
        with pytest.raises(raised, match=message):
            await store.commit("b", "contacts", StreamState("w"), None)
    assert store.commits == 0
    await store.close()  # nothing more is written after a failure, and the lock is released
    assert load_checkpoints(tmp_path) == {}
    reopened = CheckpointStore(tmp_path, interval=3600)
    await reopened.open()
    await reopened.close()


class DeviceSink:
    """A file sink on device ``device`` (its fd for syncfs), or one that reports none."""

    def __init__(self, device: int | None, fd: int, log: list[str]) -> None:
        self.device, self.fd, self.log = device, fd, log

    def sync_device(self) -> tuple[int, int] | None:
        return None if self.device is None else (self.device, self.fd)

    def sync_blocking(self) -> None:
        self.log.append(f"fdatasync {self.fd}")


@pytest.mark.parametrize("count", [1, 7, 8, 20])
def test_many_files_are_synced_once_per_file_system(
    monkeypatch: pytest.MonkeyPatch, count: int
) -> None:
    synced: list[int] = []

    def syncfs(fd: int) -> int:
        synced.append(fd)
        return 0

    monkeypatch.setattr(_state, "_syncfs", syncfs)
    log: list[str] = []
    sinks = [DeviceSink(index % 2, 100 + index, log) for index in range(count)]
    _state._sync_all(sinks)
    if count >= 8:
        assert (synced, log) == ([100, 101], []), "one syncfs per device, first file's fd"
    else:
        assert (synced, log) == ([], [f"fdatasync {100 + i}" for i in range(count)])


def test_without_syncfs_every_file_is_synced(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(_state, "_syncfs", None)
    log: list[str] = []
    _state._sync_all([DeviceSink(0, 100 + index, log) for index in range(10)])
    assert log == [f"fdatasync {100 + index}" for index in range(10)]


def test_a_failed_syncfs_is_a_local_write_error(monkeypatch: pytest.MonkeyPatch) -> None:
    def failing(fd: int) -> int:
        return -1

    monkeypatch.setattr(_state, "_syncfs", failing)
    monkeypatch.setattr(_state.ctypes, "get_errno", lambda: 28)
    sinks = [DeviceSink(0, 100 + index, []) for index in range(8)]
    sinks[0].path = "/x/a.jsonl"  # type: ignore[attr-defined]
    with pytest.raises(LocalWriteError, match=f"cannot write /x/a.jsonl: {os.strerror(28)}"):
        _state._sync_all(sinks)


@pytest.mark.skipif(_state._syncfs is None, reason="syncfs is Linux only")
def test_syncfs_is_found_on_linux() -> None:
    assert _state._load_syncfs() is not None
    with open(__file__, "rb") as file:
        assert _state._syncfs(file.fileno()) == 0  # type: ignore[misc]


def test_load_syncfs_gives_a_working_syncfs_with_errno() -> None:
    syncfs = _state._load_syncfs()
    if syncfs is None:
        pytest.skip("syncfs is Linux only")
    with open(__file__, "rb") as file:
        assert syncfs(file.fileno()) == 0
    ctypes.set_errno(0)
    assert syncfs(-1) == -1
    assert ctypes.get_errno() == errno.EBADF, "errno is kept for the error message"


def test_a_failed_syncfs_names_the_output_files_when_a_sink_has_no_path(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(_state, "_syncfs", lambda fd: -1)
    monkeypatch.setattr(_state.ctypes, "get_errno", lambda: errno.EIO)
    with pytest.raises(LocalWriteError) as caught:
        _state._sync_all([DeviceSink(0, 100 + index, []) for index in range(8)])
    assert str(caught.value) == f"cannot write the output files: {os.strerror(errno.EIO)}"
    assert caught.value.errno == errno.EIO


def test_the_journal_holds_compact_json_lines(tmp_path: Path) -> None:
    async def save() -> None:
        store = CheckpointStore(tmp_path, interval=3600)
        await store.open()
        await store.commit("b", "users", StreamState(watermark="w"), None)
        await store.close()

    asyncio.run(save())
    assert (tmp_path / "checkpoints.journal").read_bytes() == (
        b'{"v":1,"account":"b","resource":"users","watermark":"w","run":null}\n'
    )


async def test_store_defaults_and_a_store_never_opened(tmp_path: Path) -> None:
    store = CheckpointStore(tmp_path)
    assert (store.durable, store.interval) == (True, 0.5)
    assert store.get("a", "contacts") == StreamState()
    await store.close()  # nothing to stop, nothing to write
    await store.close()
    with pytest.raises(RuntimeError, match=r"^the checkpoint store is not open$"):
        await store.flush()


async def test_open_holds_a_lock_file_and_close_twice_is_harmless(tmp_path: Path) -> None:
    store = CheckpointStore(tmp_path, interval=3600)
    await store.open()
    assert (tmp_path / "lock").is_file()
    await store.close()
    await store.close()


async def test_a_directory_that_cannot_be_made_is_a_local_write_error(tmp_path: Path) -> None:
    (tmp_path / "file").write_bytes(b"")
    directory = tmp_path / "file" / "state"
    with pytest.raises(LocalWriteError) as caught:
        await CheckpointStore(directory, interval=3600).open()
    assert caught.value.path == directory / "checkpoints.journal"
    assert caught.value.errno in (errno.ENOTDIR, errno.EEXIST)
    assert isinstance(caught.value.__cause__, OSError)


async def test_a_damaged_journal_leaves_the_directory_unlocked(tmp_path: Path) -> None:
    journal(tmp_path, b"{damaged\n", line("a", "contacts"))
    store = CheckpointStore(tmp_path, interval=3600)
    with pytest.raises(ExportStateError, match="is damaged"):
        await store.open()
    await store.close()
    journal(tmp_path, line("a", "contacts"))
    again = CheckpointStore(tmp_path, interval=3600)
    await again.open()  # the failed open released its lock
    await again.close()


async def test_a_commit_syncs_its_sink_before_its_state_is_written(tmp_path: Path) -> None:
    store = CheckpointStore(tmp_path, interval=3600)
    await store.open()
    log: list[str] = []
    try:
        await store.commit("a", "c", StreamState("w"), Sink(tmp_path, log, "s"))  # type: ignore[arg-type]
        assert log == ["s synced with 0 lines"]
        assert load_checkpoints(tmp_path) == {("a", "c"): StreamState("w")}
    finally:
        await store.close()


class FileSink:
    """A file sink: synced with a blocking call in a worker thread, never on the loop."""

    def __init__(self, log: list[str]) -> None:
        self.log = log

    async def sync(self) -> None:
        self.log.append("sync on the loop")

    def sync_blocking(self) -> None:
        self.log.append("sync_blocking")


async def test_file_sinks_are_synced_with_their_blocking_call(tmp_path: Path) -> None:
    store = CheckpointStore(tmp_path, interval=3600)
    await store.open()
    log: list[str] = []
    try:
        store.mark("a", "c", StreamState("w"), FileSink(log))  # type: ignore[arg-type]
        store.mark("b", "c", StreamState("w"), Sink(tmp_path, log, "other"))  # type: ignore[arg-type]
        await store.flush()
        assert sorted(log) == ["other synced with 0 lines", "sync_blocking"]
    finally:
        await store.close()


async def test_a_failed_journal_sync_is_a_local_write_error(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    store = CheckpointStore(tmp_path, interval=3600)
    await store.open()

    def failing_fsync(fd: int) -> None:
        raise OSError(errno.EIO, "Input/output error")

    monkeypatch.setattr(_state.os, "fsync", failing_fsync)
    with pytest.raises(LocalWriteError) as caught:
        await store.commit("a", "c", StreamState("w"), None)
    assert caught.value.path == tmp_path / "checkpoints.journal"
    assert caught.value.errno == errno.EIO
    monkeypatch.undo()
    await store.close()


class _GatedSink:
    """A sink whose sync waits for its gate: a group commit held open as long as a test likes.
    ``syncing`` is set once a group holding it is being written (its batch taken): a test
    waits for that, not for a time, which a busy machine can outlast."""

    def __init__(self, gate: asyncio.Event) -> None:
        self.gate = gate
        self.syncing = asyncio.Event()

    async def sync(self) -> None:
        self.syncing.set()
        await self.gate.wait()


def _committer(store: CheckpointStore) -> Callable[[str, object | None], asyncio.Future[None]]:
    """``commit(name, sink)``: stream ``name`` commits its state, as a task started now."""

    def commit(name: str, sink: object | None) -> asyncio.Future[None]:
        state = StreamState(name)  # type: ignore[arg-type]
        return asyncio.ensure_future(store.commit(name, "c", state, sink))  # type: ignore[arg-type]

    return commit


@pytest.mark.parametrize("behind_forget_sink", [False, True], ids=["plain", "behind-forget"])
async def test_a_commit_whose_state_a_finished_group_held_returns_without_writing(
    tmp_path: Path, behind_forget_sink: bool
) -> None:
    """The third commit's state goes with the second's group, so it does not write again; also
    when both queue on the lock behind a ``forget_sink``."""
    store = CheckpointStore(tmp_path, interval=3600)
    await store.open()
    gates = [asyncio.Event(), asyncio.Event()]
    commit = _committer(store)

    sinks = [_GatedSink(gate) for gate in gates]
    try:
        first = commit("a", sinks[0])
        await sinks[0].syncing.wait()  # the first group is being written, holding the lock
        waiting = [first]
        if behind_forget_sink:
            waiting.append(asyncio.ensure_future(store.forget_sink("gone", "c")))  # on the lock
        second, third = commit("b", sinks[1]), commit("c", None)
        await asyncio.sleep(0.01)
        gates[0].set()  # the second now writes a group holding its own state and the third's
        await sinks[1].syncing.wait()
        store.mark("late", "c", StreamState("late"), None)  # after that group was taken
        gates[1].set()
        await asyncio.gather(*waiting, second, third)
        assert store.commits == 2, "the third's state went with the second's group"
        assert set(load_checkpoints(tmp_path)) == {("a", "c"), ("b", "c"), ("c", "c")}
    finally:
        await store.close()


class GatedStore(_state.GroupCommitStore[str]):
    """A group-commit store in memory whose every group write waits for its own gate."""

    def __init__(self) -> None:
        super().__init__(interval=3600)
        self.gates: list[asyncio.Event] = []
        self.written: list[list[str]] = []

    def _is_open(self) -> bool:
        return True

    async def _write_batch(self, batch: dict[tuple[str, str], str]) -> None:
        gate = asyncio.Event()
        self.gates.append(gate)
        await gate.wait()
        self.written.append(sorted(batch.values()))

    async def _release(self) -> None:
        pass

    def mark(self, account: str, resource: str, state: StreamState, sink: Any) -> None:
        self._dirty[(account, resource)] = account


async def turns(count: int = 5) -> None:
    for _ in range(count):
        await asyncio.sleep(0)


async def test_a_commit_returns_once_its_group_is_written_not_after_a_later_one() -> None:
    store = GatedStore()

    def commit(name: str) -> asyncio.Future[None]:
        return asyncio.ensure_future(store.commit(name, "c", StreamState(name), None))

    first = commit("a")
    await turns()  # group 0 is being written
    second, third = commit("b"), commit("c")
    await turns()  # both wait for group 0
    store.gates[0].set()
    await turns()  # the second writes group 1, holding its own state and the third's
    assert store.written == [["a"]]
    store.gates[1].set()
    late = commit("late")  # ready before the third wakes: it starts group 2 at once
    await turns()
    assert store.written == [["a"], ["b", "c"]]
    assert third.done(), "group 1 held its state: it does not wait for group 2"
    assert not late.done()
    store.gates[2].set()
    await asyncio.gather(first, second, third, late)
    assert store.written == [["a"], ["b", "c"], ["late"]]
