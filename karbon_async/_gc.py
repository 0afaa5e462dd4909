"""``tuned_gc()``: the garbage collector set up for a process driving many accounts.

A page decodes into thousands of short-lived containers; with CPython's default thresholds the
collector runs every 700 allocations and, as hundreds of clients' objects pile up in the old
generations, full collections walk them again and again: measured at 30-60 % of the CPU of a
process listing typed pages from 200-1,000 accounts (benchmarks/README.md). What it does:
everything allocated before entering (modules, clients, budgets) is frozen out of the
collector's sight (``gc.freeze()``) and young collections run every 50,000 allocations.
Reference counting still frees what it always did; only cycles wait longer.
"""

from __future__ import annotations

import contextlib
import gc
from collections.abc import Iterator

GC_GEN0_THRESHOLD = 50_000
"""Allocations between young collections within ``tuned_gc()`` (CPython's default is 700 or
2,000): a page decodes into thousands of short-lived containers, and collecting every 700 of
them spends CPU on objects that reference counting frees anyway. See benchmarks/README.md."""

_gc_saved: list[tuple[tuple[int, ...], bool]] = []
"""Per tuned_gc() in force: the thresholds before, and whether the process had frozen objects."""


@contextlib.contextmanager
def tuned_gc() -> Iterator[None]:
    """Within the block: everything allocated so far (modules, clients, sinks) is frozen out
    of the collector's sight, and young collections run less often. Restored afterwards (a
    freeze the application made itself is left alone); nested or concurrent uses in one
    process tune it once and the last one out restores it. Every export runs in one.

    ::

        async with clients_for_many_accounts() as clients:  # create them first: then frozen
            with ka.tuned_gc():
                await asyncio.gather(*(sync(client) for client in clients))
    """
    if _gc_saved:
        saved = _gc_saved[0]
    else:
        saved = (gc.get_threshold(), gc.get_freeze_count() > 0)
        gc.freeze()
        gc.set_threshold(max(saved[0][0], GC_GEN0_THRESHOLD), *saved[0][1:])
    _gc_saved.append(saved)
    try:
        yield
    finally:
        _gc_saved.pop()
        if not _gc_saved:
            gc.set_threshold(*saved[0])
            if not saved[1]:
                gc.unfreeze()
