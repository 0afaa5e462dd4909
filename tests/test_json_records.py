"""Collection bodies split into each item's exact JSON: ``split_collection``, ``field_values``,
``Paginator.json()`` and the exporter's ``Records``."""

from __future__ import annotations

import json
from decimal import Decimal
from pathlib import Path

import pytest
from _loopback import loopback
from aiohttp import web
from hypothesis import given
from hypothesis import strategies as st

import karbon_async as ka
from karbon_async._json_records import CollectionShapeError, field_values, split_collection
from karbon_async.export import Account, Exporter, Records
from karbon_async.testing import FakeKarbon

# Number spellings a float round trip would change: the digits must survive as sent.
NUMBER_TEXTS = ["150.00", "-0.000", "1.0E+2", "1e-7", "0.1000000000000000055511151231257827", "7"]

number_texts = st.sampled_from(NUMBER_TEXTS) | st.integers().map(str)
string_texts = st.text().map(lambda s: json.dumps(s, ensure_ascii=False)) | st.text().map(
    json.dumps
)
scalars = number_texts | string_texts | st.sampled_from(["true", "false", "null"])
spacing = st.sampled_from(["", " ", "\n  ", "\r\n\t"])


@st.composite
def json_texts(draw: st.DrawFn, depth: int = 2) -> str:
    """A JSON value as text, laid out with random whitespace between tokens."""
    if depth == 0 or draw(st.booleans()):
        return draw(scalars)
    gap = draw(spacing)
    if draw(st.booleans()):
        items = draw(st.lists(json_texts(depth - 1), max_size=3))
        return "[" + gap + ("," + gap).join(items) + gap + "]"
    keys = draw(st.lists(string_texts, max_size=3, unique=True))
    members = [k + gap + ":" + gap + draw(json_texts(depth - 1)) for k in keys]
    return "{" + gap + ("," + gap).join(members) + gap + "}"


def _digits(text: str) -> list[str]:
    """The numbers of a JSON text as written (strings' contents left out)."""
    out: list[str] = []

    def keep(token: str) -> Decimal:
        out.append(token)
        return Decimal(token)

    json.loads(text, parse_float=keep, parse_int=keep)
    return out


@given(
    items=st.lists(json_texts(), max_size=6),
    gap=spacing,
    before=st.booleans(),
    link=st.none() | st.just("https://api.karbonhq.com/v3/Contacts?$skip=2"),
)
def test_each_text_is_the_item_as_sent(
    items: list[str], gap: str, before: bool, link: str | None
) -> None:
    members = ['"value":' + gap + "[" + gap + ("," + gap).join(items) + gap + "]"]
    extra = ['"@odata.context":"x"', f'"@odata.nextLink":{json.dumps(link)}']
    members = extra + members if before else members + extra
    body = ("{" + gap + ("," + gap).join(members) + gap + "}").encode()

    texts, next_link, count = split_collection(body)

    assert next_link == link
    assert count is None
    assert len(texts) == len(items)
    for text, item in zip(texts, items, strict=True):
        assert b"\n" not in text
        assert b"\r" not in text
        written = text.decode()
        assert json.loads(written, parse_float=Decimal) == json.loads(item, parse_float=Decimal)
        assert _digits(written) == _digits(item)  # every number spelt as the API spelt it
        if "\n" not in item and "\r" not in item:
            assert written == item  # on one line already: byte for byte


def test_counts_links_and_the_specs_values_spelling() -> None:
    texts, link, count = split_collection(b'{"values":[{"A":1.50}],"@odata.count":"12"}')
    assert (texts, link, count) == ([b'{"A":1.50}'], None, 12)
    assert split_collection(b'{"@odata.nextLink":"","value":[]}') == ([], None, None)


