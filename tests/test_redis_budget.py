"""RedisBudget against a real redis-server: window, lanes, fairness, cool-down, crashes,
outages."""

from __future__ import annotations

import asyncio
import random

import pytest
from conftest import max_in_window
from redis_server import BudgetFactory, RedisServer, budgets, redis_server

from karbon_async import Lane, RateLimit
from karbon_async._budget import Budget
from karbon_async._redis_budget import CLOSE_TIMEOUT, RedisBudget

__all__ = ["budgets", "redis_server"]  # the fixtures

Factory = BudgetFactory


async def _request(
    budget: Budget, rng: random.Random, arrivals: list[float], lane: Lane, slow: float = 0.04
) -> None:
    """A request whose arrival lands anywhere between sending and its response."""
    loop = asyncio.get_running_loop()
    permit = await budget.acquire(lane)
    latency = rng.uniform(0.0, slow)
    arrive_after = rng.uniform(0.0, latency)
    await asyncio.sleep(arrive_after)
    arrivals.append(loop.time())
    await asyncio.sleep(latency - arrive_after)
    await permit.release()


@pytest.mark.parametrize("seed", [1, 2])
async def test_three_budgets_never_exceed_the_window_whatever_the_latency(
    budgets: Factory, seed: int
) -> None:
    limit = RateLimit(requests=6, per=0.25)
    processes = [budgets(limit) for _ in range(3)]
    rng = random.Random(seed)
    arrivals: list[float] = []
    lanes = [Lane.BULK, Lane.INTERACTIVE]
    await asyncio.gather(
        *(
            _request(rng.choice(processes), rng, arrivals, rng.choice(lanes), slow=0.1)
            for _ in range(48)
        )
    )
    assert len(arrivals) == 48
    assert max_in_window(arrivals, limit.per) <= limit.requests
    # 48 requests at 6 per 0.25 s + latency: close to the limit, not far below it
    assert max(arrivals) - min(arrivals) < 48 / 6 * (0.25 + 0.1) + 0.5


async def test_a_released_slot_stays_taken_for_per_seconds_across_budgets(
    budgets: Factory,
) -> None:
    limit = RateLimit(requests=2, per=0.3)
    one, two = budgets(limit), budgets(limit)
    permits = [await one.acquire(), await two.acquire()]
    waiter = asyncio.ensure_future(one.acquire())
    await asyncio.sleep(0.05)
    assert not waiter.done()
    assert one.snapshot().waiting[Lane.BULK] == 1
    assert one.snapshot().in_window == 2
    for permit in permits:
        await permit.release()
    await asyncio.sleep(0.15)
    assert not waiter.done(), "a released slot stays taken for `per` seconds"
    permit = await asyncio.wait_for(waiter, 1.0)
    await permit.release()


async def test_interactive_waiters_anywhere_go_before_bulk_waiters(budgets: Factory) -> None:
    limit = RateLimit(requests=1, per=0.05)
    holder, bulk, interactive = budgets(limit), budgets(limit), budgets(limit)
    first = await holder.acquire()
    order: list[str] = []

    async def wait(budget: RedisBudget, lane: Lane, name: str) -> None:
        permit = await budget.acquire(lane)
        order.append(name)
        await permit.release()

    tasks = [asyncio.ensure_future(wait(bulk, Lane.BULK, f"bulk{i}")) for i in range(3)]
    await asyncio.sleep(0.05)
    tasks.append(asyncio.ensure_future(wait(interactive, Lane.INTERACTIVE, "interactive")))
    await asyncio.sleep(0.05)
    await first.release()
    await asyncio.wait_for(asyncio.gather(*tasks), 5)
    assert order == ["interactive", "bulk0", "bulk1", "bulk2"]


async def test_waiters_of_several_processes_are_served_first_come_first_served(
    budgets: Factory,
) -> None:
    limit = RateLimit(requests=1, per=0.05)
    processes = [budgets(limit) for _ in range(3)]
    first = await processes[0].acquire()
    order: list[int] = []

    async def wait(index: int) -> None:
        permit = await processes[index % 3].acquire()
        order.append(index)
        await permit.release()

    tasks = []
    for index in range(9):
        tasks.append(asyncio.ensure_future(wait(index)))
        await asyncio.sleep(0.02)  # each registers its ticket before the next
    await first.release()
    await asyncio.wait_for(asyncio.gather(*tasks), 5)
    assert order == list(range(9))


async def test_a_429_in_one_process_pauses_every_process(budgets: Factory) -> None:
    loop = asyncio.get_running_loop()
    limit = RateLimit(requests=100, per=1.0)
    one, two = budgets(limit), budgets(limit)
    started = loop.time()  # the pause runs from the call
    await one.cool_down(0.3)
    await one.cool_down(0.1)  # never shortens the pause
    permit = await two.acquire(Lane.INTERACTIVE)
    assert loop.time() - started >= 0.28
    assert two.snapshot().cooldown_remaining == 0.0
    assert one.snapshot().rate_limited == 2
    await permit.release()


