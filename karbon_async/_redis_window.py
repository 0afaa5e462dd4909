"""One process's own slots of a ``RedisBudget``: its mirror while Redis is there, its local
sliding window while Redis is not (``on_unavailable="local"``).

The budget's guarantee lives in Redis (see ``_redis_budget``); this window is what a process
knows on its own, in event-loop time:

* ``held``: slots granted and not released (a request in flight, or about to be);
* ``released``: slots released less than ``per`` seconds ago (their arrivals still count).

With Redis reachable it is a mirror: after an outage, or a Redis restart that lost the data,
the budget writes these slots back (``slots``) before taking new ones. During an outage in
local mode it is the window itself: it grants up to ``share`` slots (``limit.requests //
expected_processes``), counting the slots taken through Redis before the outage, and grants
nothing before ``opens_at`` (``per`` after the outage was noticed) or while a 429's cool-down
known here (``cooldown_until``) runs.
"""

from __future__ import annotations

import math
from collections import deque

from ._limits import RateLimit


class LocalWindow:
    """This process's slots of one account (see the module docstring)."""

    def __init__(self, limit: RateLimit, share: int, lease: float) -> None:
        self.limit = limit
        self.share = share
        """The most slots this process grants on its own during an outage."""
        self.lease = lease
        """Seconds a held slot is written back for (it is released earlier, normally)."""
        self.held: dict[str, float] = {}
        self.released: deque[tuple[float, str]] = deque()  # (expiry, member), oldest first
        self.cooldown_until = 0.0
        self.opens_at = 0.0
        """Loop time before which an outage grants nothing locally."""

    def hold(self, member: str, now: float) -> None:
        self.held[member] = now

    def forget(self, member: str) -> None:
        """A grant never used (its caller was cancelled as it came): it never arrives."""
        self.held.pop(member, None)

    def release(self, member: str, now: float) -> bool:
        """The slot's request has its answer: it counts for ``per`` more seconds. False when
        ``member`` was not held (released twice, or forgotten)."""
        if self.held.pop(member, None) is None:
            return False
        self.released.append((now + self.limit.per, member))
        return True

    def count(self, now: float) -> int:
        """Slots that count at ``now``: held, or released less than ``per`` ago."""
        while self.released and self.released[0][0] <= now:
            self.released.popleft()
        return len(self.held) + len(self.released)

    def slots(self, now: float) -> list[tuple[str, float]]:
        """``(member, milliseconds it still counts)`` for writing the slots back to Redis."""
        self.count(now)
        lease_ms = self.lease * 1000.0
        slots = [(member, lease_ms) for member in self.held]
        slots += [(member, (end - now) * 1000.0 + 1.0) for end, member in self.released]
        return slots

    def cool_down(self, until: float) -> None:
        self.cooldown_until = max(self.cooldown_until, until)

    def open_after(self, now: float) -> None:
        """An outage was noticed at ``now``: local grants start ``per`` later, when every
        request other processes saw answered through Redis has left the window."""
        self.opens_at = now + self.limit.per

    def paused_for(self, now: float) -> float:
        """Seconds before anything may be granted locally (0: now)."""
        return max(0.0, max(self.cooldown_until, self.opens_at) - now)

    def has_room(self, now: float) -> bool:
        return self.count(now) < self.share

    def next_free(self, now: float) -> float:
        """Seconds until a released slot leaves the window and room frees up (infinite when
        only held slots fill it: their release pokes the budget)."""
        if self.count(now) >= self.share and self.released:
            return max(0.0, self.released[0][0] - now)
        return math.inf
