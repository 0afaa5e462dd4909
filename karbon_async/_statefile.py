"""Local files the SDK keeps: one write path for all of them, and the budget state file.

``write_all`` is the only place the exporter and the budget state file hand bytes to the OS, so
a failed write (the disk is full) is always a ``LocalWriteError`` naming the file, and always
leaves the file as it was before the write (tests inject faults here).

``BudgetStateFile`` lets a budget survive a restart. The server counts requests per account in
a sliding window; a process that was killed mid-window took slots its successor knows nothing
about, so the successor could send a whole window's worth at once and draw 429s. The file
records, before each request is sent, that a slot was taken, and when its outcome came (written
with the next request's record, or at close: one write a request); on the next start the budget
is seeded with those slots (``AccountBudget.restore``), so the first requests wait as if the
earlier sends had happened in this process.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import threading
import time
from pathlib import Path

from ._budget import SLOT_MARGIN, AccountBudget, BudgetSnapshot, Permit
from ._exceptions import LocalWriteError
from ._limits import Lane, RateLimit

__all__ = ["BudgetStateFile", "LocalWriteError", "write_all"]


def write_all(fd: int, data: bytes, path: str | os.PathLike[str], start: int | None = None) -> int:
    """Append ``data`` at ``fd``'s offset; return the new offset. On failure the file is cut
    back to where it was, so no torn record is left for a later reader. ``start``: where the
    file ends, for a file whose size the caller keeps (the budget state file, an export's part
    file): one ``write`` then, no seek."""
    if start is None:
        start = os.lseek(fd, 0, os.SEEK_CUR)
    try:
        written = os.write(fd, data)
        if written < len(data):  # a short write: the rest, however many calls it takes
            view = memoryview(data)[written:]
            while view:
                view = view[os.write(fd, view) :]
    except OSError as exc:
        with contextlib.suppress(OSError):
            os.ftruncate(fd, start)
            os.lseek(fd, start, os.SEEK_SET)
        raise LocalWriteError(path, exc) from exc
    return start + len(data)


def _load(path: Path, per: float, now: float) -> tuple[list[float], float]:
    """Slots still held (seconds since each was released) and the cooldown left, from a file
    an earlier process wrote. That process is gone: a request it had in flight arrived by now."""
    sent: set[str] = set()
    released: dict[str, float] = {}
    cooldown_until = 0.0
    try:
        text = path.read_text(encoding="ascii", errors="replace")
    except FileNotFoundError:
        return [], 0.0
    for line in text.splitlines():
        parts = line.split()
        try:
            if parts[0] == "s":
                sent.add(parts[1])
            elif parts[0] == "r":
                released[parts[1]] = min(now, float(parts[2]))
            elif parts[0] == "c":
                cooldown_until = max(cooldown_until, float(parts[1]))
        except (IndexError, ValueError):
            continue  # a line torn by the kill
    ages = [now - released.get(key, now) for key in sent | set(released)]
    held = [age for age in ages if age < per + SLOT_MARGIN]
    return held, max(0.0, cooldown_until - now)


class _RecordedPermit:
    __slots__ = ("_file", "_key", "_permit")

    def __init__(self, file: BudgetStateFile, key: str, permit: Permit) -> None:
        self._file, self._key, self._permit = file, key, permit

    async def release(self) -> None:
        try:
            await self._permit.release()
        finally:
            self._file._released(self._key)


class BudgetStateFile:
    """An ``AccountBudget`` whose slots outlive the process: ``KarbonClient(budget=...)``.

    ``path`` holds this account's recent sends; give every process of one account the same
    file, one process at a time. Wall-clock times are stored, so a clock stepped back while
    nothing ran makes the successor wait longer, never less than it should.
    """

    def __init__(self, path: str | os.PathLike[str], limit: RateLimit) -> None:
        self.path = Path(path)
        self._budget = AccountBudget(limit)
        self._fd: int | None = None
        self._size = 0  # where the file ends: only this process writes it
        self._opened = False  # the file read and rewritten, or that failed (any thread)
        self._opening = threading.Lock()
        self._found: tuple[float, list[float], float] | None = None
        """What the file said (read at, slot ages, cooldown), until the budget takes it."""
        self._loaded = False  # the budget restored (on the event loop)
        self._next = 0
        self._releases = ""
        """Release records not written yet: they go with the next record (one write(2) a
        request, not two). Until then the file says those slots are held, which can only make
        a successor wait longer, never send sooner."""

    @property
    def limit(self) -> RateLimit:
        return self._budget.limit

    def open(self) -> None:
        """Read what an earlier process recorded, and start recording. The first ``acquire``
        (or ``cool_down``) does it in a thread, so that hundreds of budgets starting at once
        do not hold the event loop with file work; call it beforehand to do it at a time of
        your choosing. Safe to call more than once, from any thread."""
        with self._opening:
            if self._opened:
                return
            try:
                self._found = self._load_and_compact()
            except LocalWriteError:
                raise
            except OSError as exc:
                raise LocalWriteError(self.path, exc) from exc
            finally:
                # Only now: a caller that sees it set finds what was read (or, after a
                # failure, nothing to wait for; the budget then goes on unrecorded).
                self._opened = True

    async def _restore(self) -> None:
        if not self._opened:
            await asyncio.to_thread(self.open)
        if self._loaded:  # another caller restored it while this one waited
            return
        # On the event loop: the budget's wake-ups belong to it. The slots read are aged by
        # the time since, so the time the thread took is not waited twice.
        self._loaded = True
        if self._found is not None:
            read_at, held, cooldown = self._found
            self._found = None
            elapsed = max(0.0, time.time() - read_at)
            self._budget.restore([age + elapsed for age in held], max(0.0, cooldown - elapsed))

    def _load_and_compact(self) -> tuple[float, list[float], float]:
        now = time.time()
        held, cooldown = _load(self.path, self.limit.per, now)
        # Rewritten compactly: every slot the dead process held is released as of now.
        lines = "".join(f"r p{i} {now - age:.3f}\n" for i, age in enumerate(held))
        if cooldown:
            lines += f"c {now + cooldown:.3f}\n"
        self.path.parent.mkdir(parents=True, exist_ok=True)
        temporary = self.path.with_name(self.path.name + ".tmp")
        fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        try:
            size = write_all(fd, lines.encode(), temporary)
        finally:
            os.close(fd)
        os.replace(temporary, self.path)
        self._fd = os.open(self.path, os.O_WRONLY | os.O_APPEND)
        self._size = size
        return now, held, cooldown

    def _record(self, line: str) -> None:
        # One write(2) (the size is known: no seek), carrying the releases since the last one.
        if self._fd is not None:
            data = (self._releases + line).encode()
            self._size = write_all(self._fd, data, self.path, self._size)
            self._releases = ""

    def _released(self, key: str) -> None:
        if self._fd is not None:
            self._releases += f"r {key} {time.time():.3f}\n"

    async def acquire(self, lane: Lane = Lane.BULK) -> Permit:
        if not self._loaded:
            await self._restore()
        permit = await self._budget.acquire(lane)
        key = str(self._next)
        self._next += 1
        try:
            # Written before the request is sent: a kill after this line cannot lose the slot.
            self._record(f"s {key} {time.time():.3f}\n")
        except BaseException:
            await permit.release()
            raise
        return _RecordedPermit(self, key, permit)

    async def cool_down(self, seconds: float) -> None:
        if not self._loaded:
            await self._restore()
        await self._budget.cool_down(seconds)
        self._record(f"c {time.time() + max(0.0, seconds):.3f}\n")

    def snapshot(self) -> BudgetSnapshot:
        return self._budget.snapshot()

    def close(self) -> None:
        """Close the file (the budget itself keeps working, unrecorded)."""
        if self._fd is not None and self._releases:
            with contextlib.suppress(LocalWriteError):  # they only shorten a successor's wait
                self._record("")
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None