async def test_a_crashed_holders_slot_expires_after_its_lease(budgets: Factory) -> None:
    loop = asyncio.get_running_loop()
    limit = RateLimit(requests=1, per=0.1)
    crashed = budgets(limit, request_timeout=0.2)  # lease: 2 * 0.1 + 0.2 s
    await crashed.acquire()
    await crashed.aclose()  # never released: the process died mid-request
    survivor = budgets(limit, request_timeout=0.2)
    started = loop.time()
    permit = await asyncio.wait_for(survivor.acquire(), 3)
    assert 0.3 < loop.time() - started < 1.0
    await permit.release()


async def test_a_crashed_waiters_ticket_holds_the_queue_for_at_most_ticket_ttl(
    budgets: Factory,
) -> None:
    loop = asyncio.get_running_loop()
    limit = RateLimit(requests=1, per=0.05)
    holder = budgets(limit, ticket_ttl=0.4)
    crashed = budgets(limit, ticket_ttl=0.4)
    survivor = budgets(limit, ticket_ttl=0.4)
    first = await holder.acquire()
    stuck = asyncio.ensure_future(crashed.acquire())
    await asyncio.sleep(0.05)  # its ticket is first in the queue
    await crashed.aclose()  # dies without cancelling its ticket
    with pytest.raises(RuntimeError):
        await stuck
    late = asyncio.ensure_future(survivor.acquire())
    await asyncio.sleep(0.02)
    await first.release()
    started = loop.time()
    permit = await asyncio.wait_for(late, 3)
    assert loop.time() - started < 0.6
    await permit.release()


async def test_cancelled_waiters_leave_nothing_behind(
    budgets: Factory, redis_server: RedisServer
) -> None:
    import redis.asyncio as aioredis

    limit = RateLimit(requests=1, per=0.05)
    budget = budgets(limit)
    first = await budget.acquire()
    waiters = [asyncio.ensure_future(budget.acquire()) for _ in range(5)]
    await asyncio.sleep(0.05)
    for waiter in waiters:
        waiter.cancel()
    await asyncio.gather(*waiters, return_exceptions=True)
    await first.release()
    again = await asyncio.wait_for(budget.acquire(), 2)
    await again.release()
    client = aioredis.Redis.from_url(redis_server.url)
    try:
        keys = [key.decode() async for key in client.scan_iter("*")]
        assert not [key for key in keys if key.endswith(":queue")], "no ticket left"
        assert all("key-1" not in key for key in keys), "the access key is never in a key"
        assert budget.snapshot().waiting == {Lane.INTERACTIVE: 0, Lane.BULK: 0}
    finally:
        await client.aclose()


async def test_redis_down_with_wait_holds_callers_and_keeps_the_window(
    budgets: Factory, redis_server: RedisServer
) -> None:
    loop = asyncio.get_running_loop()
    limit = RateLimit(requests=2, per=0.5)
    budget = budgets(limit, backoff=0.02, max_backoff=0.1)
    arrivals: list[float] = []
    for _ in range(2):
        permit = await budget.acquire()
        arrivals.append(loop.time())
        await permit.release()
    redis_server.stop()
    waiting = asyncio.ensure_future(budget.acquire())
    await asyncio.sleep(0.3)
    assert not waiting.done(), "with on_unavailable='wait' nothing is granted without Redis"
    redis_server.start()  # empty: the restart lost every slot
    permit = await asyncio.wait_for(waiting, 5)
    arrivals.append(loop.time())
    await permit.release()
    for _ in range(3):
        permit = await asyncio.wait_for(budget.acquire(), 5)
        arrivals.append(loop.time())
        await permit.release()
    assert max_in_window(arrivals, limit.per) <= limit.requests


async def test_redis_down_with_local_serves_a_share_and_writes_it_back(
    budgets: Factory, redis_server: RedisServer
) -> None:
    import redis.asyncio as aioredis

    loop = asyncio.get_running_loop()
    limit = RateLimit(requests=4, per=0.5)
    budget = budgets(
        limit, on_unavailable="local", expected_processes=2, backoff=0.05, max_backoff=0.2
    )
    permit = await budget.acquire()
    await permit.release()
    redis_server.stop()
    started = loop.time()
    permit = await asyncio.wait_for(budget.acquire(), 3)  # the share is 4 // 2 = 2
    assert budget.local_mode
    # The first local grant waits `per` after the outage is noticed (not before `started`).
    assert limit.per <= loop.time() - started < limit.per + 0.5
    await permit.release()
    permit = await asyncio.wait_for(budget.acquire(), 3)  # waits for the first slot's window
    await permit.release()
    assert budget.snapshot().in_window == 2
    redis_server.start()
    deadline = loop.time() + 5
    while budget.local_mode and loop.time() < deadline:
        permit = await budget.acquire()  # a new acquire goes back to Redis once reachable
        await permit.release()
    assert not budget.local_mode
    client = aioredis.Redis.from_url(redis_server.url)
    try:
        slots = [key async for key in client.scan_iter("*:slots")]
        assert len(slots) == 1
        assert await client.zcard(slots[0]) >= 1, "local slots were written back"
    finally:
        await client.aclose()