@pytest.mark.parametrize(
    ("body", "error"),
    [
        (b"[1, 2]", CollectionShapeError),
        (b'{"value": {"a": 1}}', CollectionShapeError),
        (b'{"value": [], "@odata.count": "many"}', CollectionShapeError),
        (b'{"value": [], "@odata.nextLink": 5}', CollectionShapeError),
        (b'{"value": [1,]}', ValueError),
        (b'{"value": [{"a": tru}]}', ValueError),
        (b'{"value": [', ValueError),
        (b"", ValueError),
    ],
)
def test_bodies_that_are_not_collections(body: bytes, error: type[Exception]) -> None:
    with pytest.raises(error) as caught:
        split_collection(body)
    if error is ValueError:  # malformed JSON is not mistaken for a wrong shape
        assert not isinstance(caught.value, CollectionShapeError)


def test_field_values_reads_one_field_of_each_text() -> None:
    texts = [b'{"Key":"k\\u00e9","When":"2026-01-01T00:00:00.1234567Z"}', b'{"When":1.5}', b"3"]
    assert field_values(texts, "Key") == ["k\u00e9", None, None]
    assert field_values(texts, "When") == ["2026-01-01T00:00:00.1234567Z", 1.5, None]


def test_records_decode_on_use_with_exact_numbers() -> None:
    records = Records([b'{"K":"a","Amount":150.00}', b'{"K":"b"}'])
    assert len(records) == 2
    assert records.values("K") == ["a", "b"]
    assert records[0] == {"K": "a", "Amount": Decimal("150.00")}
    assert str(records[0]["Amount"]) == "150.00"
    assert [r["K"] for r in records] == ["a", "b"]
    tail = records[1:]
    assert isinstance(tail, Records)
    assert tail.texts == [b'{"K":"b"}']


async def test_paginator_json_yields_the_records_raw_yields() -> None:
    async with FakeKarbon(size=7) as fake:
        account = fake.accounts[0]
        async with ka.KarbonClient(
            bearer_token=account.bearer_token,
            access_key=account.access_key,
            base_url=fake.base_url,
            rate_limit=ka.RateLimit(1000, 1.0),
        ) as client:
            listing = client.contacts.list(page_size=3)
            texts = await listing.json().to_list()
            records = await listing.raw().to_list()
            pages = [page async for page in listing.json().pages()]
            capped = await client.contacts.list(page_size=3, max_items=4).json().to_list()
    assert all(isinstance(text, bytes) for text in texts)
    assert [json.loads(t, parse_float=Decimal) for t in texts] == records
    assert [len(p.items) for p in pages] == [3, 3, 1]
    assert pages[-1].next_link is None
    assert capped == texts[:4]


async def test_a_page_that_is_not_json_is_retried_then_reported() -> None:
    calls = 0

    async def answer(request: web.Request) -> web.Response:
        nonlocal calls
        calls += 1
        body = '{"value": [' if calls == 1 else '{"value": [{"ContactKey": "C1"}]}'
        return web.Response(text=body, content_type="application/json")

    async with (
        loopback(answer) as server,
        ka.KarbonClient(
            bearer_token="t",
            access_key="k",
            base_url=server.base_url,
            retry=ka.RetryPolicy(max_attempts=3, base_delay=0.001, max_delay=0.002),
        ) as client,
    ):
        texts = await client.contacts.list().json().to_list()
    assert texts == [b'{"ContactKey": "C1"}']
    assert calls == 2


async def test_a_pretty_printed_page_is_exported_one_record_per_line(tmp_path: Path) -> None:
    body = '{\n  "value": [\n    {\n      "ContactKey": "C1",\n      "Fee": 10.50\n    }\n  ]\n}'

    async def answer(request: web.Request) -> web.Response:
        return web.Response(text=body, content_type="application/json")

    async with loopback(answer) as server:
        exporter = Exporter(
            [Account("a", "token", "key", server.base_url, ka.RateLimit(10, 1.0))],
            ["contacts"],
            out=tmp_path,
        )
        assert (await exporter.run()).ok
    lines = (tmp_path / "a" / "contacts.jsonl").read_text().splitlines()
    assert len(lines) == 1
    assert "10.50" in lines[0]
    assert json.loads(lines[0]) == {"ContactKey": "C1", "Fee": 10.5}
