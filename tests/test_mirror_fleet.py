"""The mirror's fetches on the Celery fleet: the service receives and verifies deliveries and sends
each event to the fleet; a real ``karbon-async mirror worker`` (two pool processes) fetches and
commits them, every account's requests (the service's reconciliation and both processes'
fetches) under one ``RedisBudget`` window. Real redis-server, PostgreSQL and worker processes."""

from __future__ import annotations

import asyncio
import datetime as dt
import random
import re
import subprocess
from collections.abc import Awaitable, Callable, Iterator
from pathlib import Path

import pytest
from _celery_workers import start_worker, stop_workers
from _mirror_helpers import COLLECTIONS, converged, free_port, karbon_side_change
from aiohttp import web
from postgres_server import PostgresServer, postgres_server, schema
from redis_server import RedisServer, redis_server

import karbon_async as ka
from karbon_async import mirror as mr
from karbon_async.export import Account
from karbon_async.testing import FakeKarbon
from karbon_async.webhooks import WebhookEvent, parse_event
from karbon_async.webhooks._signature import compute_signature

__all__ = ["postgres_server", "redis_server", "schema"]  # the fixtures

celery = pytest.importorskip("celery")

from karbon_async.fleet._app import make_app  # noqa: E402

KEY = "mirror-fleet-signing-key_0123"
LIMIT = ka.RateLimit(4, 1.0)
CHANGES = 40  # over 2 accounts: 20 fetches each, five windows' worth at LIMIT
RESOURCES = sorted(COLLECTIONS)


async def applied(fake: FakeKarbon, mirror: mr.Mirror, names: list[str]) -> list[str]:
    """What the mirror lacks of the fake's changes: every record there (and no other), and each
    changed field as the fake has it now. (``converged`` would also want the fields only a
    list shows, which a record created since the last reconciliation has not got yet.)"""
    problems = []
    changed = {(e.account.index, e.key) for e in fake.events}
    for index, name in enumerate(names):
        for resource_name, collection in COLLECTIONS.items():
            resource = mr.MIRROR_RESOURCES[resource_name]
            rows = await mirror.store.records(name, resource)
            live = {key: row for key, row in rows.items() if row is not None}
            store = fake.accounts[index].collection(collection)
            if set(live) != set(store.keys()):
                problems.append(f"{name}/{resource_name}: {sorted(set(live) ^ set(store.keys()))}")
                continue
            for key in live:
                record = store.get(key)
                assert record is not None
                for field in ("LastModifiedDateTime", "Description"):
                    if (
                        (index, key) in changed
                        and field in record
                        and not resource.same_value(field, live[key].get(field), record[field])
                    ):
                        problems.append(f"{name}/{resource_name}/{key}: {field}")
    return problems


async def _live(mirror: mr.Mirror, names: list[str]) -> set[tuple[int, str]]:
    found = set()
    for index, name in enumerate(names):
        for resource in RESOURCES:
            rows = await mirror.store.records(name, mr.MIRROR_RESOURCES[resource])
            found |= {(index, key) for key, row in rows.items() if row is not None}
    return found


@pytest.fixture
def worker(redis_server: RedisServer, tmp_path: Path) -> Iterator[subprocess.Popen[bytes]]:
    args = ["mirror", "worker", "--broker", redis_server.url, "--concurrency", "2"]
    process = start_worker([*args, "--name", "m@test", "--visibility-timeout", "5"], tmp_path / "w")
    try:
        yield process
    finally:
        stop_workers([process])


async def _until(what: str, seconds: float, check: Callable[[], Awaitable[object]]) -> None:
    """Until ``check()`` returns an empty list (or True)."""
    deadline = asyncio.get_running_loop().time() + seconds
    while (found := await check()) not in ([], True):
        assert asyncio.get_running_loop().time() < deadline, (
            f"timed out waiting for {what}: {found}"
        )
        await asyncio.sleep(0.2)


