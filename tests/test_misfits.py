"""No response shape stops a stream or loses a record (issue 19.2).

Pages are served by FakeKarbon as written here (a 200 "fault" per page, in order), so each
record's shape is exactly the one under test: records that do not fit their model (a missing
or null key, a string where a number is documented that is not a number, a number where a
string is, a list where an object is, an item that is not an object) beside the variants Karbon
documents or was seen to send (numeric strings, a date for a date-time, 7-digit fractions, an
enum spelled another way), which decode.
"""

from __future__ import annotations

import asyncio
import csv
import datetime as dt
import io
import json
import logging
from collections.abc import Sequence
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from _fake_helpers import fake_client
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import karbon_async as ka
from karbon_async import models as m
from karbon_async._converter import structure
from karbon_async.export import Account, Exporter, load_checkpoints
from karbon_async.testing import FakeKarbon, Fault

ENTRIES = "/v3/IndividualTimeEntries"
KEY = "IndividualTimeEntryKey"


def entry(key: str | None, **fields: Any) -> dict[str, Any]:
    record: dict[str, Any] = {} if key is None else {KEY: key}
    record.update({"Description": f"work {key}", "Minutes": 30}, **fields)
    return record


# Three pages: each kind of misfit beside good records and tolerated variants; the middle page
# holds misfits only (not an "empty page", so the listing goes on past it).
PAGES: list[list[Any]] = [
    [
        entry("T1"),
        entry(None),  # the key missing
        entry("T3", Minutes="90"),  # a numeric string where an integer is documented: decodes
        entry("T4", Minutes="ninety"),  # a string that is no number
        entry("T5", Date="2024-05-06"),  # a date where a date-time is documented: decodes
        entry("T6", Description=42),  # a number where a string is documented
    ],
    [
        {KEY: None, "Minutes": 5},  # the key null
        7,  # not an object at all
        entry("T9", Minutes=[1]),  # a list where a number is documented
    ],
    [
        entry("T10", Date="2022-07-05T07:30:13.7188114Z"),  # 7 fractional digits: decodes
        entry("T11", BilledStatus="Interim Billed"),  # another spelling: decodes to the member
        entry("T12", HourlyRate="150.50"),  # a numeric string for a decimal: decodes
        entry("T13", Minutes="abc", TaskTypeIsBillable="yes"),  # two fields wrong, one record
        entry("T14", SomethingNew={"x": [1]}, BilledStatus="Written Off"),  # new field, new value
    ],
]
GOOD = ["T1", "T3", "T5", "T10", "T11", "T12", "T14"]
# (page number, index in page, key, path, reason fragment) of every misfit, in order
MISFITS = [
    (1, 1, None, "TimeEntry.IndividualTimeEntryKey", "required, but missing"),
    (1, 3, "T4", "TimeEntry.Minutes", "not an integer: 'ninety'"),
    (1, 5, "T6", "TimeEntry.Description", "not a string: 42"),
    (2, 0, None, "TimeEntry.IndividualTimeEntryKey", "not a string: None"),
    (2, 1, None, "TimeEntry", "expects a JSON object, got int"),
    (2, 2, "T9", "TimeEntry.Minutes", "not an integer: [1]"),
    (3, 3, "T13", "TimeEntry.TaskTypeIsBillable", "not a boolean: 'yes' (and 1 more"),
]


def serve(fake: FakeKarbon, path: str, pages: Sequence[Sequence[Any]]) -> list[str]:
    """Serve ``pages`` for the next requests to ``path``, in order; returns each page's URL."""
    urls = [f"{fake.base_url}{path}?$top=6"] + [
        f"{fake.base_url}{path}?$top=6&$skip={6 * n}" for n in range(1, len(pages))
    ]
    for number, items in enumerate(pages):
        body: dict[str, Any] = {"@odata.count": sum(map(len, pages)), "value": list(items)}
        if number + 1 < len(pages):
            body["@odata.nextLink"] = urls[number + 1]
        fake.add_fault(Fault.status(200, body), path=path, method="GET")
    return urls


