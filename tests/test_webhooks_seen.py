"""MemorySeenStore against a model, and what the receiver and worker do when a store fails."""

from __future__ import annotations

import asyncio
import datetime as dt
import logging

import pytest
from hypothesis import given
from hypothesis import strategies as st

from karbon_async import webhooks as wh

KEY = "a-signing-key-of-16-or-more"

operations = st.lists(
    st.tuples(
        st.sampled_from(["first_seen", "forget", "wait"]),
        st.sampled_from(["a", "b", "c"]),
        st.floats(min_value=0.0, max_value=5.0),
    ),
    max_size=40,
)


@given(operations)
def test_memory_store_answers_like_a_map_of_expiry_times(ops: list[tuple[str, str, float]]) -> None:
    clock = [0.0]
    store = wh.MemorySeenStore(clock=lambda: clock[0])
    expiry: dict[str, float] = {}

    async def run() -> None:
        for op, key, amount in ops:
            if op == "wait":
                clock[0] += amount
            elif op == "forget":
                await store.forget(key)
                expiry.pop(key, None)
            else:
                fresh = expiry.get(key, -1.0) <= clock[0]
                assert await store.first_seen(key, amount) is fresh
                if fresh:
                    expiry[key] = clock[0] + amount

    asyncio.run(run())


async def test_memory_store_keeps_at_most_max_size_keys_dropping_the_oldest() -> None:
    store = wh.MemorySeenStore(max_size=2)
    for key in "abc":
        assert await store.first_seen(key, 60)
    assert len(store) == 2
    assert await store.first_seen("a", 60)  # dropped to make room for "c"
    assert not await store.first_seen("c", 60)


class BrokenStore:
    async def first_seen(self, key: str, ttl: float) -> bool:
        raise ConnectionError("redis is down")

    async def forget(self, key: str) -> None:
        raise ConnectionError("redis is down")


def signed_delivery() -> tuple[bytes, dict[str, str]]:
    body = (
        b'{"ResourcePermaKey": "4kD2xLpW9bQz", "ResourceType": "Contact",'
        b' "ActionType": "Updated", "TimeStamp": "'
        + dt.datetime.now(dt.timezone.utc).isoformat().encode()
        + b'"}'
    )
    return body, {"Signature": wh.compute_signature(body, KEY)}


async def test_a_failing_store_lets_deliveries_through_and_says_so(
    caplog: pytest.LogCaptureFixture,
) -> None:
    handled: list[str] = []
    router = wh.Router()

    @router.on("Contact")
    async def contact_changed(event: wh.WebhookEvent) -> None:
        handled.append(event.resource_perma_key)

    body, headers = signed_delivery()
    with caplog.at_level(logging.WARNING, logger="karbon_async.webhooks"):
        async with wh.WebhookWorker(router, seen_store=BrokenStore()) as worker:
            receiver = wh.WebhookReceiver(KEY, worker, seen_store=BrokenStore())
            result = await receiver.receive(body, headers)
            assert (result.status, result.reason) == (202, "accepted")
            await worker.join()
    assert handled == ["4kD2xLpW9bQz"]
    messages = " ".join(record.getMessage() for record in caplog.records)
    assert "replay guard unavailable" in messages
    assert "dedupe store unavailable" in messages


async def test_an_in_memory_guard_is_the_default_and_per_receiver() -> None:
    body, headers = signed_delivery()
    async with wh.WebhookWorker(wh.Router()) as worker:
        one, two = wh.WebhookReceiver(KEY, worker), wh.WebhookReceiver(KEY, worker)
        assert isinstance(one.seen_store, wh.MemorySeenStore)
        assert (await one.receive(body, headers)).reason == "accepted"
        assert (await one.receive(body, headers)).reason == "replayed"
        # Not shared: the other receiver hands it to the worker, which knows it.
        assert (await two.receive(body, headers)).status == 202
