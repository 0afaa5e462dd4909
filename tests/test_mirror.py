"""The mirror against FakeKarbon and a real PostgreSQL: backfill into the exporter's tables,
events fetched and committed with field-level changes, stale and duplicate news ignored,
deletions, reconciliation of missed changes, a killed pass resumed, handlers at least once."""

from __future__ import annotations

import datetime as dt
from collections.abc import AsyncIterator
from typing import Any

import pytest
from postgres_server import PostgresServer, postgres_server, schema

import karbon_async as ka
from karbon_async import mirror as mr
from karbon_async import webhooks as wh
from karbon_async.models import PatchContactRequest, PrimaryStatus
from karbon_async.testing import FakeKarbon

__all__ = ["postgres_server", "schema"]  # the fixtures

ACCOUNT = "acme"
WORK = mr.MIRROR_RESOURCES["work-items"]
CONTACTS = mr.MIRROR_RESOURCES["contacts"]


def event(resource_type: str, action: str, key: str) -> wh.WebhookEvent:
    return wh.parse_event(
        {"ResourcePermaKey": key, "ResourceType": resource_type, "ActionType": action}
    )


@pytest.fixture
async def fake() -> AsyncIterator[FakeKarbon]:
    async with FakeKarbon(size=25, rate_limit=ka.RateLimit(200, 1.0)) as fake:
        yield fake


@pytest.fixture
async def client(fake: FakeKarbon) -> AsyncIterator[ka.KarbonClient]:
    account = fake.accounts[0]
    async with ka.KarbonClient(
        bearer_token=account.bearer_token,
        access_key=account.access_key,
        base_url=fake.base_url,
        rate_limit=ka.RateLimit(200, 1.0),
    ) as client:
        yield client


@pytest.fixture
async def mirror(postgres_server: PostgresServer, schema: str) -> AsyncIterator[mr.Mirror]:
    async with mr.Mirror(
        postgres_server.dsn, schema=schema, resources=["contacts", "work-items"], page_size=10
    ) as mirror:
        yield mirror


def live_keys(fake: FakeKarbon, collection: str) -> set[str]:
    return set(fake.accounts[0].collection(collection).keys())


async def test_backfill_fills_the_exporters_tables(
    fake: FakeKarbon, client: ka.KarbonClient, mirror: mr.Mirror
) -> None:
    results = await mirror.reconcile(client, ACCOUNT)
    assert [(r.resource, r.full) for r in results] == [("contacts", True), ("work-items", True)]
    for resource, collection in ((CONTACTS, "Contacts"), (WORK, "WorkItems")):
        rows = await mirror.store.records(ACCOUNT, resource)
        assert set(rows) == live_keys(fake, collection)
        listed = {
            r[resource.export.key_field]: r
            async for r in getattr(client, resource.export.attribute).list().raw()
        }
        assert rows == listed
    # Every insert is in the outbox, once, as a backfill.
    counts = await mirror.store.counts()
    assert counts == {
        "contacts:Inserted:backfill": len(live_keys(fake, "Contacts")),
        "work-items:Inserted:backfill": len(live_keys(fake, "WorkItems")),
    }
    # A second pass finds nothing new: incremental for contacts, full for work items.
    again = await mirror.reconcile(client, ACCOUNT)
    assert [(r.full, r.drift) for r in again] == [(False, 0), (True, 0)]
    assert await mirror.store.counts() == counts


async def test_an_event_commits_the_fetched_record_and_its_changed_fields(
    fake: FakeKarbon, client: ka.KarbonClient, mirror: mr.Mirror
) -> None:
    moved: list[mr.Change] = []
    described: list[mr.Change] = []

    @mirror.on_change("WorkItem", fields=["PrimaryStatus"])
    async def on_status(change: mr.Change) -> None:
        moved.append(change)

    @mirror.on_change("WorkItem", fields=["Description"])
    async def on_description(change: mr.Change) -> None:
        described.append(change)

    await mirror.reconcile(client, ACCOUNT, resources=["work-items"])
    await mirror.dispatch(limit=1000)
    moved.clear()
    described.clear()
    store = fake.accounts[0].collection("WorkItems")
    key = store.key_of(3)
    before = await client.work_items.get(key)
    target = "Completed" if before.primary_status != PrimaryStatus.COMPLETED else "In Progress"
    record = store.get(key)
    assert record is not None
    store.put(key, {**record, "PrimaryStatus": target})  # a change made in Karbon

    changes = await mirror.handle(client, ACCOUNT, event("Work", "Updated", key))
    assert len(changes) == 1
    change = changes[0]
    assert change.action == "Updated"
    assert change.source == "webhook"
    assert "PrimaryStatus" in change.changed_fields
    assert change.after.primary_status == PrimaryStatus(target)
    assert change.before.primary_status == before.primary_status
    # The same news again (a duplicate delivery): nothing changes, nothing is announced.
    assert await mirror.handle(client, ACCOUNT, event("Work", "Updated", key)) == []

    assert await mirror.dispatch() == 1
    assert [c.id for c in moved] == [change.id]
    assert described == []
    assert await mirror.dispatch() == 0  # acknowledged: not delivered again


