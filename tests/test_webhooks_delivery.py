"""FakeKarbon's webhook delivery, against a stand-in for the fake's change-listener interface."""

from __future__ import annotations

import asyncio
import datetime as dt
import json
from collections.abc import AsyncIterator, Callable
from typing import Any

import attrs
import pytest
from aiohttp import web
from aiohttp.test_utils import TestServer

from karbon_async import webhooks as wh
from karbon_async.testing._webhook_delivery import WebhookDelivery

KEY = "delivery-test-key-0123456789"


@attrs.frozen
class Change:
    account: Any
    webhook_type: str
    resource_type: str
    action: str
    key: str
    timestamp: dt.datetime
    extra: dict[str, Any] = attrs.field(factory=dict)


@attrs.frozen
class Account:
    index: int


class StubFake:
    """The part of FakeKarbon that delivery uses."""

    def __init__(self) -> None:
        self.listeners: list[Callable[[Any], None]] = []
        self.subscriptions: dict[int, dict[str, dict[str, str | None]]] = {0: {}}

    def add_change_listener(self, listener: Callable[[Any], None]) -> None:
        self.listeners.append(listener)

    def remove_change_listener(self, listener: Callable[[Any], None]) -> None:
        self.listeners.remove(listener)

    def webhook_subscriptions(self, account: Account) -> dict[str, dict[str, str | None]]:
        return {k: dict(v) for k, v in self.subscriptions[account.index].items()}

    def cancel_webhook_subscription(self, account: Account, webhook_type: str) -> bool:
        return self.subscriptions[account.index].pop(webhook_type, None) is not None

    def subscribe(self, webhook_type: str, url: str, key: str | None = KEY) -> None:
        self.subscriptions[0][webhook_type] = {
            "TargetUrl": url,
            "WebhookType": webhook_type,
            "SigningKey": key,
        }

    def change(self, rtype: str, action: str, key: str, webhook_type: str | None = None) -> None:
        event = Change(
            Account(0), webhook_type or rtype, rtype, action, key, dt.datetime.now(dt.timezone.utc)
        )
        for listener in list(self.listeners):
            listener(event)


class Target:
    """A loopback receiver whose answer tests can change."""

    def __init__(self) -> None:
        self.status = 200
        self.script: list[int] = []
        """Statuses to answer first, in order; then ``status``."""
        self.received: list[tuple[bytes, dict[str, str]]] = []

    async def handle(self, request: web.Request) -> web.Response:
        self.received.append((await request.read(), dict(request.headers)))
        return web.Response(status=self.script.pop(0) if self.script else self.status)


@pytest.fixture
async def target() -> AsyncIterator[tuple[Target, str]]:
    receiver = Target()
    app = web.Application()
    app.router.add_post("/hook", receiver.handle)
    async with TestServer(app, host="127.0.0.1") as server:
        yield receiver, str(server.make_url("/hook"))


async def test_signed_payload_is_delivered(target: tuple[Target, str]) -> None:
    receiver, url = target
    fake = StubFake()
    fake.subscribe("Work", url)
    async with WebhookDelivery(fake, coalesce_window=0.0, retry_delays=(0.01,)) as delivery:
        fake.change("Work", "Updated", "W1")
        fake.change("Contact", "Updated", "C1")  # no Contact subscription: nothing sent
        fake.change("NoteComment", "Inserted", "N1", webhook_type="Note")
        await delivery.wait_idle()
    ((body, headers),) = receiver.received
    wh.verify_signature(body, headers, KEY)
    assert headers["Content-Type"] == "application/json"
    event = wh.parse_event(body)
    assert (event.resource_perma_key, str(event.resource_type), str(event.action_type)) == (
        "W1",
        "Work",
        "Updated",
    )
    assert event.timestamp is not None
    assert abs(event.age() or 0) < 5
    assert json.loads(body)["TimeStamp"].endswith("Z")


async def test_unsigned_subscription_sends_no_signature(target: tuple[Target, str]) -> None:
    receiver, url = target
    fake = StubFake()
    fake.subscribe("Work", url, key=None)
    async with WebhookDelivery(fake, coalesce_window=0.0) as delivery:
        fake.change("Work", "Inserted", "W1")
        await delivery.wait_idle()
    ((_, headers),) = receiver.received
    assert "Signature" not in headers


async def test_changes_are_coalesced(target: tuple[Target, str]) -> None:
    receiver, url = target
    fake = StubFake()
    fake.subscribe("Work", url)
    async with WebhookDelivery(fake, coalesce_window=0.1) as delivery:
        fake.change("Work", "Inserted", "W1")
        for _ in range(3):
            await asyncio.sleep(0.03)
            fake.change("Work", "Updated", "W1")
        fake.change("Work", "Updated", "W2")
        await asyncio.sleep(0.02)
        assert receiver.received == []  # still within the window
        await delivery.wait_idle()
    events = sorted(
        (wh.parse_event(body) for body, _ in receiver.received), key=lambda e: e.resource_perma_key
    )
    assert [(e.resource_perma_key, str(e.action_type)) for e in events] == [
        ("W1", "Inserted"),
        ("W2", "Updated"),
    ]


async def test_failures_are_retried_then_succeed(target: tuple[Target, str]) -> None:
    receiver, url = target
    receiver.script = [500, 502, 500]
    receiver.status = 204
    fake = StubFake()
    fake.subscribe("Work", url)
    async with WebhookDelivery(fake, coalesce_window=0.0, retry_delays=(0.01, 0.02)) as delivery:
        fake.change("Work", "Updated", "W1")
        await delivery.wait_idle()
    assert [a.status for a in delivery.attempts] == [500, 502, 500, 204]
    assert [a.attempt for a in delivery.attempts] == [1, 2, 3, 4]
    bodies = {body for body, _ in receiver.received}
    assert len(bodies) == 1  # the same notification each time
    assert "Work" in fake.subscriptions[0]
    assert delivery.cancelled == []


async def test_ten_consecutive_failures_cancel_the_subscription(
    target: tuple[Target, str],
) -> None:
    receiver, url = target
    receiver.status = 503
    fake = StubFake()
    fake.subscribe("Work", url)
    async with WebhookDelivery(fake, coalesce_window=0.0, retry_delays=(0.001,)) as delivery:
        fake.change("Work", "Updated", "W1")
        fake.change("Work", "Updated", "W2")
        await delivery.wait_idle()
        assert len(receiver.received) == 10
        assert "Work" not in fake.subscriptions[0]
        assert delivery.cancelled == [(0, "Work")]
        fake.change("Work", "Updated", "W3")  # no subscription any more
        await delivery.wait_idle()
    assert len(receiver.received) == 10


async def test_unreachable_target_counts_as_failure() -> None:
    fake = StubFake()
    fake.subscribe("Work", "http://127.0.0.1:9/nothing-listens-here")
    async with WebhookDelivery(
        fake, coalesce_window=0.0, retry_delays=(0.001,), max_failures=3
    ) as delivery:
        fake.change("Work", "Updated", "W1")
        await delivery.wait_idle()
    assert [a.status for a in delivery.attempts] == [None, None, None]
    assert all(a.error for a in delivery.attempts)
    assert delivery.cancelled == [(0, "Work")]


async def test_close_drops_undelivered_notifications(target: tuple[Target, str]) -> None:
    receiver, url = target
    fake = StubFake()
    fake.subscribe("Work", url)
    delivery = WebhookDelivery(fake, coalesce_window=30.0)
    await delivery.start()
    fake.change("Work", "Updated", "W1")
    await delivery.close()
    await delivery.close()
    assert receiver.received == []
    assert fake.listeners == []
