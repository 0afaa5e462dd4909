"""The account budget alone: its window guarantee, lanes, cool-down and cancellation."""

from __future__ import annotations

import asyncio
import itertools
import random
import re
import time

import pytest
from conftest import max_in_window

from karbon_async import AccountBudget, Lane, RateLimit
from karbon_async._budget import SLOT_MARGIN, shared_budget


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
    remaining = budget.snapshot().cooldown_remaining
    assert 0.3 - (loop.time() - started) <= remaining <= 0.3
    await budget.cool_down(0.1)  # a shorter pause never shortens one in force
    assert budget.snapshot().cooldown_remaining > 0.1 + (0.3 - 0.1) - (loop.time() - started)
    permits = await asyncio.gather(budget.acquire(Lane.INTERACTIVE), budget.acquire(Lane.BULK))
    assert loop.time() - started >= 0.3
    assert budget.snapshot().cooldown_remaining == 0.0
    for permit in permits:
        await permit.release()
    assert budget.snapshot().rate_limited == 2


async def test_a_cool_down_of_zero_or_less_pauses_nothing_but_is_counted() -> None:
    loop = asyncio.get_running_loop()
    budget = AccountBudget(RateLimit(requests=100, per=1.0))
    for seconds in (0.0, -5.0):
        await budget.cool_down(seconds)
        assert budget.snapshot().cooldown_remaining == 0.0
        started = loop.time()
        permit = await budget.acquire()
        assert loop.time() - started < 0.05, "no pause: granted at once"
        await permit.release()
    assert budget.snapshot().rate_limited == 2


async def test_a_429_while_a_bulk_request_waits_on_the_pacer_holds_it_back() -> None:
    """The slot was granted before the pause began; the request still must not go out until
    the pause is over."""
    loop = asyncio.get_running_loop()
    budget = AccountBudget(RateLimit(requests=2, per=1.0, burst=1))  # one send per 0.5 s
    first = await budget.acquire()
    second = asyncio.ensure_future(budget.acquire())
    await asyncio.sleep(0.05)
    assert budget.snapshot().in_flight == 2, "the second one has its slot, waits on the pacer"
    paused_at = loop.time()
    await budget.cool_down(0.8)
    permit = await asyncio.wait_for(second, 5.0)
    assert loop.time() - paused_at >= 0.8
    await permit.release()
    await first.release()


@pytest.mark.parametrize("during", ["pacer", "cool-down"])
async def test_cancelled_while_paced_or_paused_returns_its_slot(during: str) -> None:
    """A request holding a slot while it waits on the pacer, or on a pause that began during
    that wait, gives the slot back when cancelled: it was never sent."""
    budget = AccountBudget(RateLimit(requests=5, per=1.0, burst=1))  # one send per 0.2 s
    first = await budget.acquire()
    interactive = await budget.acquire(Lane.INTERACTIVE)  # not paced
    second = asyncio.ensure_future(budget.acquire())
    await asyncio.sleep(0.05)
    if during == "cool-down":
        await budget.cool_down(5.0)
        await asyncio.sleep(0.3)  # past the pacer: now only the pause holds it
    assert not second.done()
    assert budget.snapshot().granted == 3
    second.cancel()
    with pytest.raises(asyncio.CancelledError):
        await second
    snapshot = budget.snapshot()
    assert (snapshot.in_flight, snapshot.granted) == (2, 2), "never sent: the slot is unused"
    await first.release()
    await interactive.release()


async def test_cancelled_waiter_leaves_no_slot_taken() -> None:
    budget = AccountBudget(RateLimit(requests=1, per=0.05))
    held = await budget.acquire()
    waiter = asyncio.ensure_future(budget.acquire())
    await asyncio.sleep(0.01)
    waiter.cancel()
    with pytest.raises(asyncio.CancelledError):
        await waiter
    assert budget.snapshot().waiting[Lane.BULK] == 0, "a cancelled waiter leaves the queue at once"
    await held.release()
    await asyncio.sleep(0.06)
    snapshot = budget.snapshot()
    assert snapshot.in_window == 0
    assert snapshot.waiting == {Lane.INTERACTIVE: 0, Lane.BULK: 0}
    permit = await asyncio.wait_for(budget.acquire(), 0.5)
    await permit.release()


async def test_restore_counts_only_slots_still_inside_the_window() -> None:
    budget = AccountBudget(RateLimit(requests=3, per=2.0))
    held = await budget.acquire()
    await held.release()  # its slot frees 2 s from now
    # Released 1.9 s ago (frees in 0.1 s), still in flight when it died (frees in 2 s), and
    # released longer ago than the window (already free).
    budget.restore([1.9, 0.0, 2.5, 10.0])
    assert budget.snapshot().in_window == 3
    await asyncio.sleep(0.3)
    assert budget.snapshot().in_window == 2, "the oldest restored slot frees first"
    permit = await asyncio.wait_for(budget.acquire(), 0.5)
    assert budget.snapshot().in_window == 3
    await permit.release()


