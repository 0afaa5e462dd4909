"""Checkpoints: an append-only journal of stream states, committed in groups.

``STATE_DIR/checkpoints.journal`` (JSON lines) holds one line per saved stream state:
``watermark`` (where the last completed incremental sync got to) and ``run`` (the export in
progress or last finished: its next link, counts and the sink's position). The last complete
line of a stream wins; a line torn by a crash is ignored, so every saved state is all there or
not there at all.

Saving is a group commit: every ``interval`` seconds the states marked since the last commit are
taken, their sinks are made durable (``StreamSink.sync``: one fsync per file written to), and
only then are the states appended and the journal fsynced. A checkpoint therefore never points
past data that could be lost, and a stream need not wait for the disk after each page. The
journal is compacted (rewritten atomically) when an export opens it. One exporter at a time may
use a state directory: it is locked while open.
"""

from __future__ import annotations

import asyncio
import contextlib
import ctypes
import json
import os
import sys
from collections.abc import Callable
from pathlib import Path
from typing import IO, Any, Generic, TypeVar

import attrs
import msgspec

from .. import _statefile
from .._statefile import LocalWriteError
from ._writers import ExportStateError, StreamSink, _fsync_dir

try:
    import fcntl
except ImportError:  # pragma: no cover - Windows: no advisory lock, one exporter is on you
    fcntl = None  # type: ignore[assignment]

STATE_VERSION = 1
JOURNAL = "checkpoints.journal"

RUNNING = "running"
FINISHING = "finishing"
DONE = "done"

StreamKey = tuple[str, str]


@attrs.define
class RunState:
    """One export of one stream, as far as it durably got."""

    status: str = RUNNING
    changes_since: str | None = None
    """The watermark this sync started from (None: everything)."""
    incremental: bool = False
    """True when this run sorts by the modified field and will save a new watermark."""
    new_watermark: str | None = None
    next_link: str | None = None
    """The link after the last durable page; None before the first page and at the end."""
    pages: int = 0
    records: int = 0
    count: int | None = None
    position: Any = None


@attrs.define
class StreamState:
    watermark: str | None = None
    run: RunState | None = None

    def copy(self) -> StreamState:
        """A detached copy: later changes to this state's run do not reach it."""
        return StreamState(self.watermark, attrs.evolve(self.run) if self.run else None)


_LINE = msgspec.json.Encoder()
"""A state line's JSON (UTF-8, compact): what ``json.loads`` reads back, at a tenth of
``json.dumps``'s cost, once a page of every stream."""

_RUN_FIELDS = tuple(field.name for field in attrs.fields(RunState))
"""Encoded by name rather than by ``attrs.asdict``: its values are plain JSON values, and this
runs once a page of every stream."""


def run_document(run: RunState | None) -> dict[str, Any] | None:
    """A run's state as a JSON object (every checkpoint store saves it so)."""
    return None if run is None else {name: getattr(run, name) for name in _RUN_FIELDS}


def _encode(key: StreamKey, state: StreamState) -> bytes:
    line = {
        "v": STATE_VERSION,
        "account": key[0],
        "resource": key[1],
        "watermark": state.watermark,
        "run": run_document(state.run),
    }
    return _LINE.encode(line) + b"\n"


def load_checkpoints(directory: str | os.PathLike[str]) -> dict[StreamKey, StreamState]:
    """Every stream's last saved state in a state directory (read-only; for inspection)."""
    path = Path(directory) / JOURNAL
    states: dict[StreamKey, StreamState] = {}
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        return states
    except OSError as exc:
        raise ExportStateError(f"cannot read checkpoints {path}: {exc}") from exc
    for number, raw in enumerate(data.split(b"\n"), 1):
        if not raw.strip():
            continue
        try:
            line = json.loads(raw)
        except ValueError:
            if not data.endswith(b"\n") and data.rstrip(b"\n").endswith(raw):
                break  # the last line, torn by a crash: that state was never committed
            raise ExportStateError(f"{path}:{number} is damaged") from None
        if not isinstance(line, dict) or line.get("v") != STATE_VERSION:
            raise ExportStateError(f"{path}:{number} is not a version {STATE_VERSION} state")
        run = line.get("run")
        try:
            states[(line["account"], line["resource"])] = StreamState(
                line.get("watermark"), RunState(**run) if isinstance(run, dict) else None
            )
        except (KeyError, TypeError) as exc:
            raise ExportStateError(f"{path}:{number} is damaged: {exc}") from exc
    return states


