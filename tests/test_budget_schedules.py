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


def test_a_cancel_in_the_turn_the_slot_frees_raises_cancelled_error() -> None:
    """The deadline and the slot's expiry fall in one loop turn, the deadline's callback first:
    the waiter is cancelled, then the dispatch skips it, then the waiter's task resumes."""
    per = 1.0

    async def scenario() -> tuple[BaseException | None, Any]:
        loop = asyncio.get_running_loop()
        budget = AccountBudget(RateLimit(requests=1, per=per))
        held = await budget.acquire()
        released_at = 1.0
        frees_at = released_at + per + SLOT_MARGIN  # computed as the budget computes it

        async def waiter() -> None:
            # Scheduled before the budget's own wake-up for the same instant, so it runs first.
            loop.call_at(frees_at, task.cancel)
            await budget.acquire()

        task = asyncio.ensure_future(waiter())
        await asyncio.sleep(released_at)
        await held.release()
        outcome: BaseException | None = None
        try:
            await task
        except BaseException as exc:  # whatever it was: the test inspects it
            outcome = exc
        await asyncio.sleep(per + 1)
        return outcome, budget.snapshot()

    outcome, snapshot = run_virtual(scenario())
    assert isinstance(outcome, asyncio.CancelledError)
    assert (snapshot.in_window, snapshot.in_flight, snapshot.granted) == (0, 0, 1)


# A caller's plan: (start, hold, lane, how it is cancelled). Cancellations land on a grid of
# quarter seconds, a few loop turns after the caller starts, or exactly when another caller's
# slot frees (scheduled before or after that caller's release, so both orders of the cancel
# and the budget's wake-up inside that one loop turn occur).
_cancel_specs = st.one_of(
    st.none(),
    st.tuples(st.just("at"), st.integers(0, 24).map(lambda q: q / 4)),
    st.tuples(st.just("turns"), st.integers(0, 4)),
    st.tuples(st.just("expiry"), st.integers(0, 11), st.booleans()),
)
_schedules = st.lists(
    st.tuples(
        st.integers(0, 12).map(lambda q: q / 4),
        st.integers(0, 8).map(lambda q: q / 4),
        st.sampled_from(list(Lane)),
        _cancel_specs,
    ),
    min_size=1,
    max_size=12,
)


@settings(max_examples=300, deadline=None)
@given(
    requests=st.integers(min_value=1, max_value=4),
    per=st.sampled_from([0.5, 1.0, 1.75]),
    cool_down=st.one_of(st.none(), st.integers(0, 8).map(lambda q: q / 4)),
    plans=_schedules,
)
def test_cancellation_at_any_loop_turn_propagates_and_leaks_nothing(
    requests: int,
    per: float,
    cool_down: float | None,
    plans: list[tuple[float, float, Lane, Any]],
) -> None:
    async def scenario() -> None:
        loop = asyncio.get_running_loop()
        # No burst pacer: aiolimiter was seen re-waking a waiter in a chain of zero-delay
        # callbacks (float rounding); a real clock moving ends that, this virtual one never does.
        budget = AccountBudget(RateLimit(requests, per))
        tasks: list[asyncio.Task[None]] = []
        on_release: dict[int, list[int]] = {}  # caller -> callers cancelled when its slot frees
        before_release: dict[int, list[int]] = {}
        in_flight = 0
        grants: list[float] = []
        releases: list[float] = []
        acquired: list[bool] = [False] * len(plans)

        def cancel_later(index: int, turns: int) -> None:
            if turns == 0:
                tasks[index].cancel()
            else:
                loop.call_soon(cancel_later, index, turns - 1)

        def cancel_when_frees(index: int, frees_at: float) -> None:
            loop.call_at(frees_at, tasks[index].cancel)

        async def one(index: int, start: float, hold: float, lane: Lane) -> None:
            nonlocal in_flight
            await asyncio.sleep(start)
            permit = await budget.acquire(lane)
            acquired[index] = True
            in_flight += 1
            grants.append(loop.time())
            assert in_flight <= requests
            assert budget.snapshot().in_window <= requests
            try:
                await asyncio.sleep(hold)
            finally:
                in_flight -= 1
                frees_at = loop.time() + per + SLOT_MARGIN
                for other in before_release.get(index, []):
                    cancel_when_frees(other, frees_at)
                releases.append(loop.time())
                await permit.release()
                for other in on_release.get(index, []):
                    cancel_when_frees(other, frees_at)
            if index == 0 and cool_down is not None:
                await budget.cool_down(cool_down)

        for index, (start, hold, lane, _) in enumerate(plans):
            tasks.append(asyncio.ensure_future(one(index, start, hold, lane)))
        for index, (*_, spec) in enumerate(plans):
            if spec is None:
                continue
            if spec[0] == "at":
                loop.call_at(spec[1], tasks[index].cancel)
            elif spec[0] == "turns":
                cancel_later(index, spec[1])
            else:
                other = spec[1] % len(plans)
                (before_release if spec[2] else on_release).setdefault(other, []).append(index)
        outcomes = await asyncio.gather(*tasks, return_exceptions=True)
        for index, outcome in enumerate(outcomes):
            # Only CancelledError may end a caller; anything else is a bug of the budget.
            assert outcome is None or isinstance(outcome, asyncio.CancelledError), (
                index,
                repr(outcome),
            )
        assert max_in_window(grants, per) <= requests
        assert max_in_window(releases, per) <= requests
        await asyncio.sleep(per + 1 + (cool_down or 0))
        snapshot = budget.snapshot()
        assert snapshot.granted == sum(acquired)
        assert (snapshot.in_window, snapshot.in_flight) == (0, 0)
        assert snapshot.waiting == {lane: 0 for lane in Lane}
        # Every slot is free again: a full window's worth goes out without waiting.
        started = loop.time()
        fresh = [await budget.acquire() for _ in range(requests)]
        assert loop.time() == started
        for permit in fresh:
            await permit.release()

    # A bound in virtual time turns a caller stuck forever into a failure instead of a hang.
    run_virtual(asyncio.wait_for(scenario(), 10_000))