async def test_fleet_workers_fetch_the_events_within_each_accounts_budget(
    postgres_server: PostgresServer,
    redis_server: RedisServer,
    schema: str,
    worker: subprocess.Popen[bytes],
    tmp_path: Path,
) -> None:
    dsn = postgres_server.dsn
    changes: list[mr.Change] = []
    async with FakeKarbon(
        accounts=2,
        size=8,
        rate_limit=LIMIT,
        allow_insecure_webhooks=True,
        webhook_coalesce_window=0.0,
        webhook_retry_delays=(0.05,),
    ) as fake:
        accounts = [
            Account(f"acct-{a.index}", a.bearer_token, a.access_key, fake.base_url, LIMIT)
            for a in fake.accounts
        ]
        mirror = mr.Mirror(dsn, schema=schema, resources=RESOURCES, page_size=10)

        @mirror.on_change("Contact", name="contacts")
        @mirror.on_change("Organization", name="organizations")
        @mirror.on_change("WorkItem", name="work")
        async def record(change: mr.Change) -> None:
            changes.append(change)

        app = make_app(redis_server.url)
        port = free_port()
        service = mr.MirrorService(
            mirror,
            accounts,
            public_url=f"http://127.0.0.1:{port}",
            signing_key=KEY,
            # No reconciliation after the backfill: what reaches the mirror is what the fleet did.
            reconcile_interval=3600,
            subscription_interval=3600,
            dispatch_interval=0.1,
            allow_insecure_loopback=True,
            events_to=mr.FleetEvents(
                app, dsn=dsn, schema=schema, resources=RESOURCES, redis=redis_server.url
            ),
        )
        runner = web.AppRunner(service.app())
        await runner.setup()
        await web.TCPSite(runner, "127.0.0.1", port).start()
        names = [a.name for a in accounts]
        try:
            async with service:
                await _until("the backfill", 60, lambda: converged(fake, mirror, names))
                fake.events.clear()
                fake.webhook_delivery.attempts.clear()
                before = await _live(mirror, names)
                rng = random.Random(23)
                for step in range(CHANGES):  # as fast as Karbon's events can come
                    karbon_side_change(fake, rng, step % 2)
                await fake.webhook_delivery.wait_idle(30)  # each answered once the broker had it
                # Karbon (and the fake) coalesce changes of a record while one is on its way.
                statuses = [a.status for a in fake.webhook_delivery.attempts]

                await _until("the changes in the tables", 60, lambda: applied(fake, mirror, names))
                # Each record an event was about, but for those created and deleted before the
                # mirror saw them: the mirror holds it, or held it before the changes.
                held = before | await _live(mirror, names)
                expected = {
                    (names[e.account.index], e.key)
                    for e in fake.events
                    if (e.account.index, e.key) in held
                }

                async def delivered() -> list[tuple[str, str]]:
                    seen = {(c.account, c.key) for c in changes if c.source == "webhook"}
                    return sorted(expected - seen)

                await _until("the changes delivered from the outbox", 30, delivered)
                stats = service.stats()
                log = (tmp_path / "w").read_text(errors="replace")
                received = re.findall(rf"Task {re.escape(mr.EVENT_TASK)}\[[^]]+\] received", log)
                assert len(received) >= len(statuses)
                assert "dropped" not in log, log[-3000:]

                # Failing for good (a 401): logged once and dropped. For a reason that passes
                # (its budgets' Redis unreachable): retried by Celery.
                key = sorted(fake.accounts[0].collection("Contacts").keys())[0]
                event = parse_event(
                    {"ResourcePermaKey": key, "ResourceType": "Contact", "ActionType": "Updated"}
                )
                first = accounts[0]
                wrong = Account(first.name, "wrong-token", first.access_key, fake.base_url, LIMIT)
                assert service.events_to is not None
                await service.events_to.submit(wrong, event)
                away = "redis://127.0.0.1:1/0"
                await mr.FleetEvents(app, dsn=dsn, schema=schema, redis=away).submit(first, event)

                def both_failed() -> bool:
                    log = (tmp_path / "w").read_text(errors="replace")
                    return "AuthenticationError" in log and "Retry in" in log

                await _until("both failures", 30, lambda: asyncio.to_thread(both_failed))
        finally:
            await runner.cleanup()
            app.close()
        assert set(statuses) == {202}
        assert sum(s["events"] for s in stats.values()) == len(statuses) > CHANGES / 2
        assert {s["queued"] for s in stats.values()} == {0}  # no local worker
        assert len(expected) > CHANGES / 2
        assert all(c.source in ("backfill", "webhook") for c in changes)
        for account in fake.accounts:
            assert account.rejected_429 == 0
            assert account.max_in_window() <= LIMIT.requests
    log = (tmp_path / "w").read_text(errors="replace")
    assert log.count("dropped (reconciliation repairs it): AuthenticationError") == 1, log[-3000:]
    assert "retry in" in log
    assert "wrong-token" not in log