def _load_syncfs() -> Callable[[int], int] | None:
    if not sys.platform.startswith("linux"):
        return None
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        function = libc.syncfs
    except (OSError, AttributeError):
        return None
    function.argtypes = [ctypes.c_int]
    function.restype = ctypes.c_int
    return function


_syncfs = _load_syncfs()
_SYNCFS_FROM = 8


def _sync_all(sinks: list[Any]) -> None:
    """Make the sinks durable: one ``syncfs`` per file system when there are many files on Linux
    (one system call instead of hundreds of fsyncs, each of which would hand the GIL back and
    forth with the event loop), else ``fdatasync`` each."""
    if (
        _syncfs is not None
        and len(sinks) >= _SYNCFS_FROM
        and all(hasattr(s, "sync_device") for s in sinks)
    ):
        devices: dict[int, tuple[int, Any]] = {}
        for sink in sinks:
            found = sink.sync_device()
            if found is not None:
                devices.setdefault(found[0], (found[1], sink))
        for fd, sink in devices.values():
            if _syncfs(fd) != 0:
                error = ctypes.get_errno()
                cause = OSError(error, os.strerror(error))
                raise LocalWriteError(getattr(sink, "path", "the output files"), cause)
        return
    for sink in sinks:
        sink.sync_blocking()


Entry = TypeVar("Entry")


class GroupCommitStore(Generic[Entry]):
    """What every checkpoint store shares: states marked by streams are written in groups,
    every ``interval`` seconds and whenever a stream commits, and a commit returns as soon as a
    group that included its state is written (hundreds of streams starting at once cost a
    couple of writes, not one each in a row). A failed write fails every later commit.
    Subclasses hold the medium: ``_is_open``, ``_write_batch`` (one group, all or nothing)
    and ``_release`` (after the last write)."""

    def __init__(self, interval: float) -> None:
        self.interval = interval
        self._states: dict[StreamKey, StreamState] = {}
        self._dirty: dict[StreamKey, Entry] = {}
        self._commit_lock = asyncio.Lock()
        self._not_writing = asyncio.Event()
        self._not_writing.set()
        self._flusher: asyncio.Task[None] | None = None
        self._failed: BaseException | None = None
        self._collecting = 0
        """The group that marks made now join."""
        self._written_through = -1
        """The last group known written: a commit waiting for one that already included its
        state returns without writing again."""
        self.commits = 0

    def _is_open(self) -> bool:
        raise NotImplementedError

    async def _write_batch(self, batch: dict[StreamKey, Entry]) -> None:
        raise NotImplementedError

    async def _release(self) -> None:
        raise NotImplementedError

    def get(self, account: str, resource: str) -> StreamState:
        state = self._states.get((account, resource))
        return StreamState() if state is None else state.copy()

    def _start_flushing(self) -> None:
        self._flusher = asyncio.ensure_future(self._flush_periodically())

    async def _flush_periodically(self) -> None:
        while True:
            await asyncio.sleep(self.interval)
            try:
                await self.flush()
            except Exception:  # kept in _failed: every later commit raises it
                return

    async def close(self) -> None:
        if self._flusher is not None:
            self._flusher.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._flusher
            self._flusher = None
        try:
            if self._failed is None and self._is_open():
                await self.flush()
        finally:
            await self._release()

    async def commit(
        self, account: str, resource: str, state: StreamState, sink: StreamSink | None
    ) -> None:
        """Save ``state`` (with what ``sink`` holds) now; return once it is written."""
        self.mark(account, resource, state, sink)
        await self.flush()

    def mark(
        self, account: str, resource: str, state: StreamState, sink: StreamSink | None
    ) -> None:
        raise NotImplementedError

    async def flush(self) -> None:
        """Return once every state marked before the call is written."""
        wanted = self._collecting
        while not self._not_writing.is_set():
            # A group is being written: wait for it beside every other caller, all woken at
            # once. Queued on the lock instead, each would need a turn of the event loop to
            # find its state written: seconds for a thousand streams starting on a busy loop.
            await self._not_writing.wait()
            if self._failed is None and self._written_through >= wanted and self._is_open():
                return  # what the lock's holder would find and return on, below
        async with self._commit_lock:
            self._not_writing.clear()
            try:
                await self._flush_locked(wanted)
            finally:
                self._not_writing.set()

    async def _flush_locked(self, wanted: int) -> None:
        if isinstance(self._failed, LocalWriteError):
            raise self._failed
        if self._failed is not None:
            raise ExportStateError(f"checkpoints cannot be saved: {self._failed}")
        if not self._is_open():
            raise RuntimeError("the checkpoint store is not open")
        if self._written_through >= wanted:
            return  # written by the group this call waited for
        taken = self._collecting
        self._collecting += 1
        if self._dirty:
            batch, self._dirty = self._dirty, {}
            try:
                await self._write_batch(batch)
            except LocalWriteError as exc:  # e.g. the disk is full: nothing more to promise
                self._failed = exc
                raise
            except Exception as exc:
                self._failed = exc
                raise ExportStateError(f"checkpoints cannot be saved: {exc}") from exc
            self.commits += 1
        self._written_through = taken


