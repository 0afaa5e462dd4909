"""The exporter writes records as the API sent them: no model round-trip, so money keeps its
digits and timestamps keep their seven fractional digits."""

from __future__ import annotations

import asyncio
import csv
import gc
import io
import json
from decimal import Decimal
from pathlib import Path

from _loopback import loopback
from aiohttp import web
from hypothesis import given
from hypothesis import strategies as st

import karbon_async as ka
from karbon_async._exact_json import _NUMBER, encode_exact
from karbon_async._gc import GC_GEN0_THRESHOLD, tuned_gc
from karbon_async._sender import encode_json
from karbon_async.export import Account, Exporter
from karbon_async.export._writers import encode_record

# Compact, as the JSONL line is; the numbers and the timestamp as a model would not write them.
RECORDS = [
    '{"ContactKey":"C1","LastModifiedDateTime":"2026-04-01T10:11:12.1234567Z",'
    '"Balance":1500.10,"Rate":0.50,"Count":3,"Name":"Zoë","Extra":{"Owed":-0.000,"Tags":[1.0]}}',
    '{"ContactKey":"C2","LastModifiedDateTime":"2026-03-31T00:00:00.0000001Z","Balance":null}',
]


async def test_jsonl_lines_are_the_api_records_byte_for_byte(tmp_path: Path) -> None:
    body = '{"@odata.count":2,"value":[' + ",".join(RECORDS) + "]}"

    async def answer(request: web.Request) -> web.Response:
        return web.Response(text=body, content_type="application/json")

    async with loopback(answer) as server:
        exporter = Exporter(
            [Account("a", "token", "key", server.base_url, ka.RateLimit(10, 1.0))],
            ["contacts"],
            out=tmp_path / "jsonl",
        )
        assert (await exporter.run()).ok
        csv_exporter = Exporter(
            [Account("a", "token", "key", server.base_url, ka.RateLimit(10, 1.0))],
            ["contacts"],
            out=tmp_path / "csv",
            format="csv",
        )
        assert (await csv_exporter.run()).ok
    written = (tmp_path / "jsonl" / "a" / "contacts.jsonl").read_bytes()
    assert written == "".join(r + "\n" for r in RECORDS).encode()
    table = (tmp_path / "csv" / "a" / "contacts.csv").read_text(encoding="utf-8")
    rows = list(csv.DictReader(io.StringIO(table, newline="")))
    assert rows[0]["Balance"] == "1500.10"
    assert rows[0]["Extra.Owed"] == "-0.000"
    assert rows[0]["Extra.Tags"] == "[1.0]"
    assert rows[1]["LastModifiedDateTime"] == "2026-03-31T00:00:00.0000001Z"


def test_a_string_equal_to_the_stand_in_is_kept() -> None:
    record = {"a": _NUMBER, "b": Decimal("1.10"), "c": [_NUMBER]}
    line = encode_record(record)
    assert json.loads(line, parse_float=Decimal) == record
    assert b"1.10" in line


plain_decimals = st.decimals(allow_nan=False, allow_infinity=False, places=4).map(
    lambda d: Decimal(f"{d:f}")
)
documents = st.recursive(
    st.none() | st.booleans() | st.integers() | st.text() | plain_decimals,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(), inner, max_size=4),
    max_leaves=20,
)


@given(documents)
def test_encode_exact_round_trips_every_decimal_exactly(document: object) -> None:
    text = encode_exact(document)
    assert json.loads(text, parse_float=Decimal) == document
    # The same text as parsing the API's text and writing it back: it is the API's text.
    assert encode_exact(json.loads(text, parse_float=Decimal)) == text


async def test_an_export_tunes_the_collector_and_restores_it(tmp_path: Path) -> None:
    before = gc.get_threshold()
    frozen_before = gc.get_freeze_count()
    seen: list[tuple[int, ...]] = []

    async def answer(request: web.Request) -> web.Response:
        seen.append(gc.get_threshold())
        return web.Response(text='{"value":[]}', content_type="application/json")

    async with loopback(answer) as server:
        accounts = [
            Account(name, "token", "key", server.base_url, ka.RateLimit(10, 1.0))
            for name in ("a", "b")
        ]
        # Two exports at once: the first one out must not restore what the other still needs.
        slow = Exporter(accounts[:1], ["contacts", "users"], out=tmp_path / "1")
        fast = Exporter(accounts[1:], ["contacts"], out=tmp_path / "2")
        reports = await asyncio.gather(slow.run(), fast.run())
        assert all(report.ok for report in reports)
        assert gc.get_threshold() == before
        untuned = Exporter(accounts[:1], ["contacts"], out=tmp_path / "3", tune_gc=False)
        assert (await untuned.run()).ok
    assert gc.get_freeze_count() == frozen_before
    assert seen[:3] == [(max(before[0], GC_GEN0_THRESHOLD), *before[1:])] * 3
    assert seen[3] == before


def test_tuned_gc_nests_and_leaves_an_applications_freeze_alone() -> None:
    before = gc.get_threshold()
    gc.freeze()
    try:
        frozen = gc.get_freeze_count()
        with tuned_gc():
            with tuned_gc():
                assert gc.get_threshold()[0] == max(before[0], GC_GEN0_THRESHOLD)
            assert gc.get_threshold()[0] == max(before[0], GC_GEN0_THRESHOLD)
        assert gc.get_threshold() == before
        assert gc.get_freeze_count() >= frozen
    finally:
        gc.unfreeze()


@given(
    st.decimals(allow_nan=False, allow_infinity=False, places=None).filter(
        lambda d: abs(d.adjusted()) < 40
    )
)
def test_a_request_body_keeps_every_digit_of_a_decimal(amount: Decimal) -> None:
    body = encode_json({"TotalAmount": amount})
    assert b"E" not in body.upper().replace(b"TOTALAMOUNT", b"")  # no exponent goes out
    assert json.loads(body, parse_float=Decimal)["TotalAmount"] == amount


def test_a_long_amount_is_not_rounded_through_a_float() -> None:
    body = encode_json({"TotalAmount": Decimal("12345678901234567.89"), "Name": "Zoë"})
    assert body == '{"TotalAmount":12345678901234567.89,"Name":"Zoë"}'.encode()