async def test_an_event_the_broker_cannot_take_is_refused_so_karbon_delivers_it_again(
    redis_server: RedisServer,
) -> None:
    """Answered 503 (and its replay claim released) while the broker is down; the same
    delivery once it is up is accepted and queued for the workers."""
    import redis

    url = redis_server.url
    redis_server.stop()
    account = Account("acct-0", "token", "key-0", "http://127.0.0.1:1", LIMIT)
    mirror = mr.Mirror("postgresql://127.0.0.1:1/none", resources=RESOURCES)
    service = mr.MirrorService(
        mirror,
        [account],
        public_url="http://127.0.0.1:1",
        signing_key=KEY,
        allow_insecure_loopback=True,
        events_to=mr.FleetEvents(  # a broker URL: the fleet's app made from it
            url, dsn="postgresql://127.0.0.1:1/none", redis=url, resources=RESOURCES
        ),
    )
    body = (
        b'{"ResourcePermaKey":"c-1","ResourceType":"Contact","ActionType":"Updated",'
        b'"TimeStamp":"' + _now().encode() + b'"}'
    )
    headers = {"Signature": compute_signature(body, KEY), "Content-Type": "application/json"}
    receiver = service._mirrors["acct-0"].receiver
    try:
        refused = await receiver.receive(body, headers)
        assert (refused.status, refused.reason) == (503, "not accepting")
        redis_server.start()
        accepted = await receiver.receive(body, headers)
        assert (accepted.status, accepted.reason) == (202, "accepted")
        again = await receiver.receive(body, headers)
        assert (again.status, again.reason) == (200, "replayed")
        client = redis.Redis.from_url(url)
        try:
            assert client.llen(mr.MIRROR_QUEUE) == 1
        finally:
            client.close()
        assert service.stats()["acct-0"]["events"] == 1
    finally:
        await service.stop()
        service.events_to.app.close()


