"""The replay guard and the worker's dedupe shared through a real redis-server: several receiver
instances (aiohttp apps on loopback) behind one "load balancer" handle a delivery once."""

from __future__ import annotations

import asyncio
import datetime as dt
import json
from collections.abc import AsyncIterator, Callable
from contextlib import AsyncExitStack
from typing import Any

import aiohttp
import attrs
import pytest
from aiohttp.test_utils import TestServer
from redis_server import RedisServer, redis_server

from karbon_async import webhooks as wh

__all__ = ["redis_server"]  # the fixture

KEY = "a-signing-key-of-16-or-more"


def delivery(perma_key: str, timestamp: dt.datetime, action: str = "Updated") -> bytes:
    return json.dumps(
        {
            "ResourcePermaKey": perma_key,
            "ResourceType": "Contact",
            "ActionType": action,
            "TimeStamp": timestamp.isoformat(),
        }
    ).encode()


@attrs.define
class Instance:
    """One receiver instance: its own worker, app and port; only Redis is shared."""

    worker: wh.WebhookWorker
    url: str


@attrs.define
class Fleet:
    handled: list[tuple[str, str]]
    instances: list[Instance]
    session: aiohttp.ClientSession

    async def post(self, index: int, body: bytes) -> tuple[int, str]:
        headers = {
            "Signature": wh.compute_signature(body, KEY),
            "Content-Type": "application/json",
        }
        async with self.session.post(
            self.instances[index].url, data=body, headers=headers
        ) as response:
            return response.status, await response.text()

    async def join(self) -> None:
        for instance in self.instances:
            await instance.worker.join()


MakeFleet = Callable[..., Any]


@pytest.fixture
async def fleet(redis_server: RedisServer) -> AsyncIterator[MakeFleet]:
    async with AsyncExitStack() as stack:

        async def make(count: int = 2, **receiver_options: Any) -> Fleet:
            handled: list[tuple[str, str]] = []
            router = wh.Router()

            @router.on("Contact")
            async def contact_changed(event: wh.WebhookEvent) -> None:
                assert event.timestamp is not None
                handled.append((event.resource_perma_key, event.timestamp.isoformat()))

            instances = []
            for _ in range(count):
                # Each instance opens its own connections, as separate processes would.
                store = await stack.enter_async_context(wh.RedisSeenStore(redis_server.url))
                worker = await stack.enter_async_context(wh.WebhookWorker(router))
                receiver = wh.WebhookReceiver(KEY, worker, seen_store=store, **receiver_options)
                server = TestServer(receiver.aiohttp_app(), host="127.0.0.1")
                await server.start_server()
                stack.push_async_callback(server.close)
                instances.append(Instance(worker, str(server.make_url("/"))))
            session = await stack.enter_async_context(aiohttp.ClientSession())
            return Fleet(handled, instances, session)

        yield make


def now() -> dt.datetime:
    return dt.datetime.now(dt.timezone.utc).replace(microsecond=0)


async def test_one_delivery_posted_to_two_instances_is_handled_once(fleet: MakeFleet) -> None:
    hooks: Fleet = await fleet()
    at = now()
    for second in range(5):  # both at the same moment, as a retry racing the original would
        body = delivery("4kD2xLpW9bQz", at + dt.timedelta(seconds=second))
        answers = await asyncio.gather(hooks.post(0, body), hooks.post(1, body))
        await hooks.join()
        assert sorted(answers) == [(200, "replayed"), (202, "accepted")]
    assert len(hooks.handled) == 5
    assert len(set(hooks.handled)) == 5


async def test_different_deliveries_are_all_handled(fleet: MakeFleet) -> None:
    hooks: Fleet = await fleet(count=3)
    at = now()
    bodies = [
        delivery("4kD2xLpW9bQz", at),
        delivery("4kD2xLpW9bQz", at + dt.timedelta(seconds=1)),  # a later update
        delivery("7hN3mQrT2vXc", at),  # another resource
        delivery("7hN3mQrT2vXc", at, action="Inserted"),  # another action
    ]
    answers = await asyncio.gather(*(hooks.post(i % 3, body) for i, body in enumerate(bodies)))
    await hooks.join()
    assert all(status == 202 for status, _ in answers)
    assert {reason for _, reason in answers} <= {"accepted", "collapsed"}
    assert ("4kD2xLpW9bQz", (at + dt.timedelta(seconds=1)).isoformat()) in hooks.handled
    assert ("7hN3mQrT2vXc", at.isoformat()) in hooks.handled


async def test_the_claim_expires_in_redis_after_the_replay_window(
    fleet: MakeFleet, redis_server: RedisServer
) -> None:
    hooks: Fleet = await fleet(replay_window=0.4)
    body = delivery("4kD2xLpW9bQz", now())
    assert await hooks.post(0, body) == (202, "accepted")
    assert await hooks.post(1, body) == (200, "replayed")
    import redis.asyncio

    client = redis.asyncio.Redis.from_url(redis_server.url)
    try:
        (key,) = await client.keys("karbon_async:webhooks:*")
        assert 0 < await client.pttl(key) <= 400
        await asyncio.sleep(0.5)
        assert await client.exists(key) == 0
    finally:
        await client.aclose()
    assert await hooks.post(1, body) == (202, "accepted")
    await hooks.join()
    assert len(hooks.handled) == 2


async def test_a_refused_delivery_is_released_for_karbons_retry(fleet: MakeFleet) -> None:
    hooks: Fleet = await fleet()
    await hooks.instances[0].worker.stop()  # instance 0 is shutting down
    body = delivery("4kD2xLpW9bQz", now())
    assert await hooks.post(0, body) == (503, "not accepting")
    assert await hooks.post(1, body) == (202, "accepted")
    await hooks.join()
    assert len(hooks.handled) == 1


async def test_workers_sharing_a_store_handle_a_submitted_change_once(
    redis_server: RedisServer,
) -> None:
    calls: list[str] = []
    failing = {"7hN3mQrT2vXc"}
    router = wh.Router()

    @router.on("Contact")
    async def contact_changed(event: wh.WebhookEvent) -> None:
        calls.append(event.resource_perma_key)
        if event.resource_perma_key in failing:
            failing.discard(event.resource_perma_key)
            raise RuntimeError("handler failed once")

    at = now()
    same = wh.WebhookEvent(
        resource_perma_key="4kD2xLpW9bQz",
        resource_type=wh.WebhookResourceType.CONTACT,
        action_type=wh.WebhookActionType.UPDATED,
        timestamp=at,
    )
    dead = attrs.evolve(same, resource_perma_key="7hN3mQrT2vXc")
    async with AsyncExitStack() as stack:
        workers = []
        for _ in range(2):
            store = await stack.enter_async_context(wh.RedisSeenStore(redis_server.url))
            workers.append(
                await stack.enter_async_context(
                    wh.WebhookWorker(router, seen_store=store, max_attempts=1)
                )
            )
        one, two = workers
        # A catch-up read at start-up submits the same changes on every instance.
        for worker in workers:
            assert worker.submit(same) == wh.SubmitOutcome.ACCEPTED
        assert one.submit(dead) == wh.SubmitOutcome.ACCEPTED
        await one.join()
        await two.join()
        assert calls.count("4kD2xLpW9bQz") == 1
        assert one.stats.duplicates + two.stats.duplicates == 1
        assert len(one.dead_letters) == 1
        # Dead-lettered on one instance: another may still handle it.
        assert two.submit(dead) == wh.SubmitOutcome.ACCEPTED
        await two.join()
        assert calls.count("7hN3mQrT2vXc") == 2
        assert two.stats.processed >= 1
