"""The mirror service end to end on loopback, under chaos: 500 random Karbon-side creates, updates
and deletes across accounts and resources; deliveries dropped, duplicated and reordered on the
way; a subscription auto-cancelled; the service stopped dead and started again. It must end
with the tables equal to the fake's records (deleted ones marked), every committed change
delivered to the handler with a before that is the previous after, and no 429."""

from __future__ import annotations

import asyncio
import itertools
import random
from collections import defaultdict
from collections.abc import AsyncIterator
from typing import Any

import pytest
from _mirror_helpers import COLLECTIONS, converged, free_port, karbon_side_change
from aiohttp import web
from postgres_server import PostgresServer, postgres_server, schema

import karbon_async as ka
from karbon_async import mirror as mr
from karbon_async.export import Account
from karbon_async.mirror import MirrorService
from karbon_async.testing import DeliveryChaos, FakeKarbon

__all__ = ["postgres_server", "schema"]  # the fixtures

KEY = "mirror-chaos-signing-key_0123"
LIMIT = ka.RateLimit(20, 1.0)


@pytest.fixture
async def fake() -> AsyncIterator[FakeKarbon]:
    async with FakeKarbon(
        accounts=5,
        size=12,
        rate_limit=LIMIT,
        allow_insecure_webhooks=True,
        webhook_coalesce_window=0.0,
        webhook_retry_delays=(0.05,),
    ) as fake:
        yield fake


async def test_mirror_converges_under_chaos(
    fake: FakeKarbon, postgres_server: PostgresServer, schema: str
) -> None:
    rng = random.Random(23)
    accounts = [
        Account(f"acct-{a.index}", a.bearer_token, a.access_key, fake.base_url, LIMIT)
        for a in fake.accounts
    ]
    mirror_port = free_port()
    proxy = DeliveryChaos(f"http://127.0.0.1:{mirror_port}", drop=0.15, duplicate=0.15, seed=23)
    await proxy.start()
    changes: list[mr.Change] = []

    def service() -> MirrorService:
        mirror = mr.Mirror(
            postgres_server.dsn,
            schema=schema,
            resources=sorted(COLLECTIONS),
            page_size=10,
        )

        @mirror.on_change("Contact", name="all-contacts")
        @mirror.on_change("Organization", name="all-organizations")
        @mirror.on_change("WorkItem", name="all-work")
        async def record(change: mr.Change) -> None:
            changes.append(change)

        return MirrorService(
            mirror,
            accounts,
            public_url=proxy.url,
            signing_key=KEY,
            reconcile_interval=1.0,
            full_interval=2.0,
            subscription_interval=0.5,
            dispatch_interval=0.1,
            drain_timeout=0.0,
            retry_delay=0.05,
            allow_insecure_loopback=True,
        )

    async def serve(svc: MirrorService) -> web.AppRunner:
        runner = web.AppRunner(svc.app())
        await runner.setup()
        await web.TCPSite(runner, "127.0.0.1", mirror_port).start()
        await svc.start()
        return runner

    try:
        first = service()
        runner = await serve(first)
        try:
            for step in range(400):
                karbon_side_change(fake, rng, step % 5)
                if step == 150:  # Karbon cancels a subscription (10 failed deliveries)
                    assert fake.cancel_webhook_subscription(fake.accounts[0], "Work")
                await asyncio.sleep(0.005)
        finally:
            # Stopped dead: queued events are lost, passes cut mid-page.
            await runner.cleanup()
            await first.stop()
        for step in range(100):  # changes while the mirror is down: their deliveries fail
            karbon_side_change(fake, rng, step % 5)
        proxy.enabled = False
        second = service()
        runner = await serve(second)
        try:
            deadline = asyncio.get_running_loop().time() + 60
            problems = ["not checked"]
            while problems and asyncio.get_running_loop().time() < deadline:
                await asyncio.sleep(0.5)
                problems = await converged(fake, second.mirror, [a.name for a in accounts])
            assert problems == []
            while await second.mirror.dispatch():
                pass
            final: dict[tuple[str, str, str], Any] = {}
            for account in accounts:
                for name in COLLECTIONS:
                    resource = mr.MIRROR_RESOURCES[name]
                    for key, value in (
                        await second.mirror.store.records(account.name, resource)
                    ).items():
                        final[(account.name, name, key)] = value
        finally:
            await runner.cleanup()
            await second.stop()
    finally:
        await proxy.close()

    assert proxy.counts["dropped"] > 0
    assert proxy.counts["duplicated"] > 0
    # Each handler saw each change at least once; per record, the changes chain: every before
    # is the previous after, and the last after is what the table holds.
    by_record: dict[tuple[str, str, str], list[mr.Change]] = defaultdict(list)
    for change in sorted({c.id: c for c in changes}.values(), key=lambda c: c.id):
        by_record[(change.account, change.resource, change.key)].append(change)
    assert by_record
    for record_id, history in by_record.items():
        for previous, following in itertools.pairwise(history):
            if previous.after_json is not None and following.before_json is not None:
                # Equal on every field the previous change knew (a fetch may only add fields).
                known = previous.after_json
                assert {k: following.before_json.get(k) for k in known} == dict(known), record_id
        assert (history[-1].after_json is None) == (final[record_id] is None), record_id
    for account in fake.accounts:
        assert account.rejected_429 == 0
        assert account.max_in_window() <= LIMIT.requests
