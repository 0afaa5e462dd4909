"""The exporter against FakeKarbon: exactly once under faults, resume, incremental, sinks."""
# ruff: noqa: ASYNC230, ASYNC240  (tests read small result files inline)

from __future__ import annotations

import csv
import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pytest

import karbon_async as ka
from karbon_async.export import (
    RESOURCES,
    Account,
    Exporter,
    ExportEvent,
    ExportResource,
    StreamInfo,
    load_checkpoints,
    resolve_resources,
)
from karbon_async.testing import FakeKarbon, Fault

LIMIT = ka.RateLimit(50, 1.0)
ALL = ["contacts", "organizations", "work-items", "users"]
COLLECTION = {
    "contacts": "Contacts",
    "organizations": "Organizations",
    "work-items": "WorkItems",
    "users": "Users",
}


def accounts_of(fake: FakeKarbon, limit: ka.RateLimit = LIMIT) -> list[Account]:
    return [
        Account(f"acct-{a.index}", a.bearer_token, a.access_key, fake.base_url, limit)
        for a in fake.accounts
    ]


def exporter(fake: FakeKarbon, out: Path, resources: Sequence[str] = ALL, **kw: Any) -> Exporter:
    kw.setdefault("page_size", 20)
    kw.setdefault("page_retry_delay", 0.01)
    kw.setdefault("retry", ka.RetryPolicy(base_delay=0.01, max_delay=0.05))
    return Exporter(accounts_of(fake), resources, out=out, **kw)


def read_jsonl(path: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]


def assert_exactly_once(fake: FakeKarbon, out: Path, resources: Sequence[str] = ALL) -> None:
    for account in fake.accounts:
        for name in resources:
            path = out / f"acct-{account.index}" / f"{name}.jsonl"
            key = RESOURCES[name].key_field
            keys = [r[key] for r in read_jsonl(path)]
            expected = list(fake.collection(account.index, COLLECTION[name]).keys())
            assert len(keys) == len(set(keys)), f"{path}: duplicates"
            assert keys == expected, f"{path}: not every record exactly once, in order"
    assert not list(out.rglob("*.part")), "a partial file was left behind"


async def test_full_export_of_several_accounts_writes_every_record_once(tmp_path: Path) -> None:
    events: list[ExportEvent] = []
    async with FakeKarbon(accounts=3, rate_limit=LIMIT, size=90) as fake:
        report = await exporter(fake, tmp_path, on_event=events.append).run()
        assert report.ok
        assert_exactly_once(fake, tmp_path)
        assert report.rate_limited == 0
        assert all(a.max_in_window() <= LIMIT.requests for a in fake.accounts)
        assert report.requests == sum(len(a.arrivals) for a in fake.accounts)
    kinds = {e.kind for e in events}
    assert {"stream-started", "page", "stream-done", "account-done"} <= kinds
    # A contacts page (90 in each account): which stream's page comes first depends on timing.
    page = next(
        e for e in events if e.kind == "page" and e.stream and e.stream.resource == "contacts"
    )
    assert page.stream is not None
    assert page.stream.count == 90
    assert all(a.eta() == 0.0 for a in report.accounts)


async def test_csv_has_flattened_columns_and_one_row_per_record(tmp_path: Path) -> None:
    async with FakeKarbon(accounts=1, rate_limit=LIMIT, size=45) as fake:
        report = await exporter(fake, tmp_path, ["work-items"], format="csv").run()
        assert report.ok
        expected = list(fake.collection(0, "WorkItems").keys())
    with open(tmp_path / "acct-0" / "work-items.csv", newline="", encoding="utf-8") as file:
        rows = list(csv.DictReader(file))
    assert [r["WorkItemKey"] for r in rows] == expected
    assert rows[0]["PrimaryStatus"]
    assert not list(tmp_path.rglob("*.part"))
    assert not list(tmp_path.rglob("*.tmp"))


FAULTS = {
    # Streaks the client's own retries absorb (it makes 3 attempts here); the export does not
    # retry what the client already retried (tests/test_retry_loops.py has longer streaks).
    "500": (Fault.status(500), 2),
    "502": (Fault.status(502), 2),
    "503": (Fault.status(503), 2),
    "disconnect": (Fault.disconnect(), 2),
    "slow-past-timeout": (Fault.delay(2.0), 2),
    "429-burst": (Fault.rate_limited(1), 2),
    "malformed-json": (Fault.malformed_json(), 2),
}


@pytest.mark.parametrize("name", list(FAULTS))
async def test_export_under_faults_writes_every_record_exactly_once(
    tmp_path: Path, name: str
) -> None:
    fault, count = FAULTS[name]
    async with FakeKarbon(accounts=2, rate_limit=LIMIT, size=60) as fake:
        # Consecutive hits on one stream, absorbed by the client's retries.
        fake.add_fault(fault, count=count, path="/v3/Contacts")
        fake.add_fault(fault, count=2, account=1, path="/v3/WorkItems")
        report = await exporter(
            fake,
            tmp_path,
            timeout=0.5,
            retry=ka.RetryPolicy(max_attempts=3, base_delay=0.01, max_delay=0.05),
        ).run()
        assert report.ok, report.failures
        assert_exactly_once(fake, tmp_path)
        if name != "429-burst":
            assert report.rate_limited == 0


