"""The fake's rate limiter: an exact sliding window over accepted arrivals.

Karbon counts requests as they *arrive*; the SDK's whole design is to never exceed the limit in
any window, so the fake must judge arrivals exactly, not approximately (no token bucket, no
fixed windows). A deque of accepted timestamps makes each decision amortised O(1), which keeps
hundreds of accounts at 120 requests/minute cheap.
"""

from __future__ import annotations

import math
from collections import deque
from collections.abc import Sequence

__all__ = ["SlidingWindow", "max_in_window"]


class SlidingWindow:
    """At most ``requests`` accepted arrivals in any half-open window ``(t - per, t]``."""

    __slots__ = ("_accepted", "per", "requests")

    def __init__(self, requests: int, per: float) -> None:
        self.requests = requests
        self.per = per
        self._accepted: deque[float] = deque()

    def admit(self, now: float) -> int | None:
        """Accept the arrival at ``now`` (None) or return the Retry-After seconds to send.

        Retry-After is the whole number of seconds, at least 1, until the oldest accepted arrival
        leaves the window, i.e. until a retry is guaranteed to be accepted if nothing else
        arrives. Rejected arrivals are not counted: Karbon throttles, it does not punish.
        """
        accepted = self._accepted
        cutoff = now - self.per
        while accepted and accepted[0] <= cutoff:
            accepted.popleft()
        if len(accepted) >= self.requests:
            return max(1, math.ceil(accepted[0] + self.per - now))
        accepted.append(now)
        return None

    def in_window(self, now: float) -> int:
        """How many accepted arrivals fall in ``(now - per, now]``."""
        cutoff = now - self.per
        return sum(1 for t in self._accepted if cutoff < t <= now)


def max_in_window(times: Sequence[float], per: float) -> int:
    """The largest number of ``times`` inside any half-open window ``(t - per, t]``.

    ``times`` must be in non-decreasing order (arrival order of ``time.monotonic()`` is). Only
    windows ending at an arrival need checking, since that is where a count can reach its peak.
    Two pointers make this O(n).
    """
    best = 0
    start = 0
    for end, t in enumerate(times):
        cutoff = t - per
        while times[start] <= cutoff:
            start += 1
        best = max(best, end - start + 1)
    return best