async def test_a_restored_slot_stays_taken_per_and_the_margin_after_its_release() -> None:
    loop = asyncio.get_running_loop()
    budget = AccountBudget(RateLimit(requests=1, per=0.2))
    started = loop.time()
    budget.restore([0.0])
    permit = await asyncio.wait_for(budget.acquire(), 2.0)
    assert loop.time() - started >= 0.2 + SLOT_MARGIN
    await permit.release()


async def test_restore_resumes_a_pause_without_shortening_one() -> None:
    budget = AccountBudget(RateLimit(requests=3, per=1.0))
    budget.restore([], cooldown=0.0)
    assert budget.snapshot().cooldown_remaining == 0.0
    budget.restore([], cooldown=2.0)
    assert 1.9 < budget.snapshot().cooldown_remaining <= 2.0
    budget.restore([], cooldown=0.5)
    assert budget.snapshot().cooldown_remaining > 1.5
    assert budget.snapshot().rate_limited == 0, "a restored pause is not a new 429"
    waiter = asyncio.ensure_future(budget.acquire())
    await asyncio.sleep(0.05)
    assert not waiter.done()
    waiter.cancel()
    with pytest.raises(asyncio.CancelledError):
        await waiter


async def test_restored_pause_wakes_its_waiters_when_it_ends() -> None:
    loop = asyncio.get_running_loop()
    budget = AccountBudget(RateLimit(requests=3, per=1.0))
    started = loop.time()
    budget.restore([], cooldown=0.2)
    permit = await asyncio.wait_for(budget.acquire(), 2.0)
    assert loop.time() - started >= 0.2
    await permit.release()


async def test_releasing_twice_frees_one_slot_only() -> None:
    limit = RateLimit(requests=2, per=10.0)
    budget = AccountBudget(limit)
    permit = await budget.acquire()
    await permit.release()
    await permit.release()
    snapshot = budget.snapshot()
    assert (snapshot.limit, snapshot.in_flight, snapshot.in_window, snapshot.granted) == (
        limit,
        0,
        1,
        1,
    )


@pytest.mark.parametrize(("requests", "per"), [(20, 1.0), (40, 2.0)])
async def test_pacer_spreads_bulk_sends_after_the_burst(requests: int, per: float) -> None:
    loop = asyncio.get_running_loop()
    budget = AccountBudget(RateLimit(requests=requests, per=per, burst=2))
    sent: list[float] = []
    for _ in range(6):
        permit = await budget.acquire()
        sent.append(loop.time())
        await permit.release()
    # A leaky bucket of 2 that drains at requests / per: any run of sends from the i-th to the
    # j-th spans at least (j - i + 1 - 2) / rate seconds. Checked over every run rather than
    # each gap: a send woken late lets the next one go sooner, as the bucket drained meanwhile.
    rate = requests / per
    for i, j in itertools.combinations(range(len(sent)), 2):
        assert j - i + 1 <= 2 + (sent[j] - sent[i] + 1e-3) * rate, (i, j, sent)


async def test_one_budget_per_account_per_loop() -> None:
    limit = RateLimit(10, 1.0)
    a = shared_budget("http://127.0.0.1:1", "key-a", limit)
    assert shared_budget("http://127.0.0.1:1", "key-a", limit) is a
    assert shared_budget("http://127.0.0.1:1", "key-b", limit) is not a
    assert shared_budget("http://127.0.0.1:2", "key-a", limit) is not a
    message = (
        f"this account already has a budget of {limit} in this event loop; a second client "
        f"asked for {RateLimit(5, 1.0)}. Use the same RateLimit for every client of one "
        "account, or pass budget= explicitly."
    )
    with pytest.raises(ValueError, match=f"^{re.escape(message)}$"):
        shared_budget("http://127.0.0.1:1", "key-a", RateLimit(5, 1.0))


@pytest.mark.parametrize(
    "kwargs", [{"requests": 0}, {"per": 0}, {"per": -1.0}, {"requests": 5, "burst": 6}]
)
def test_rate_limit_rejects_nonsense(kwargs: dict[str, float]) -> None:
    with pytest.raises(ValueError):
        RateLimit(**kwargs)  # type: ignore[arg-type]


@pytest.mark.parametrize("lane", [Lane.INTERACTIVE, Lane.BULK])
async def test_a_newcomer_never_takes_a_slot_ahead_of_a_queued_waiter(lane: Lane) -> None:
    """A slot that frees while the loop is busy goes to the waiter queued for it, even when a
    newcomer of the same lane asks before the budget's wake-up has run."""
    budget = AccountBudget(RateLimit(requests=1, per=0.05))
    held = await budget.acquire(lane)
    order: list[str] = []

    async def wait(name: str) -> None:
        permit = await budget.acquire(lane)
        order.append(name)
        await permit.release()

    queued = asyncio.ensure_future(wait("queued"))
    await asyncio.sleep(0.01)
    await held.release()
    time.sleep(0.1)  # noqa: ASYNC251 - the loop is busy past the slot's expiry: no wake-up yet
    newcomer = asyncio.ensure_future(wait("newcomer"))  # runs before the budget's wake-up
    await asyncio.wait_for(asyncio.gather(queued, newcomer), 2.0)
    assert order == ["queued", "newcomer"]