async def test_a_redis_budget_is_a_budget(budgets: Factory) -> None:
    budget: Budget = budgets(RateLimit(3, 1.0))
    assert budget.limit == RateLimit(3, 1.0)
    with pytest.raises(ValueError, match="burst"):
        budgets(RateLimit(3, 1.0, burst=1))
    with pytest.raises(ValueError, match="on_unavailable"):
        budgets(RateLimit(3, 1.0), on_unavailable="panic")


async def test_redis_dying_under_load_with_local_keeps_the_window(
    budgets: Factory, redis_server: RedisServer
) -> None:
    """One process fills the window through Redis, then Redis dies as another starts: the
    newcomer's local share only starts once the slots taken through Redis have left it."""
    loop = asyncio.get_running_loop()
    limit = RateLimit(requests=4, per=0.4)
    busy, newcomer = (
        budgets(limit, on_unavailable="local", expected_processes=2, backoff=0.05) for _ in range(2)
    )
    arrivals: list[float] = []
    stop_at = loop.time() + 1.6

    async def storm(budget: RedisBudget) -> None:
        while loop.time() < stop_at:
            permit = await budget.acquire()
            arrivals.append(loop.time())
            await permit.release()

    storms = [asyncio.ensure_future(storm(busy)) for _ in range(3)]
    await asyncio.sleep(0.5)
    redis_server.stop()
    storms += [asyncio.ensure_future(storm(newcomer)) for _ in range(3)]
    await asyncio.gather(*storms)
    assert busy.local_mode
    assert newcomer.local_mode
    assert len(arrivals) > 8, "both phases served requests"
    assert max_in_window(arrivals, limit.per) <= limit.requests


async def test_aclose_right_after_cancelling_waiters_is_prompt_and_frees_the_queue(
    budgets: Factory, redis_server: RedisServer
) -> None:
    import redis.asyncio as aioredis

    loop = asyncio.get_running_loop()
    limit = RateLimit(requests=1, per=0.3)
    closing, other = budgets(limit), budgets(limit)  # ticket_ttl is 10 s
    held = await closing.acquire()
    cancelled = [asyncio.ensure_future(closing.acquire()) for _ in range(3)]
    await asyncio.sleep(0.05)
    # queued behind the closing process's ticket (a process registers `requests` at a time)
    waiting = asyncio.ensure_future(other.acquire())
    await asyncio.sleep(0.05)
    client = aioredis.Redis.from_url(redis_server.url)
    try:
        (queue,) = [key async for key in client.scan_iter("*:queue")]
        before = await client.zrange(queue, 0, -1)
        assert len(before) == 2
        await held.release()
        released = loop.time()
        for waiter in cancelled:
            waiter.cancel()
        await asyncio.wait_for(closing.aclose(), 2 * CLOSE_TIMEOUT + 1)
        assert loop.time() - released < 0.5, "aclose did not hang"
        assert all(waiter.cancelled() for waiter in cancelled)
        # Only the other process's ticket is left, in the queue and among the live tickets.
        assert await client.zrange(queue, 0, -1) == before[-1:]
        tickets = queue.decode().removesuffix(":queue") + ":tickets"
        assert await client.zrange(tickets, 0, -1) == before[-1:]
        permit = await asyncio.wait_for(waiting, 3)
        assert loop.time() - released < limit.per + 0.5, "not held up by the closed tickets"
        await permit.release()
    finally:
        await client.aclose()


async def test_aclose_is_bounded_when_redis_is_gone(
    budgets: Factory, redis_server: RedisServer
) -> None:
    loop = asyncio.get_running_loop()
    budget = budgets(RateLimit(requests=1, per=0.3))
    held = await budget.acquire()
    waiter = asyncio.ensure_future(budget.acquire())
    await asyncio.sleep(0.05)
    redis_server.stop()
    started = loop.time()
    await asyncio.wait_for(budget.aclose(), 2 * CLOSE_TIMEOUT + 1)
    assert loop.time() - started <= 2 * CLOSE_TIMEOUT + 0.5
    with pytest.raises(RuntimeError, match="closed"):
        await waiter
    del held
