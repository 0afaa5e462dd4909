"""Property tests of the budget over many schedules, on an event loop with a virtual clock.

The loop never sleeps: whenever it would wait for a timer, its clock jumps to the timer. So a
schedule spanning minutes of budget time runs in milliseconds, and every arrival time is exact.
"""

from __future__ import annotations

import asyncio
import math
import selectors
from typing import Any

from conftest import max_in_window
from hypothesis import given, settings
from hypothesis import strategies as st

from karbon_async import AccountBudget, Lane, RateLimit
from karbon_async._budget import SLOT_MARGIN


class _JumpingSelector(selectors.DefaultSelector):
    def __init__(self, loop: VirtualClockLoop) -> None:
        super().__init__()
        self._loop = loop

    def select(self, timeout: float | None = None) -> list[Any]:
        ready = super().select(0)
        if not ready and timeout is not None and timeout > 0:
            self._loop.now += timeout
        return ready


class VirtualClockLoop(asyncio.SelectorEventLoop):
    def __init__(self) -> None:
        self.now = 0.0
        super().__init__(_JumpingSelector(self))

    def time(self) -> float:
        return self.now


def run_virtual(coroutine: Any) -> Any:
    loop = VirtualClockLoop()
    try:
        return loop.run_until_complete(coroutine)
    finally:
        loop.close()


request_plans = st.lists(
    st.tuples(
        st.floats(min_value=0.0, max_value=3.0),  # latency, seconds
        st.floats(min_value=0.0, max_value=1.0),  # where in the latency the arrival falls
        st.sampled_from(list(Lane)),
        st.floats(min_value=0.0, max_value=5.0),  # when the caller starts
    ),
    min_size=1,
    max_size=60,
)


@settings(max_examples=150, deadline=None)
@given(
    requests=st.integers(min_value=1, max_value=12),
    per=st.floats(min_value=0.5, max_value=60.0),
    plans=request_plans,
    retry_after=st.one_of(st.none(), st.floats(min_value=0.0, max_value=30.0)),
)
def test_no_window_ever_holds_more_arrivals_than_the_limit(
    requests: int,
    per: float,
    plans: list[tuple[float, float, Lane, float]],
    retry_after: float | None,
) -> None:
    async def scenario() -> tuple[list[float], float]:
        loop = asyncio.get_running_loop()
        budget = AccountBudget(RateLimit(requests, per))
        arrivals: list[float] = []
        pause_from: list[float] = []

        async def one(
            index: int, latency: float, fraction: float, lane: Lane, start: float
        ) -> None:
            await asyncio.sleep(start)
            permit = await budget.acquire(lane)
            await asyncio.sleep(latency * fraction)
            arrivals.append(loop.time())
            await asyncio.sleep(latency * (1 - fraction))
            await permit.release()
            if index == 0 and retry_after is not None:  # the first response was a 429
                pause_from.append(loop.time())
                await budget.cool_down(retry_after)

        await asyncio.gather(*(one(i, *plan) for i, plan in enumerate(plans)))
        return arrivals, pause_from[0] if pause_from else math.inf

    arrivals, paused_at = run_virtual(scenario())
    assert len(arrivals) == len(plans), "every request was served"
    assert max_in_window(arrivals, per) <= requests
    if retry_after is not None:
        # Nothing is sent during the pause: whatever arrives inside it was already on its way.
        sent_late = [t for t in arrivals if paused_at < t < paused_at + retry_after]
        longest = max(plan[0] for plan in plans)
        assert all(t <= paused_at + longest for t in sent_late)


@settings(max_examples=60, deadline=None)
@given(
    requests=st.integers(min_value=1, max_value=20),
    per=st.floats(min_value=1.0, max_value=60.0),
    latency=st.floats(min_value=0.0, max_value=0.5),
    total=st.integers(min_value=1, max_value=200),
)
def test_a_saturated_budget_wastes_at_most_one_latency_per_window(
    requests: int, per: float, latency: float, total: int
) -> None:
    """Liveness and efficiency: with work always waiting, batch k starts by k * (per + latency)."""

    async def scenario() -> float:
        loop = asyncio.get_running_loop()
        budget = AccountBudget(RateLimit(requests, per))

        async def one() -> None:
            permit = await budget.acquire()
            await asyncio.sleep(latency)
            await permit.release()

        await asyncio.gather(*(one() for _ in range(total)))
        return loop.time()

    finished = run_virtual(scenario())
    windows = math.ceil(total / requests) - 1
    assert finished <= windows * (per + latency + SLOT_MARGIN) + latency + 1e-6
