"""End to end on loopback: subscribe, change through the API, a signed webhook arrives, the
handler fetches the updated record in the INTERACTIVE lane, the worker's result is visible; and
every bad request gets its defined outcome."""

from __future__ import annotations

import asyncio
import datetime as dt
import json
from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import attrs
import pytest
from aiohttp.test_utils import TestServer

import karbon_async as ka
from karbon_async import webhooks as wh
from karbon_async.models import PatchContactRequest, PatchWorkItemRequest, WorkItem
from karbon_async.testing import FakeKarbon

KEY = "e2e-signing-key_0123456789"


class RecordingBudget:
    """An AccountBudget that remembers the lane of every request."""

    def __init__(self) -> None:
        self.inner = ka.AccountBudget(ka.RateLimit())
        self.lanes: list[ka.Lane] = []

    @property
    def limit(self) -> ka.RateLimit:
        return self.inner.limit

    async def acquire(self, lane: ka.Lane = ka.Lane.BULK) -> ka.Permit:
        self.lanes.append(lane)
        return await self.inner.acquire(lane)

    async def cool_down(self, seconds: float) -> None:
        await self.inner.cool_down(seconds)

    def snapshot(self) -> ka.BudgetSnapshot:
        return self.inner.snapshot()


@attrs.define
class App:
    fake: FakeKarbon
    client: ka.KarbonClient
    budget: RecordingBudget
    router: wh.Router
    worker: wh.WebhookWorker
    receiver: wh.WebhookReceiver
    url: str
    http: aiohttp.ClientSession
    results: asyncio.Queue[tuple[wh.WebhookEvent, Any]]


@pytest.fixture
async def app() -> AsyncIterator[App]:
    results: asyncio.Queue[tuple[wh.WebhookEvent, Any]] = asyncio.Queue()
    router = wh.Router()

    @router.on("Work", "Updated", fetch=True)
    async def work_updated(event: wh.WebhookEvent, work_item: WorkItem | None) -> None:
        await results.put((event, work_item))

    @router.on("Contact", fetch=True)
    async def contact_changed(event: wh.WebhookEvent, contact: Any) -> None:
        await results.put((event, contact))

    @router.fallback
    async def other(event: wh.WebhookEvent) -> None:
        await results.put((event, None))

    budget = RecordingBudget()
    async with FakeKarbon(
        allow_insecure_webhooks=True,
        webhook_coalesce_window=0.0,
        webhook_retry_delays=(0.01,),
        size=20,
    ) as fake:
        account = fake.accounts[0]
        async with ka.KarbonClient(
            bearer_token=account.bearer_token,
            access_key=account.access_key,
            base_url=fake.base_url,
            budget=budget,
        ) as client:
            # The worker's client defaults to BULK: fetches must still go INTERACTIVE.
            worker = wh.WebhookWorker(
                router, client=client.with_options(lane=ka.Lane.BULK), retry_delay=0.01
            )
            receiver = wh.WebhookReceiver(KEY, worker, max_body_size=4096)
            async with (
                worker,
                TestServer(receiver.aiohttp_app("/karbon"), host="127.0.0.1") as server,
                aiohttp.ClientSession() as http,
            ):
                yield App(
                    fake=fake,
                    client=client,
                    budget=budget,
                    router=router,
                    worker=worker,
                    receiver=receiver,
                    url=str(server.make_url("/karbon")),
                    http=http,
                    results=results,
                )


async def test_subscribe_change_deliver_fetch(app: App) -> None:
    ensured = await wh.ensure_subscription(
        app.client, "Work", app.url, KEY, allow_insecure_loopback=True
    )
    assert ensured.action == wh.SubscriptionAction.CREATED
    again = await wh.ensure_subscription(
        app.client, "Work", app.url, KEY, allow_insecure_loopback=True
    )
    assert again.action == wh.SubscriptionAction.UNCHANGED
    stored = app.fake.webhook_subscriptions(0)["Work"]
    assert stored["SigningKey"] == KEY
    assert stored["TargetUrl"] == app.url

    page = await app.client.work_items.list(page_size=1, prefetch=False).pages().__anext__()
    key = page.items[0].work_item_key
    assert key is not None
    app.budget.lanes.clear()
    await app.client.work_items.patch(
        key, PatchWorkItemRequest(description="changed by the e2e test")
    )

    event, work_item = await asyncio.wait_for(app.results.get(), 10)
    assert event.resource_perma_key == key
    assert event.resource_type == wh.WebhookResourceType.WORK
    assert event.action_type == wh.WebhookActionType.UPDATED
    assert event.timestamp is not None
    assert abs(event.age() or 0) < 10
    assert isinstance(work_item, WorkItem)
    assert work_item.description == "changed by the e2e test"
    assert app.budget.lanes == [ka.Lane.INTERACTIVE, ka.Lane.INTERACTIVE]  # PATCH, then GET
    await app.fake.webhook_delivery.wait_idle()
    (attempt,) = app.fake.webhook_delivery.attempts
    assert attempt.status == 202
    assert attempt.signature is not None
    assert app.receiver.stats["accepted"] == 1