async def test_a_list_with_misfits_of_every_kind_yields_every_good_record_and_reports_the_rest(
    caplog: pytest.LogCaptureFixture,
) -> None:
    seen: list[ka.Misfit] = []
    async with fake_client() as (fake, client):
        urls = serve(fake, ENTRIES, PAGES)
        paginator = client.time_entries.list(page_size=6, on_misfit=seen.append)
        with caplog.at_level(logging.DEBUG, logger="karbon_async"):
            pages = [page async for page in paginator.pages()]
    items = [item for page in pages for item in page.items]
    assert [item.individual_time_entry_key for item in items] == GOOD
    assert all(isinstance(item, m.TimeEntry) for item in items)
    by_key = {item.individual_time_entry_key: item for item in items}
    assert by_key["T3"].minutes == 90
    assert by_key["T5"].date == dt.datetime(2024, 5, 6, tzinfo=dt.timezone.utc)
    assert by_key["T10"].date == dt.datetime(2022, 7, 5, 7, 30, 13, 718811, dt.timezone.utc)
    assert by_key["T11"].billed_status == m.BilledStatus.INTERIM_BILLED
    assert by_key["T12"].hourly_rate == Decimal("150.50")
    assert by_key["T14"].billed_status is not None
    assert not by_key["T14"].billed_status.is_known
    assert by_key["T14"].extra == {"SomethingNew": {"x": [1]}}

    found = [(f.page_number, f.index, f.key, f.path) for f in paginator.misfits]
    assert found == [row[:4] for row in MISFITS]
    assert seen == paginator.misfits
    assert paginator.misfit_count == len(MISFITS)
    assert [f for page in pages for f in page.misfits] == paginator.misfits
    for misfit, (number, index, _, _, reason) in zip(paginator.misfits, MISFITS, strict=True):
        assert reason in misfit.reason
        assert misfit.raw == PAGES[number - 1][index]  # the record as sent
        assert misfit.page_url == urls[number - 1]
        assert misfit.model is m.TimeEntry
    assert "TimeEntry.Minutes: not an integer: 'abc'" in paginator.misfits[-1].reason

    # One warning per field, naming it; the second misfit on a field is logged at DEBUG.
    warnings = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert len(warnings) == 5
    assert sum("TimeEntry.Minutes" in text for text in warnings) == 1
    assert sum("TimeEntry.IndividualTimeEntryKey" in text for text in warnings) == 1
    assert not any("ninety" in text for text in warnings)  # values stay out of the log
    debug = [r.getMessage() for r in caplog.records if r.levelno == logging.DEBUG]
    assert sum("TimeEntry.Minutes" in text for text in debug) == 1
    assert sum("TimeEntry.IndividualTimeEntryKey" in text for text in debug) == 1


async def test_the_same_pages_through_raw_and_json_lose_nothing() -> None:
    async with fake_client() as (fake, client):
        serve(fake, ENTRIES, PAGES)
        raw = client.time_entries.list(page_size=6).raw()
        dicts = [item async for item in raw]
        serve(fake, ENTRIES, PAGES)
        texts = [item async for item in client.time_entries.list(page_size=6).json()]
    every = [item for page in PAGES for item in page]
    assert dicts == [item for item in every if isinstance(item, dict)]
    assert [(f.page_number, f.index, f.raw, f.model) for f in raw.misfits] == [(2, 1, 7, dict)]
    assert [json.loads(text) for text in texts] == every


async def test_strict_raises_at_the_first_page_with_a_misfit_with_its_raw_json() -> None:
    good_page = [entry("S1"), entry("S2")]
    async with fake_client() as (fake, client):
        urls = serve(fake, ENTRIES, [good_page, *PAGES])
        received: list[str] = []

        async def read() -> None:
            async for item in client.time_entries.list(page_size=6, strict=True):
                received.append(item.individual_time_entry_key)

        with pytest.raises(ka.ModelDecodeError) as caught:
            await read()
    assert received == ["S1", "S2"]
    error = caught.value
    assert error.path == "TimeEntry.IndividualTimeEntryKey"
    assert error.raw == entry(None)
    assert error.url == urls[1]
    assert "record 1 of page 2" in str(error)


async def test_an_on_misfit_hook_can_stop_the_listing() -> None:
    def stop(misfit: ka.Misfit) -> None:
        raise misfit.error()

    async with fake_client() as (fake, client):
        serve(fake, ENTRIES, PAGES)
        with pytest.raises(ka.ModelDecodeError, match="IndividualTimeEntryKey"):
            await client.time_entries.list(page_size=6, on_misfit=stop).to_list()