def _now() -> str:
    return dt.datetime.now(dt.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def test_the_fleet_must_write_where_the_service_reads() -> None:
    mirror = mr.Mirror("postgresql://h/db", resources=["contacts"], schema="s")
    app = object()
    account = Account("a", "t", "k", "http://127.0.0.1:1", LIMIT)
    for events in (
        mr.FleetEvents(app, dsn="postgresql://h/db", redis="redis://r", resources=["invoices"]),
        mr.FleetEvents(app, dsn="postgresql://h/other", redis="redis://r", resources=["contacts"]),
        mr.FleetEvents(app, dsn="postgresql://h/db", redis="redis://r", resources=["contacts"]),
    ):
        with pytest.raises(ValueError, match="events_to"):
            mr.MirrorService(mirror, [account], public_url="x", signing_key=KEY, events_to=events)
    same = mr.FleetEvents(
        app, dsn="postgresql://h/db", schema="s", redis="redis://r", resources=["contacts"]
    )
    spec = same.spec(account, _event())
    assert spec["resources"] == ["contacts"]
    assert spec["account"]["name"] == "a"
    assert spec["event"]["ResourcePermaKey"] == "c-1"


def _event() -> WebhookEvent:
    fields = {"ResourcePermaKey": "c-1", "ResourceType": "Contact", "ActionType": "Updated"}
    return parse_event(fields)


async def test_a_pool_process_keeps_a_few_clients_and_rebuilds_them_on_a_new_redis_client(
    postgres_server: PostgresServer,
    redis_server: RedisServer,
    schema: str,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """What a pool process keeps between events (``_Kept``, run here in the test's loop): one
    Mirror, a client per account up to ``KEPT_CLIENTS`` (the least recently used closed), all
    dropped when the fleet replaces its Redis client."""
    from karbon_async.fleet._shards import Connections
    from karbon_async.mirror import _fleet

    monkeypatch.setattr(_fleet, "KEPT_CLIENTS", 2)
    async with FakeKarbon(accounts=3, size=4, rate_limit=LIMIT) as fake:
        events = mr.FleetEvents(
            object(), dsn=postgres_server.dsn, schema=schema, resources=RESOURCES,
            redis=redis_server.url,
        )  # fmt: skip
        accounts = [
            Account(f"acct-{a.index}", a.bearer_token, a.access_key, fake.base_url, LIMIT)
            for a in fake.accounts
        ]

        def spec(index: int) -> dict[str, object]:
            key = sorted(fake.accounts[index].collection("Contacts").keys())[0]
            fields = {"ResourcePermaKey": key, "ResourceType": "Contact", "ActionType": "Updated"}
            return events.spec(accounts[index], parse_event(fields))

        kept = _fleet._Kept()
        connections = Connections()
        try:
            assert await kept.handle(spec(0), connections) == {"changes": 1}  # a new record
            assert await kept.handle(spec(0), connections) == {"changes": 0}  # the same state
            first = [client for client, _ in kept._clients.values()]
            await kept.handle(spec(1), connections)
            await kept.handle(spec(2), connections)
            assert len(kept._clients) == 2
            assert first[0] not in [client for client, _ in kept._clients.values()]
            assert len(kept._mirrors) == 1
            # A shard asking for a bigger pool replaces the Redis client the budgets were on.
            await connections.redis(redis_server.url, 1000)
            before = list(kept._clients.values())
            assert await kept.handle(spec(2), connections) == {"changes": 0}
            assert len(kept._clients) == 1
            assert next(iter(kept._clients.values())) not in before
        finally:
            for client, budget in kept._clients.values():
                await client.aclose()
                await budget.aclose()
            await connections.aclose()
        for account in fake.accounts:
            assert account.max_in_window() <= LIMIT.requests


def test_fleet_flags_refuse_bad_input_in_one_line(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    from karbon_async.cli import main
    from karbon_async.cli._common import EXIT_USAGE

    monkeypatch.setenv("KARBON_WEBHOOK_SIGNING_KEY", KEY)
    monkeypatch.delenv("KARBON_FLEET_BROKER", raising=False)
    accounts = tmp_path / "accounts.toml"
    accounts.write_text('[a]\nbearer_token = "t"\naccess_key = "k"\n')
    service = ["mirror", "--to", "postgresql://h/db", "--accounts", str(accounts)]
    service += ["--public-url", "https://hooks.example.com"]
    for argv, message in [
        ([*service, "--fleet-broker", "mysql://x"], "--fleet-broker"),
        ([*service, "--fleet-broker", "redis://x", "--fleet-redis", "x"], "--fleet-redis"),
        ([*service, "--fleet-redis", "redis://x"], "--fleet-redis goes with --fleet-broker"),
        (["mirror", "worker"], "give --broker redis://... (or set KARBON_FLEET_BROKER)"),
        (["mirror", "worker", "--broker", "redis://x", "--visibility-timeout", "0"], "positive"),
        (["mirror", "--status"], "give --to"),
    ]:
        assert main(argv) == EXIT_USAGE, argv
        err = capsys.readouterr().err.strip().splitlines()
        assert len(err) == 1, err
        assert message in err[0], err
