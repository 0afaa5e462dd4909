"""The account budget alone: its window guarantee, lanes, cool-down and cancellation."""

from __future__ import annotations

import asyncio
import itertools
import random

import pytest
from conftest import max_in_window

from karbon_async import AccountBudget, Lane, RateLimit
from karbon_async._budget import shared_budget


async def _request(
    budget: AccountBudget, rng: random.Random, arrivals: list[float], lane: Lane
) -> None:
    """A request whose arrival lands anywhere between sending and its response."""
    loop = asyncio.get_running_loop()
    permit = await budget.acquire(lane)
    latency = rng.uniform(0.0, 0.04)
    arrive_after = rng.uniform(0.0, latency)
    await asyncio.sleep(arrive_after)
    arrivals.append(loop.time())
    await asyncio.sleep(latency - arrive_after)
    await permit.release()


@pytest.mark.parametrize("seed", [1, 2, 3])
async def test_arrivals_never_exceed_the_window_whatever_the_latency(seed: int) -> None:
    limit = RateLimit(requests=6, per=0.25)
    budget = AccountBudget(limit)
    rng = random.Random(seed)
    arrivals: list[float] = []
    lanes = [Lane.BULK, Lane.INTERACTIVE]
    await asyncio.gather(*(_request(budget, rng, arrivals, rng.choice(lanes)) for _ in range(40)))
    assert len(arrivals) == 40
    assert max_in_window(arrivals, limit.per) <= limit.requests


async def test_a_full_window_goes_out_at_once_then_waits() -> None:
    budget = AccountBudget(RateLimit(requests=3, per=0.2))
    permits = [await budget.acquire() for _ in range(3)]
    waiter = asyncio.ensure_future(budget.acquire())
    await asyncio.sleep(0.05)
    assert not waiter.done()
    assert budget.snapshot().waiting[Lane.BULK] == 1
    for permit in permits:
        await permit.release()
    await asyncio.sleep(0.1)
    assert not waiter.done(), "a released slot stays taken for `per` seconds"
    await asyncio.wait_for(waiter, 1.0)
    await (waiter.result()).release()


async def test_interactive_waiters_go_before_bulk_waiters() -> None:
    budget = AccountBudget(RateLimit(requests=1, per=0.05))
    first = await budget.acquire()
    order: list[str] = []

    async def wait(lane: Lane, name: str) -> None:
        permit = await budget.acquire(lane)
        order.append(name)
        await permit.release()

    tasks = [asyncio.ensure_future(wait(Lane.BULK, f"bulk{i}")) for i in range(3)]
    await asyncio.sleep(0.01)
    tasks.append(asyncio.ensure_future(wait(Lane.INTERACTIVE, "interactive")))
    await asyncio.sleep(0.01)
    await first.release()
    await asyncio.gather(*tasks)
    assert order == ["interactive", "bulk0", "bulk1", "bulk2"]


async def test_cool_down_pauses_every_lane_for_at_least_the_given_time() -> None:
    loop = asyncio.get_running_loop()
    budget = AccountBudget(RateLimit(requests=100, per=1.0))
    started = loop.time()  # the pause runs from the call: a slow machine after it eats into it
    await budget.cool_down(0.3)
    assert budget.snapshot().cooldown_remaining > 0.25
    permits = await asyncio.gather(budget.acquire(Lane.INTERACTIVE), budget.acquire(Lane.BULK))
    assert loop.time() - started >= 0.3
    await budget.cool_down(0.0)  # a shorter pause never shortens one in force
    for permit in permits:
        await permit.release()
    assert budget.snapshot().rate_limited == 2


async def test_cancelled_waiter_leaves_no_slot_taken() -> None:
    budget = AccountBudget(RateLimit(requests=1, per=0.05))
    held = await budget.acquire()
    waiter = asyncio.ensure_future(budget.acquire())
    await asyncio.sleep(0.01)
    waiter.cancel()
    with pytest.raises(asyncio.CancelledError):
        await waiter
    await held.release()
    await asyncio.sleep(0.06)
    snapshot = budget.snapshot()
    assert snapshot.in_window == 0
    assert snapshot.waiting == {Lane.INTERACTIVE: 0, Lane.BULK: 0}
    permit = await asyncio.wait_for(budget.acquire(), 0.5)
    await permit.release()


async def test_releasing_twice_frees_one_slot_only() -> None:
    budget = AccountBudget(RateLimit(requests=2, per=10.0))
    permit = await budget.acquire()
    await permit.release()
    await permit.release()
    assert budget.snapshot().in_window == 1


async def test_pacer_spreads_bulk_sends_after_the_burst() -> None:
    loop = asyncio.get_running_loop()
    budget = AccountBudget(RateLimit(requests=20, per=1.0, burst=2))
    sent: list[float] = []
    for _ in range(6):
        permit = await budget.acquire()
        sent.append(loop.time())
        await permit.release()
    gaps = [b - a for a, b in itertools.pairwise(sent[2:])]
    assert min(gaps) >= 0.04  # 1.0 s / 20 requests = 0.05 s apart once the burst is spent


async def test_one_budget_per_account_per_loop() -> None:
    limit = RateLimit(10, 1.0)
    a = shared_budget("http://127.0.0.1:1", "key-a", limit)
    assert shared_budget("http://127.0.0.1:1", "key-a", limit) is a
    assert shared_budget("http://127.0.0.1:1", "key-b", limit) is not a
    assert shared_budget("http://127.0.0.1:2", "key-a", limit) is not a
    with pytest.raises(ValueError, match="already has a budget"):
        shared_budget("http://127.0.0.1:1", "key-a", RateLimit(5, 1.0))


@pytest.mark.parametrize(
    "kwargs", [{"requests": 0}, {"per": 0}, {"per": -1.0}, {"requests": 5, "burst": 6}]
)
def test_rate_limit_rejects_nonsense(kwargs: dict[str, float]) -> None:
    with pytest.raises(ValueError):
        RateLimit(**kwargs)  # type: ignore[arg-type]