class CheckpointStore(GroupCommitStore[tuple[bytes, StreamSink | None]]):
    """The journal of one state directory, open for one export run."""

    def __init__(
        self, directory: str | os.PathLike[str], *, durable: bool = True, interval: float = 0.5
    ) -> None:
        super().__init__(interval)
        self.directory = Path(directory)
        self.durable = durable
        self._journal: IO[bytes] | None = None
        self._lock_file: IO[bytes] | None = None

    # -- lifecycle
    def _open_sync(self) -> None:
        try:
            self._open_journal()
        except BaseException as exc:
            if self._lock_file is not None:
                self._lock_file.close()
                self._lock_file = None
            if isinstance(exc, OSError) and not isinstance(exc, LocalWriteError):
                raise LocalWriteError(self.directory / JOURNAL, exc) from exc
            raise

    def _open_journal(self) -> None:
        self.directory.mkdir(parents=True, exist_ok=True)
        lock = open(self.directory / "lock", "wb")  # noqa: SIM115 - held while open
        try:
            if fcntl is not None:
                fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            lock.close()
            raise ExportStateError(
                f"another export is using {self.directory}; wait for it or use another --out"
            ) from None
        self._lock_file = lock
        self._states = load_checkpoints(self.directory)
        path = self.directory / JOURNAL
        compacted = path.with_name(JOURNAL + ".tmp")
        with open(compacted, "wb", buffering=0) as file:
            data = b"".join(_encode(k, s) for k, s in self._states.items())
            _statefile.write_all(file.fileno(), data, compacted)
            if self.durable:
                os.fsync(file.fileno())
        os.replace(compacted, path)
        if self.durable:
            _fsync_dir(self.directory)
        # Unbuffered: a failed append is cut back by write_all, never flushed again on close.
        self._journal = open(path, "ab", buffering=0)  # noqa: SIM115

    async def open(self) -> None:
        await asyncio.to_thread(self._open_sync)
        self._start_flushing()

    def _is_open(self) -> bool:
        return self._journal is not None

    async def _release(self) -> None:
        if self._journal is not None:
            self._journal.close()
            self._journal = None
        if self._lock_file is not None:
            self._lock_file.close()  # releases the flock
            self._lock_file = None

    # -- states
    def mark(
        self, account: str, resource: str, state: StreamState, sink: StreamSink | None
    ) -> None:
        """Save ``state`` with the next group commit, after ``sink`` is made durable."""
        key = (account, resource)
        self._dirty[key] = (_encode(key, state), sink)

    async def forget_sink(self, account: str, resource: str) -> None:
        """Drop a pending commit's sink (it is closing); waits out a commit in progress."""
        async with self._commit_lock:
            entry = self._dirty.get((account, resource))
            if entry is not None:
                self._dirty[(account, resource)] = (entry[0], None)

    async def _write_batch(self, batch: dict[StreamKey, tuple[bytes, StreamSink | None]]) -> None:
        """The sinks made durable first, then the states appended and the journal synced."""
        sinks = [s for _, s in batch.values() if s is not None]
        blocking = [s for s in sinks if hasattr(s, "sync_blocking")]
        others = [s for s in sinks if not hasattr(s, "sync_blocking")]
        lines = b"".join(line for line, _ in batch.values())
        await asyncio.gather(*(s.sync() for s in others))
        await asyncio.to_thread(self._append_sync, blocking, lines)

    def _append_sync(self, sinks: list[Any], lines: bytes) -> None:
        _sync_all(sinks)
        assert self._journal is not None
        path = self.directory / JOURNAL
        fd = self._journal.fileno()
        os.lseek(fd, 0, os.SEEK_END)
        _statefile.write_all(fd, lines, path)
        if self.durable:
            try:
                os.fsync(fd)
            except OSError as exc:
                raise LocalWriteError(path, exc) from exc