RATED_FAULTS = {
    "500-at-20%": (Fault.status(500), 0.2),
    "502-at-20%": (Fault.status(502), 0.2),
    "503-at-20%": (Fault.status(503), 0.2),
    "disconnect-at-15%": (Fault.disconnect(), 0.15),
    "truncated-at-15%": (Fault.truncate(), 0.15),
    "malformed-at-15%": (Fault.malformed_json(), 0.15),
    "slow-at-10%": (Fault.delay(2.0), 0.1),
    "429-at-10%": (Fault.rate_limited(1), 0.1),
}


@pytest.mark.parametrize("name", list(RATED_FAULTS))
async def test_export_under_fault_rates_writes_every_record_exactly_once(
    tmp_path: Path, name: str
) -> None:
    fault, rate = RATED_FAULTS[name]
    async with FakeKarbon(accounts=2, rate_limit=LIMIT, size=80) as fake:
        fake.add_fault(fault, count=None, rate=rate)  # every request, for the whole export
        report = await exporter(
            fake,
            tmp_path,
            timeout=0.5,
            # The client's retries carry it (the export does not retry them again): enough
            # attempts that a streak of faults at this rate (0.2 ** 8) does not end a stream.
            retry=ka.RetryPolicy(max_attempts=8, base_delay=0.01, max_delay=0.05),
        ).run()
        assert report.ok, report.failures
        assert_exactly_once(fake, tmp_path)


async def test_a_failing_account_does_not_stop_the_others(tmp_path: Path) -> None:
    async with FakeKarbon(accounts=2, rate_limit=LIMIT, size=30) as fake:
        good, _ = accounts_of(fake)
        bad = Account("bad", "no-such-token", "no-such-key", fake.base_url, LIMIT)
        report = await Exporter([good, bad], ["contacts"], out=tmp_path, page_size=20).run()
    assert not report.ok
    assert [s.account for s in report.failures] == ["bad"]
    assert "AuthenticationError" in (report.failures[0].error or "")
    assert len(read_jsonl(tmp_path / "acct-0" / "contacts.jsonl")) == 30
    assert not (tmp_path / "bad" / "contacts.jsonl").exists()


class _Crash(Exception):
    pass


