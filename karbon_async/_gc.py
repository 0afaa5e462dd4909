"""The garbage collector set up for a process driving many accounts: ``tuned_gc()``, and the
same applied by itself while many listings run at once.

A page decodes into thousands of short-lived containers; with CPython's default thresholds the
collector runs every 700 allocations and, as hundreds of clients' objects pile up in the old
generations, full collections walk them again and again: measured at 30-60 % of the CPU of a
process listing typed pages from 200-1,000 accounts (benchmarks/README.md). What it does:
everything allocated before entering (modules, clients, budgets) is frozen out of the
collector's sight (``gc.freeze()``) and young collections run every 50,000 allocations, or
every ``GC_GEN0_PER_LISTING`` allocations per listing running, whichever is more. Reference
counting still frees what it always did; only cycles wait longer.

Automatically: while at least ``AUTO_GC_LISTINGS`` listings (``async for`` over ``list()``,
``.pages()``, ``.raw()``, ``.json()``) run at once in the process, it is tuned as in
``tuned_gc()``, and frozen again each time that number has doubled; once fewer than
``AUTO_GC_RELEASE`` run, the settings from before are back (a freeze the application made
itself is left alone). A cycle among frozen objects that becomes garbage is collected only
after that. A process with a handful of listings is never touched. ``auto_gc(False)`` turns
this off for the process (``auto_gc(True)`` on again).
"""

from __future__ import annotations

import contextlib
import gc
import threading
from collections.abc import Iterator

GC_GEN0_THRESHOLD = 50_000
"""Allocations between young collections within ``tuned_gc()`` (CPython's default is 700 or
2,000): a page decodes into thousands of short-lived containers, and collecting every 700 of
them spends CPU on objects that reference counting frees anyway. See benchmarks/README.md."""

GC_GEN0_PER_LISTING = 250
"""While tuned, the young generation's threshold grows with the listings running at once. Each
request in flight holds about a hundred tracked objects (its coroutines, futures, parser,
timers: 92 per account measured at 1,500 accounts), all young, all alive; a young collection
walks every one of them and finds nothing to free. With a threshold below that in-flight set
(50,000 against 138,000 at 1,500 accounts) a collection ran every 0.4 s for 60-170 ms; above it,
the count of allocations rarely reaches the threshold at all (benchmarks/README.md)."""

AUTO_GC_LISTINGS = 16
"""Listings running at once from which the collector is tuned by itself. Below it the
collector's cost is small (benchmarks/README.md: 15 % of the CPU at 50 accounts, where the
process is mostly idle) and a process is left as Python sets it up."""

AUTO_GC_RELEASE = 4
"""Fewer listings than this at once, and the automatic tuning is undone: well below
``AUTO_GC_LISTINGS``, so a count wavering around it does not freeze and unfreeze by turns."""

AUTO_GC_REFREEZE = 2
"""While tuned by itself: each time the listings running at once have doubled since the last
freeze, what exists is frozen again (undone with the rest when the tuning ends)."""

_gc_saved: list[tuple[tuple[int, ...], bool]] = []
"""Per tuning in force (each ``tuned_gc()`` and the automatic one): the thresholds before, and
whether the process had frozen objects."""

_lock = threading.RLock()  # listings may run in several threads' event loops


def _enter() -> None:
    with _lock:
        if _gc_saved:
            saved = _gc_saved[0]
        else:
            saved = (gc.get_threshold(), gc.get_freeze_count() > 0)
            gc.freeze()
        _gc_saved.append(saved)
        _set_threshold()


def _set_threshold() -> None:
    """The young generation's threshold for the tuning in force and the listings running."""
    if _gc_saved:
        before = _gc_saved[0][0]
        young = max(before[0], GC_GEN0_THRESHOLD, GC_GEN0_PER_LISTING * _auto.listings)
        if gc.get_threshold()[0] != young:
            gc.set_threshold(young, *before[1:])


def _exit() -> None:
    with _lock:
        saved = _gc_saved.pop()
        if not _gc_saved:
            gc.set_threshold(*saved[0])
            if not saved[1]:
                gc.unfreeze()


@contextlib.contextmanager
def tuned_gc() -> Iterator[None]:
    """Within the block: everything allocated so far (modules, clients, sinks) is frozen out
    of the collector's sight, and young collections run less often. Restored afterwards (a
    freeze the application made itself is left alone); nested or concurrent uses in one
    process tune it once and the last one out restores it. Every export runs in one, and so
    does any process while it runs many listings at once (``auto_gc``).

    ::

        async with clients_for_many_accounts() as clients:  # create them first: then frozen
            with ka.tuned_gc():
                await asyncio.gather(*(sync(client) for client in clients))
    """
    _enter()
    try:
        yield
    finally:
        _exit()


class _AutoTuning:
    """The count of listings running in the process, and the tuning it switched on."""

    def __init__(self) -> None:
        self.enabled = True
        self.listings = 0
        self.engaged = False
        self.frozen_at = 0
        """Listings running when the process was last frozen by this tuning."""

    def started(self) -> None:
        with _lock:
            self.listings += 1
            self._settle()

    def ended(self) -> None:
        with _lock:
            self.listings -= 1
            self._settle()

    def set_enabled(self, enabled: bool) -> None:
        with _lock:
            self.enabled = enabled
            self._settle()

    def _settle(self) -> None:
        self._engage()
        _set_threshold()

    def _engage(self) -> None:
        if self.engaged and (not self.enabled or self.listings < AUTO_GC_RELEASE):
            self.engaged = False
            _exit()
        elif not self.engaged and self.enabled and self.listings >= AUTO_GC_LISTINGS:
            self.engaged = True
            self.frozen_at = self.listings
            _enter()
        elif self.engaged and self.listings >= AUTO_GC_REFREEZE * self.frozen_at:
            # Clients and connections made since the last freeze (an export starting a
            # thousand accounts makes most of them after its tuning began) join the frozen.
            self.frozen_at = self.listings
            gc.freeze()


_auto = _AutoTuning()


def auto_gc(enabled: bool) -> None:
    """Whether the collector is tuned by itself while many listings run at once (on unless
    turned off; see ``tuned_gc``). ``auto_gc(False)`` undoes a tuning in force at once; a
    process that sets the collector up itself (``gc.set_threshold``, ``gc.freeze``) turns it
    off first, as the automatic tuning puts back the settings it found when it began."""
    _auto.set_enabled(enabled)


@contextlib.contextmanager
def listing() -> Iterator[None]:
    """Around one listing's run: counted towards the automatic tuning."""
    _auto.started()
    try:
        yield
    finally:
        _auto.ended()
