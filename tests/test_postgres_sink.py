"""The exporter into a real PostgreSQL: rows and checkpoints in one transaction, resumable,
deletions marked by full passes, one exporter per account."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Sequence
from typing import Any

import pytest
from postgres_server import PostgresServer, postgres_server, schema

import karbon_async as ka
from karbon_async.export import (
    RESOURCES,
    Account,
    Exporter,
    ExportEvent,
    ExportStateError,
    StreamState,
)
from karbon_async.export._postgres import PostgresSink, keyless_key, quote_ident
from karbon_async.testing import FakeKarbon, Fault

__all__ = ["postgres_server", "schema"]  # the fixtures

LIMIT = ka.RateLimit(50, 1.0)
ALL = ["contacts", "organizations", "work-items", "users"]
COLLECTION = {
    "contacts": "Contacts",
    "organizations": "Organizations",
    "work-items": "WorkItems",
    "users": "Users",
}


def accounts_of(fake: FakeKarbon) -> list[Account]:
    return [
        Account(f"acct-{a.index}", a.bearer_token, a.access_key, fake.base_url, LIMIT)
        for a in fake.accounts
    ]


def exporter(
    fake: FakeKarbon, sink: PostgresSink, resources: Sequence[str] = ALL, **kw: Any
) -> Exporter:
    kw.setdefault("page_size", 20)
    kw.setdefault("page_retry_delay", 0.01)
    kw.setdefault("retry", ka.RetryPolicy(base_delay=0.01, max_delay=0.05))
    return Exporter(accounts_of(fake), resources, sink=sink, **kw)


async def rows(dsn: str, schema: str, resource: str) -> list[dict[str, Any]]:
    asyncpg = pytest.importorskip("asyncpg")
    table = f"{quote_ident(schema)}.{quote_ident('karbon_' + resource.replace('-', '_'))}"
    connection = await asyncpg.connect(dsn)
    try:
        # A stream stopped before its first page has not created its table: it holds nothing.
        if not await connection.fetchval("SELECT to_regclass($1) IS NOT NULL", table):
            return []
        found = await connection.fetch(
            f"SELECT account, key, record::text, writes, deleted_at FROM {table}"
        )
    finally:
        await connection.close()
    return [dict(r) for r in found]


async def checkpoints(dsn: str, schema: str) -> list[StreamState]:
    sink = PostgresSink(dsn, schema=schema)
    store = sink.checkpoint_store([f"acct-{i}" for i in range(10)])
    await store.open()
    try:
        return [s for s in store._states.values() if s.run is not None]
    finally:
        await store.close()


async def assert_exactly_once(
    fake: FakeKarbon, dsn: str, schema: str, resources: Sequence[str] = ALL, writes: int = 1
) -> None:
    for name in resources:
        stored = await rows(dsn, schema, name)
        for account in fake.accounts:
            mine = [r for r in stored if r["account"] == f"acct-{account.index}"]
            expected = sorted(fake.collection(account.index, COLLECTION[name]).keys())
            assert sorted(r["key"] for r in mine) == expected, f"{name} of {account.index}"
            assert {r["writes"] for r in mine} == {writes}, f"{name}: a row written twice"
            key_field = RESOURCES[name].key_field
            assert all(json.loads(r["record"])[key_field] == r["key"] for r in mine)


def total_records(fake: FakeKarbon, resources: Sequence[str] = ALL) -> int:
    return sum(
        len(list(fake.collection(a.index, COLLECTION[r]).keys()))
        for a in fake.accounts
        for r in resources
    )


async def test_export_into_postgres_writes_every_record_once(
    postgres_server: PostgresServer, schema: str
) -> None:
    async with FakeKarbon(accounts=3, rate_limit=LIMIT, size=70) as fake:
        sink = PostgresSink(postgres_server.dsn, schema=schema)
        report = await exporter(fake, sink).run()
        assert report.ok, report.failures
        assert report.rate_limited == 0
        await assert_exactly_once(fake, postgres_server.dsn, schema)
        assert sink.rows_written == total_records(fake)
        # Finished streams are skipped by a resume: nothing more is fetched or written.
        before = fake.total_requests
        again = PostgresSink(postgres_server.dsn, schema=schema)
        report = await exporter(fake, again, resume=True).run()
        assert report.ok
        assert {s.status for a in report.accounts for s in a.streams.values()} == {"done-before"}
        assert fake.total_requests == before
        assert again.rows_written == 0


async def test_cancelled_between_pages_resumes_with_every_record_once(
    postgres_server: PostgresServer, schema: str
) -> None:
    async with FakeKarbon(accounts=2, rate_limit=LIMIT, size=100) as fake:
        first = PostgresSink(postgres_server.dsn, schema=schema, commit_interval=0.01)
        pages = 0
        task: asyncio.Future[Any] | None = None

        def on_event(event: ExportEvent) -> None:
            nonlocal pages
            if event.kind == "page":
                pages += 1
                if pages == 17 and task is not None:
                    task.cancel()  # right after a page was handed to the sink

        task = asyncio.ensure_future(exporter(fake, first, on_event=on_event).run())
        with pytest.raises(asyncio.CancelledError):
            await task
        total = total_records(fake)
        assert 0 < first.rows_written < total
        stored = 0
        for resource in ALL:
            stored += len(await rows(postgres_server.dsn, schema, resource))
        assert stored == first.rows_written
        # No row without its checkpoint, nor the reverse.
        assert stored == sum(s.run.records for s in await checkpoints(postgres_server.dsn, schema))

        second = PostgresSink(postgres_server.dsn, schema=schema)
        report = await exporter(fake, second, resume=True).run()
        assert report.ok, report.failures
        assert first.rows_written + second.rows_written == total  # nothing fetched twice
        await assert_exactly_once(fake, postgres_server.dsn, schema)


async def test_a_full_pass_marks_records_it_did_not_see_as_deleted(
    postgres_server: PostgresServer, schema: str
) -> None:
    async with FakeKarbon(accounts=1, rate_limit=LIMIT, size=50) as fake:
        report = await exporter(fake, PostgresSink(postgres_server.dsn, schema=schema)).run()
        assert report.ok
        contacts = fake.collection(0, "Contacts")
        keys_before = list(contacts.keys())
        gone = keys_before[7]
        contacts.delete(gone)
        report = await exporter(fake, PostgresSink(postgres_server.dsn, schema=schema)).run()
        assert report.ok
    stored = await rows(postgres_server.dsn, schema, "contacts")
    deleted = {r["key"] for r in stored if r["deleted_at"] is not None}
    assert deleted == {gone}
    assert len(stored) == len(keys_before)  # marked, not removed
    assert {r["writes"] for r in stored if r["key"] != gone} == {2}
    others = await rows(postgres_server.dsn, schema, "users")
    assert all(r["deleted_at"] is None for r in others)


async def test_incremental_sync_keeps_its_watermark_in_postgres(
    postgres_server: PostgresServer, schema: str
) -> None:
    async with FakeKarbon(accounts=1, rate_limit=LIMIT, size=40) as fake:
        sink = PostgresSink(postgres_server.dsn, schema=schema)
        report = await exporter(fake, sink, ["contacts"], since="last").run()
        assert report.ok
        assert sink.rows_written == 40
        contacts = fake.collection(0, "Contacts")
        keys = list(contacts.keys())
        changed, gone = keys[3], keys[5]
        record = contacts.get(changed)
        assert record is not None
        record["LastModifiedDateTime"] = "2031-01-01T00:00:00.0000000Z"
        contacts.put(changed, record)
        contacts.delete(gone)
        sink = PostgresSink(postgres_server.dsn, schema=schema)
        report = await exporter(fake, sink, ["contacts"], since="last").run()
        assert report.ok
        assert sink.rows_written == 1  # only what changed since the saved watermark
    stored = {r["key"]: r for r in await rows(postgres_server.dsn, schema, "contacts")}
    assert stored[changed]["writes"] == 2
    assert json.loads(stored[changed]["record"])["LastModifiedDateTime"].startswith("2031-01-01")
    # An incremental pass does not see every record, so it never marks deletions.
    assert all(r["deleted_at"] is None for r in stored.values())


async def test_a_new_pass_restarts_finished_streams_and_the_same_pass_skips_them(
    postgres_server: PostgresServer, schema: str
) -> None:
    async with FakeKarbon(accounts=1, rate_limit=LIMIT, size=30) as fake:
        users = total_records(fake, ["users"])
        for pass_id, written in (("p1", users), ("p1", 0), ("p2", users)):
            sink = PostgresSink(postgres_server.dsn, schema=schema, pass_id=pass_id)
            report = await exporter(fake, sink, ["users"], resume=True).run()
            assert report.ok
            assert sink.rows_written == written, pass_id


async def test_two_exporters_never_work_on_one_account_at_once(
    postgres_server: PostgresServer, schema: str
) -> None:
    async with FakeKarbon(accounts=1, rate_limit=LIMIT, size=30) as fake:
        holder = PostgresSink(postgres_server.dsn, schema=schema)
        store = holder.checkpoint_store(["acct-0"])
        await store.open()
        try:
            other = PostgresSink(postgres_server.dsn, schema=schema, lock_wait=0.3)
            with pytest.raises(ExportStateError, match="another export is writing"):
                await exporter(fake, other, ["users"]).run()
        finally:
            await store.close()
        report = await exporter(fake, PostgresSink(postgres_server.dsn, schema=schema)).run()
        assert report.ok


async def test_records_without_their_key_are_stored_not_skipped(
    postgres_server: PostgresServer, schema: str
) -> None:
    items: list[Any] = [
        {"PaymentKey": "P1", "GrossAmount": 1.5},
        {"InvoiceKey": "I2", "GrossAmount": 2},  # the spec's example: no PaymentKey
        {"PaymentKey": None},
        7,  # not an object
        {"PaymentKey": "P5", "GrossAmount": "not a number"},
    ]
    async with FakeKarbon(rate_limit=None) as fake:
        fake.add_fault(Fault.status(200, {"value": items}), path="/v3/Payments", method="GET")
        sink = PostgresSink(postgres_server.dsn, schema=schema)
        report = await exporter(fake, sink, ["payments"]).run()
    assert report.ok, report.failures
    stored = {
        r["key"]: json.loads(r["record"])
        for r in await rows(postgres_server.dsn, schema, "payments")
    }
    texts = [json.dumps(item, separators=(",", ":")) for item in items]
    assert stored == {
        "P1": items[0],
        keyless_key(texts[1]): items[1],
        keyless_key(texts[2]): items[2],
        keyless_key(texts[3]): 7,
        "P5": items[4],
    }
