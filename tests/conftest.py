from __future__ import annotations

import bisect
from collections.abc import Sequence


def max_in_window(arrivals: Sequence[float], per: float) -> int:
    """The most arrivals in any half-open window (t - per, t]."""
    times = sorted(arrivals)
    best = 0
    for index, end in enumerate(times):
        start = bisect.bisect_right(times, end - per)
        best = max(best, index - start + 1)
    return best