async def test_get_of_a_misfit_raises_with_its_raw_json_and_a_payment_without_key_decodes() -> None:
    record = {"FirstName": "No", "LastName": "Key"}
    spec_example = {
        "InvoiceKey": "72dVb4dTRkH",
        "PaymentReference": "KPY-1000",
        "PaymentType": "ManualPayment",
        "PaymentDate": "2023-07-28",
        "GrossAmount": 1550.5,
        "PaymentMethod": "Check",
        "KarbonPayment": {"CardType": "", "CardCountry": None, "NetAmount": 0},
        "Client": None,
    }
    async with fake_client() as (fake, client):
        fake.add_fault(Fault.status(200, record), path="/v3/Contacts/C1")
        with pytest.raises(ka.ModelDecodeError) as caught:
            await client.contacts.get("C1")
        serve(fake, "/v3/Payments", [[spec_example, {**spec_example, "GrossAmount": "x"}]])
        payments = client.payments.list()
        listed = await payments.to_list()
    error = caught.value
    assert error.raw == record
    assert error.path == "Contact.ContactKey"
    assert error.method == "GET"
    assert error.url.endswith("/v3/Contacts/C1")
    assert len(listed) == 1
    assert listed[0].payment_key is None
    assert listed[0].gross_amount == Decimal("1550.5")
    assert listed[0].extra == {"InvoiceKey": "72dVb4dTRkH"}
    assert [(f.index, f.path) for f in payments.misfits] == [(1, "Payment.GrossAmount")]


async def test_a_keyed_list_keeps_its_good_records_and_reports_the_misfit() -> None:
    seen: list[ka.Misfit] = []
    body = {
        "value": [
            {"EstimateSummaryKey": "E1", "EstimateMinutes": "45"},
            {"EstimateSummaryKey": "E2", "EstimateMinutes": "lots"},
        ]
    }
    async with fake_client() as (fake, client):
        fake.add_fault(Fault.status(200, body), path="/v3/EstimateSummaries", count=2)
        items = await client.estimate_summaries.list("W1", on_misfit=seen.append)
        with pytest.raises(ka.ModelDecodeError, match="EstimateMinutes"):
            await client.estimate_summaries.list("W1", strict=True)
    assert [(item.estimate_summary_key, item.estimate_minutes) for item in items] == [("E1", 45)]
    assert [(f.key, f.index, f.path) for f in seen] == [
        ("E2", 1, "EstimateSummary.EstimateMinutes")
    ]


def _accounts(fake: FakeKarbon) -> list[Account]:
    account = fake.accounts[0]
    return [Account("acct-0", account.bearer_token, account.access_key, fake.base_url)]


def _lines(paths: list[Path]) -> list[Any]:
    return [json.loads(line) for p in paths for line in p.read_text("utf-8").splitlines()]


async def test_the_exporter_writes_every_record_as_sent(tmp_path: Path) -> None:
    async with FakeKarbon(rate_limit=None) as fake:
        serve(fake, ENTRIES, PAGES)
        report = await Exporter(_accounts(fake), ["time-entries"], out=tmp_path).run()
        assert report.ok
        serve(fake, ENTRIES, PAGES)
        csv_out = tmp_path / "csv"
        as_csv = await Exporter(_accounts(fake), ["time-entries"], out=csv_out, format="csv").run()
        assert as_csv.ok
    every = [item for page in PAGES for item in page]
    assert _lines(sorted((tmp_path / "acct-0").glob("time-entries*.jsonl"))) == every
    text = (csv_out / "acct-0" / "time-entries.csv").read_text(encoding="utf-8")
    rows = list(csv.DictReader(io.StringIO(text, newline="")))
    assert len(rows) == len(every)
    assert [row[KEY] for row in rows] == [
        str(item.get(KEY) or "") if isinstance(item, dict) else "" for item in every
    ]
    assert rows[7]["@value"] == "7"  # the item that is not an object, kept whole


def contact(key: str, modified: Any = ..., **fields: Any) -> dict[str, Any]:
    record = {"ContactKey": key, "FullName": f"Person {key}", **fields}
    if modified is not ...:
        record["LastModifiedDateTime"] = modified
    return record