class CrashingSink:
    """Writes through a FileSink and raises after ``pages`` pages, as a crash would (users, a
    one-page stream, always completes, so the resume also meets a finished stream)."""

    def __init__(self, inner: Any, pages: int) -> None:
        self.inner = inner
        self.pages = pages

    def path_for(self, stream: StreamInfo) -> Path:
        return self.inner.path_for(stream)  # type: ignore[no-any-return]

    async def open(self, stream: StreamInfo, position: Any | None) -> Any:
        inner = await self.inner.open(stream, position)
        outer = self

        class Stream:
            async def write_page(self, records: Sequence[Any]) -> Any:
                if outer.pages <= 0 and stream.resource.name != "users":
                    # half a page reaches the file, the checkpoint never does
                    await inner.write_page(records[: len(records) // 2])
                    raise _Crash
                outer.pages -= 1
                return await inner.write_page(records)

            async def sync(self) -> None:
                await inner.sync()

            async def finish(self) -> None:
                await inner.finish()

            async def close(self) -> None:
                await inner.close()

        return Stream()


@pytest.mark.parametrize("fmt", ["jsonl", "csv"])
async def test_resume_after_a_crash_gives_the_same_files(tmp_path: Path, fmt: str) -> None:
    from karbon_async.export import FileSink

    whole, broken = tmp_path / "whole", tmp_path / "broken"
    async with FakeKarbon(accounts=2, rate_limit=LIMIT, size=70) as fake:
        assert (await exporter(fake, whole, format=fmt).run()).ok
        sink = CrashingSink(FileSink(broken, format=fmt), pages=7)
        first = await exporter(fake, broken, sink=sink, state_dir=broken / ".karbon-export").run()
        assert not first.ok
        assert list(broken.rglob("*.part")), "the interrupted streams left only .part files"
        resumed = await exporter(fake, broken, format=fmt, resume=True).run()
        assert resumed.ok
        assert any(s.status == "done-before" for a in resumed.accounts for s in a.streams.values())
    files = sorted(p.relative_to(whole) for p in whole.rglob(f"*.{fmt}"))
    assert files == sorted(p.relative_to(broken) for p in broken.rglob(f"*.{fmt}"))
    assert len(files) == 8
    for relative in files:
        assert (whole / relative).read_bytes() == (broken / relative).read_bytes(), relative


async def test_incremental_sync_stops_at_the_watermark(tmp_path: Path) -> None:
    async with FakeKarbon(accounts=1, rate_limit=LIMIT, size=80) as fake:
        first = await exporter(fake, tmp_path, ["contacts", "users"], since="last").run()
        assert first.ok
        stream = first.accounts[0].streams["contacts"]
        assert stream.mode == "changes"
        assert stream.records == 80
        assert first.accounts[0].streams["users"].mode == "full"
        store = fake.collection(0, "Contacts")
        keys = list(store.keys())
        changed = [keys[5], keys[40], keys[77]]
        for n, key in enumerate(changed):
            record = store.get(key)
            assert record is not None
            record["LastModifiedDateTime"] = f"2031-01-0{n + 1}T00:00:00.0000000Z"
            store.put(key, record)
        second = await exporter(fake, tmp_path, ["contacts"], since="last").run()
        assert second.ok
        files = sorted((tmp_path / "acct-0").glob("contacts.changes-since-*.jsonl"))
        assert len(files) == 1
        assert [r["ContactKey"] for r in read_jsonl(files[0])] == changed[::-1]
        pages = second.accounts[0].streams["contacts"].pages
        assert pages == 1  # stopped at the watermark, not read to the end
        third = await exporter(fake, tmp_path, ["contacts"], since="last").run()
        assert third.accounts[0].streams["contacts"].records == 0
        state = load_checkpoints(tmp_path / ".karbon-export")[("acct-0", "contacts")]
        assert (state.watermark or "").startswith("2031-01-03T00:00:00")


class MemorySink:
    """A user's own sink: an upserting store keyed by the resource's key field."""

    def __init__(self) -> None:
        self.rows: dict[tuple[str, str, str], dict[str, Any]] = {}
        self.finished: list[str] = []

    async def open(self, stream: StreamInfo, position: Any | None) -> Any:
        sink = self

        class Stream:
            async def write_page(self, records: Sequence[Any]) -> Any:
                key = stream.resource.key_field
                for record in records:
                    sink.rows[(stream.account, stream.resource.name, record[key])] = record
                return None

            async def sync(self) -> None:
                pass

            async def finish(self) -> None:
                sink.finished.append(f"{stream.account}/{stream.resource.name}")

            async def close(self) -> None:
                pass

        return Stream()


async def test_a_custom_sink_receives_every_record(tmp_path: Path) -> None:
    sink = MemorySink()
    async with FakeKarbon(accounts=2, rate_limit=LIMIT, size=25) as fake:
        report = await exporter(fake, tmp_path, ["organizations"], sink=sink).run()
    assert report.ok
    assert len(sink.rows) == 50
    assert sorted(sink.finished) == ["acct-0/organizations", "acct-1/organizations"]
    assert not list(tmp_path.rglob("*.jsonl"))


def test_resource_names_resolve_and_the_table_extends() -> None:
    assert [r.name for r in resolve_resources(["WorkItems", "work_items", "contacts"])] == [
        "work-items",
        "contacts",
    ]
    with pytest.raises(ValueError, match="unknown resource"):
        resolve_resources(["invoicez"])
    extra = ExportResource("people", "contacts", "ContactKey", "LastModifiedDateTime")
    assert extra.incremental
    assert not RESOURCES["users"].incremental


def test_flatten_makes_dotted_columns_and_json_lists() -> None:
    from decimal import Decimal

    from karbon_async.export import flatten

    row = flatten({"A": {"B": 1, "C": {"D": Decimal("2.50")}}, "L": [1, {"x": 2}], "E": {}})
    assert row == {"A.B": 1, "A.C.D": Decimal("2.50"), "L": '[1,{"x":2}]', "E": "{}"}


async def test_every_registered_resource_exports_once(tmp_path: Path) -> None:
    async with FakeKarbon(accounts=1, rate_limit=ka.RateLimit(200, 1.0), size=120) as fake:
        report = await exporter(fake, tmp_path, list(RESOURCES), page_size=100).run()
    assert report.ok, report.failures
    for stream in report.accounts[0].streams.values():
        resource = RESOURCES[stream.resource]
        rows = read_jsonl(tmp_path / "acct-0" / f"{resource.name}.jsonl")
        keys = {row[resource.key_field] for row in rows}
        assert len(keys) == len(rows) == stream.records > 0, resource.name
        if stream.count is not None:
            assert stream.records == stream.count, resource.name


class FailingSyncSink(MemorySink):
    """A sink whose storage fails when asked to make pages durable (a full disk)."""

    async def open(self, stream: StreamInfo, position: Any | None) -> Any:
        inner = await super().open(stream, position)

        async def sync() -> None:
            raise OSError(28, "No space left on device")

        inner.sync = sync
        return inner


async def test_checkpoints_that_cannot_be_saved_fail_the_streams_not_the_run(
    tmp_path: Path,
) -> None:
    async with FakeKarbon(accounts=1, rate_limit=LIMIT, size=30) as fake:
        report = await exporter(fake, tmp_path, ["contacts"], sink=FailingSyncSink()).run()
    assert not report.ok
    assert "No space left on device" in (report.failures[0].error or "")