async def test_a_failing_handler_gets_the_change_again(
    fake: FakeKarbon, client: ka.KarbonClient, mirror: mr.Mirror
) -> None:
    calls: list[int] = []

    @mirror.on_change("Contact")
    async def flaky(change: mr.Change) -> None:
        calls.append(change.id)
        if len(calls) == 1:
            raise RuntimeError("handler down")

    key = fake.accounts[0].collection("Contacts").key_of(0)
    await client.contacts.patch(key, PatchContactRequest(middle_name="Mirrored"))
    [change] = await mirror.handle(client, ACCOUNT, event("Contact", "Updated", key))
    assert change.action == "Inserted"  # the mirror had not seen it yet
    assert change.after_json["MiddleName"] == "Mirrored"
    assert await mirror.dispatch() == 0
    assert await mirror.dispatch() == 1
    assert calls == [change.id, change.id]


async def test_deletion_by_event_and_by_404_and_no_stale_resurrection(
    fake: FakeKarbon, client: ka.KarbonClient, mirror: mr.Mirror
) -> None:
    await mirror.reconcile(client, ACCOUNT, resources=["work-items"])
    store = fake.accounts[0].collection("WorkItems")
    gone, vanished = store.key_of(1), store.key_of(2)
    stale = await client.work_items.get.raw(gone)
    sent_before_delete = dt.datetime.now(dt.timezone.utc)

    await client.work_items.delete(gone) if hasattr(client.work_items, "delete") else store.delete(
        gone
    )
    [deleted] = await mirror.handle(client, ACCOUNT, event("Work", "Deleted", gone))
    assert deleted.action == "Deleted"
    assert deleted.after_json is None
    # A fetch sent before the deletion, committed after it, does not bring the record back.
    late = await mirror.store.apply(ACCOUNT, WORK, [stale], sent_before_delete, source="webhook")
    assert late == []
    rows = await mirror.store.records(ACCOUNT, WORK)
    assert rows[gone] is None

    # An Updated event whose fetch finds nothing: the record is gone (404).
    store.delete(vanished)
    [by_404] = await mirror.handle(client, ACCOUNT, event("Work", "Updated", vanished))
    assert by_404.action == "Deleted"
    assert (await mirror.store.records(ACCOUNT, WORK))[vanished] is None


async def test_reconciliation_finds_what_no_event_announced(
    fake: FakeKarbon, client: ka.KarbonClient, mirror: mr.Mirror
) -> None:
    await mirror.reconcile(client, ACCOUNT)
    contacts = fake.accounts[0].collection("Contacts")
    work = fake.accounts[0].collection("WorkItems")
    changed = contacts.key_of(4)
    # An event fetched it whole once: the mirror knows every field of it.
    await mirror.handle(client, ACCOUNT, event("Contact", "Updated", changed))
    # Changes Karbon made without any event reaching the mirror.
    await client.contacts.patch(changed, PatchContactRequest(middle_name="Quietly"))
    removed = work.key_of(5)
    work.delete(removed)

    incremental = await mirror.reconcile(client, ACCOUNT)
    by_resource = {r.resource: r for r in incremental}
    assert [c.key for c in by_resource["contacts"].changes] == [changed]
    [drift] = by_resource["contacts"].changes
    assert set(drift.changed_fields) == {"LastModifiedDateTime", "MiddleName"}
    assert drift.after.middle_name == "Quietly"
    assert drift.before.middle_name != "Quietly"
    assert "FullName" in drift.after_json  # the list's own field, kept
    assert by_resource["work-items"].deleted == 1  # work items are read in full
    rows = await mirror.store.records(ACCOUNT, WORK)
    assert rows[removed] is None
    assert {k for k, v in rows.items() if v is not None} == live_keys(fake, "WorkItems")


async def test_a_killed_pass_resumes_from_its_last_committed_page(
    fake: FakeKarbon, client: ka.KarbonClient, mirror: mr.Mirror, monkeypatch: Any
) -> None:
    real_apply = mirror.store.apply
    applied = 0

    async def dies_after_two_pages(*args: Any, **kwargs: Any) -> list[mr.Change]:
        nonlocal applied
        if applied == 2:
            raise ConnectionError("killed")
        applied += 1
        return await real_apply(*args, **kwargs)

    monkeypatch.setattr(mirror.store, "apply", dies_after_two_pages)
    with pytest.raises(ConnectionError):
        await mirror.reconcile(client, ACCOUNT, resources=["work-items"])
    state = await mirror.store.stream(ACCOUNT, "work-items")
    assert state.run is not None
    assert state.next_link is not None
    monkeypatch.setattr(mirror.store, "apply", real_apply)

    [result] = await mirror.reconcile(client, ACCOUNT, resources=["work-items"])
    assert result.pages == 1  # 25 work items, 10 a page: the third page only
    rows = await mirror.store.records(ACCOUNT, WORK)
    assert set(rows) == live_keys(fake, "WorkItems")
    counts = await mirror.store.counts()
    assert counts == {"work-items:Inserted:backfill": len(rows)}  # each once
    assert (await mirror.store.stream(ACCOUNT, "work-items")).run is None