async def test_records_without_a_readable_watermark_never_stop_an_incremental_export(
    tmp_path: Path,
) -> None:
    first_run = [
        [
            contact("A"),  # no watermark at all, first on the page
            contact("B", "garbage"),
            contact("C", "2031-01-02T00:00:00.1234567Z"),
            contact("D", None),
        ],
        [contact("E", "2031-01-01T00:00:00Z"), contact("F", 12)],
    ]
    second_run = [
        [
            contact("G"),
            contact("H", "2031-01-03T00:00:00Z"),
            contact("I", "not a date"),
            contact("C", "2031-01-02T00:00:00.1234567Z"),  # at the watermark: the sync ends
            contact("J", "2031-01-05T00:00:00Z"),
        ],
        [contact("K", "2031-01-04T00:00:00Z")],  # never fetched
    ]
    state = tmp_path / ".karbon-export"
    async with FakeKarbon(rate_limit=None) as fake:
        serve(fake, "/v3/Contacts", first_run)
        first = await Exporter(_accounts(fake), ["contacts"], out=tmp_path, since="last").run()
        assert first.ok
        stream = first.accounts[0].streams["contacts"]
        assert (stream.records, stream.unreadable_watermarks) == (6, 4)
        files = set((tmp_path / "acct-0").glob("contacts*.jsonl"))
        assert _lines(sorted(files)) == [item for page in first_run for item in page]
        watermark = load_checkpoints(state)[("acct-0", "contacts")].watermark
        assert watermark == "2031-01-02T00:00:00.1234567Z"  # B, D, F never move it

        fake.clear_faults()
        serve(fake, "/v3/Contacts", second_run)
        second = await Exporter(_accounts(fake), ["contacts"], out=tmp_path, since="last").run()
        assert second.ok
        new = sorted(set((tmp_path / "acct-0").glob("contacts*.jsonl")) - files)
        assert [r["ContactKey"] for r in _lines(new)] == ["G", "H", "I"]
        assert second.accounts[0].streams["contacts"].pages == 1
        watermark = load_checkpoints(state)[("acct-0", "contacts")].watermark
        assert watermark == "2031-01-03T00:00:00Z"


# -- property: random mutations of valid records never stop the stream, never lose a record

_VALID = st.fixed_dictionaries(
    {
        "Description": st.text(max_size=5),
        "Minutes": st.integers(0, 600),
        "HourlyRate": st.decimals(0, 500, places=2).map(float),
        "Date": st.sampled_from(
            ["2024-05-06T07:08:09Z", "2024-05-06", "2024-05-06T07:08:09.1234567Z"]
        ),
        "TaskTypeIsBillable": st.booleans(),
        "BilledStatus": st.sampled_from(["Billed", "Unbilled", "Interim Billed", "Something New"]),
    }
)
_OTHER_SCALARS = st.one_of(
    st.integers(-3, 3), st.text(max_size=3), st.booleans(), st.lists(st.integers(), max_size=1)
)
_FIELDS = [KEY, "Description", "Minutes", "HourlyRate", "Date", "TaskTypeIsBillable"]


@st.composite
def _records(draw: st.DrawFn) -> list[Any]:
    records: list[Any] = []
    for n in range(draw(st.integers(1, 12))):
        record: dict[str, Any] = {KEY: f"K{n}", **draw(_VALID)}
        for _ in range(draw(st.integers(0, 2))):
            name = draw(st.sampled_from(_FIELDS))
            how = draw(st.sampled_from(["drop", "null", "retype"]))
            if how == "drop":
                record.pop(name, None)
            elif how == "null":
                record[name] = None
            else:
                record[name] = draw(_OTHER_SCALARS)
        records.append(record)
    return records


def _fits(record: Any) -> bool:
    try:
        structure(record, m.TimeEntry)
    except ka.ModelDecodeError:
        return False
    return True


@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(records=_records(), page_size=st.integers(1, 5))
def test_mutated_records_never_stop_the_stream_nor_go_missing(
    records: list[Any], page_size: int
) -> None:
    pages = [records[i : i + page_size] for i in range(0, len(records), page_size)]

    async def run() -> tuple[list[m.TimeEntry], list[ka.Misfit]]:
        async with fake_client() as (fake, client):
            serve(fake, ENTRIES, pages)
            paginator = client.time_entries.list(page_size=6)
            return await paginator.to_list(), paginator.misfits

    items, misfits = asyncio.run(run())
    positions = [(n + 1, i) for n, page in enumerate(pages) for i in range(len(page))]
    fitting = [pos for pos, record in zip(positions, records, strict=True) if _fits(record)]
    assert len(items) == len(fitting)
    assert len(items) + len(misfits) == len(records)
    assert [item.individual_time_entry_key for item in items] == [
        records[positions.index(pos)][KEY] for pos in fitting
    ]
    for found in misfits:
        sent = json.dumps(pages[found.page_number - 1][found.index])
        assert found.raw == json.loads(sent, parse_float=Decimal)  # fractions stay exact
        assert found.path
        assert found.reason
    # Dropping or nulling any field but the key never makes a misfit.
    for record in records:
        key_ok = isinstance(record.get(KEY), str)
        wrong_types = [
            name
            for name in _FIELDS[1:]
            if record.get(name) is not None and not _fits({KEY: "K", name: record[name]})
        ]
        assert _fits(record) == (key_ok and not wrong_types)