async def test_bad_requests_get_their_outcomes(app: App) -> None:
    await wh.ensure_subscription(app.client, "Contact", app.url, KEY, allow_insecure_loopback=True)
    contact = (
        await app.client.contacts.list(page_size=1, prefetch=False).pages().__anext__()
    ).items[0]
    assert contact.contact_key is not None
    await app.client.contacts.patch(contact.contact_key, PatchContactRequest(middle_name="E2e"))
    event, record = await asyncio.wait_for(app.results.get(), 10)
    assert event.resource_perma_key == contact.contact_key
    assert record is not None
    assert record.middle_name == "E2e"
    await app.fake.webhook_delivery.wait_idle()
    (delivered,) = app.fake.webhook_delivery.attempts

    async def post(body: bytes, headers: dict[str, str]) -> tuple[int, str]:
        headers = {"Content-Type": "application/json", **headers}
        async with app.http.post(app.url, data=body, headers=headers) as response:
            return response.status, await response.text()

    # Replayed: the same signed payload again is acknowledged but not processed.
    assert await post(delivered.body, delivered.headers) == (200, "replayed")
    # Tampered body with the original signature.
    tampered = delivered.body.replace(b"Updated", b"Deleted")
    assert await post(tampered, delivered.headers) == (401, "signature mismatch")
    # Signed with another key.
    forged = {**delivered.headers, "Signature": wh.compute_signature(delivered.body, "x" * 16)}
    assert await post(delivered.body, forged) == (401, "signature mismatch")
    # No signature at all.
    assert await post(delivered.body, {"Content-Type": "application/json"}) == (
        401,
        "missing signature",
    )
    # Oversized.
    big = b" " * 5000 + delivered.body
    assert await post(big, {"Signature": wh.compute_signature(big, KEY)}) == (
        413,
        "body too large",
    )
    # A stale payload (signed correctly) is acknowledged and not processed.
    old = json.loads(delivered.body)
    old["TimeStamp"] = "2020-01-01T00:00:00Z"
    stale = json.dumps(old).encode()
    assert await post(stale, {"Signature": wh.compute_signature(stale, KEY)}) == (200, "stale")
    # A resource type the API adds later is accepted and reaches the fallback handler.
    unknown = json.dumps(
        {
            "ResourcePermaKey": "P1",
            "ResourceType": "Project",
            "ActionType": "Archived",
            "TimeStamp": dt.datetime.now(dt.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ"),
        }
    ).encode()
    assert await post(unknown, {"Signature": wh.compute_signature(unknown, KEY)}) == (
        202,
        "accepted",
    )
    event, record = await asyncio.wait_for(app.results.get(), 5)
    assert str(event.resource_type) == "Project"
    assert record is None
    await app.worker.join()
    assert app.results.empty()  # nothing else was processed


async def test_auto_cancelled_subscription_is_detected_and_recreated(app: App) -> None:
    recreated: list[wh.EnsuredSubscription] = []
    broken = app.url.replace("/karbon", "/nowhere")  # 404 from the receiver's app
    keeper = wh.SubscriptionKeeper(
        app.client, ["Contact"], broken, KEY, on_recreated=recreated.append,
        allow_insecure_loopback=True,
    )  # fmt: skip
    (first,) = await keeper.check()
    assert first.action == wh.SubscriptionAction.CREATED
    contact = (
        await app.client.contacts.list(page_size=1, prefetch=False).pages().__anext__()
    ).items[0]
    assert contact.contact_key is not None
    await app.client.contacts.patch(contact.contact_key, PatchContactRequest(middle_name="Gone"))
    await app.fake.webhook_delivery.wait_idle()
    assert [a.status for a in app.fake.webhook_delivery.attempts] == [404] * 10
    assert await wh.get_subscription(app.client, "Contact") is None  # auto-cancelled
    (second,) = await keeper.check()
    assert second.action == wh.SubscriptionAction.RECREATED
    assert recreated == [second]
    assert "Contact" in app.fake.webhook_subscriptions(0)
    (third,) = await keeper.check()
    assert third.action == wh.SubscriptionAction.UNCHANGED


async def test_ensure_subscription_replaces_another_url(app: App) -> None:
    await wh.ensure_subscription(app.client, "Invoice", "https://old.example.com/hook", KEY)
    ensured = await wh.ensure_subscription(
        app.client, "Invoice", "https://new.example.com/hook", KEY
    )
    assert ensured.action == wh.SubscriptionAction.REPLACED
    assert app.fake.webhook_subscriptions(0)["Invoice"]["TargetUrl"] == (
        "https://new.example.com/hook"
    )
    with pytest.raises(ValueError, match="https"):
        await wh.ensure_subscription(app.client, "Invoice", "http://example.com/h", KEY)
    with pytest.raises(ValueError, match="SigningKey"):
        await wh.ensure_subscription(app.client, "Invoice", "https://a.example.com/h", "short")
    requests_before = app.fake.accounts[0].requests
    with pytest.raises(ValueError):
        await wh.ensure_subscription(app.client, "Invoice", "HTTPS://a.example.com/h", KEY)
    assert app.fake.accounts[0].requests == requests_before  # nothing sent
