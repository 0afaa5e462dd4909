"""The compiled per-model decoders give what the converter's hooks give, and the raw list path."""

from __future__ import annotations

import datetime as dt
import json
import types
from decimal import Decimal
from typing import Any, Union, get_args, get_origin

import attrs
import pytest
from _loopback import loopback
from aiohttp import web
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import karbon_async as ka
from karbon_async import models as m
from karbon_async._converter import (
    _converter,
    _decoder,
    _parse_datetime_text,
    api_name,
    parse_datetime,
    structure,
    structure_items,
    unstructure,
)
from karbon_async._exceptions import ModelDecodeError
from karbon_async._model_base import KarbonEnum, KarbonModel, Unset


def _models() -> list[type[KarbonModel]]:
    found = {
        value
        for value in vars(m).values()
        if isinstance(value, type) and issubclass(value, KarbonModel) and attrs.has(value)
    }
    for cls in found:
        attrs.resolve_types(cls)  # the strategies below read the field types
    return sorted(found, key=lambda cls: cls.__name__)


MODELS = _models()
JUNK = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(-5, 5),
    st.sampled_from([2.0, 2.5, Decimal("1.25"), Decimal("NaN"), float("inf")]),
    st.sampled_from(["", "x", "None", "2024-05-06T07:08:09.1234567Z", "In Progress", "12"]),
    st.lists(st.integers(0, 3), max_size=2),
    st.dictionaries(st.sampled_from(["A", "b"]), st.integers(0, 3), max_size=2),
)


def _arguments(tp: Any) -> tuple[Any, ...]:
    if get_origin(tp) in (Union, types.UnionType):
        return tuple(arg for arg in get_args(tp) if arg is not Unset)
    return (tp,)


def valid(tp: Any, depth: int) -> st.SearchStrategy[Any]:
    """JSON the spec allows for ``tp`` (dates in the API's several forms, enum spellings)."""
    choices = []
    for arg in _arguments(tp):
        if arg is type(None):
            choices.append(st.none())
        elif arg is str:
            choices.append(st.text(max_size=4))
        elif arg is bool:
            choices.append(st.booleans())
        elif arg is int:
            choices.append(st.integers(-(10**12), 10**12))
        elif arg is Decimal:
            choices.append(st.decimals(allow_nan=False, allow_infinity=False, places=2))
        elif arg is dt.datetime:
            choices.append(datetime_texts())
        elif arg is dt.date:
            choices.append(st.dates().map(dt.date.isoformat))
        elif isinstance(arg, type) and issubclass(arg, KarbonEnum):
            values = [member.value for member in arg]
            spelled = [text for member in arg for text in member.spellings]
            choices.append(st.sampled_from([*values, *spelled, "SomethingNew", "in progress"]))
        elif isinstance(arg, type) and issubclass(arg, KarbonModel):
            choices.append(document(arg, depth + 1))
        elif get_origin(arg) is list:
            (item,) = get_args(arg)
            choices.append(st.lists(valid(item, depth + 1), max_size=2))
        else:
            choices.append(st.just({"any": [1, None]}))
    return st.one_of(choices)


def document(
    cls: type[KarbonModel], depth: int = 0, junk: bool = False
) -> st.SearchStrategy[dict[str, Any]]:
    """A JSON object for ``cls``: any subset of its keys or all of them, sometimes in another
    case, plus unknown keys; with ``junk``, any field may hold a value of the wrong type."""
    fields = [field for field in attrs.fields(cls) if field.name != "extra"]
    required = {api_name(f): valid(f.type, depth) for f in fields if f.default is attrs.NOTHING}
    optional = {
        api_name(f): (st.one_of(valid(f.type, depth), JUNK) if junk else valid(f.type, depth))
        for f in fields
        if f.default is not attrs.NOTHING and depth < 3  # deeper: required keys only
    }
    unknown = st.dictionaries(st.sampled_from(["Unknown", "@odata.etag", "zz"]), JUNK, max_size=2)
    fold = st.sampled_from([str, str.lower, str.upper]) if junk else st.just(str)
    keys = st.one_of(
        st.fixed_dictionaries(required, optional=optional),
        st.fixed_dictionaries({**required, **optional}),  # every key: read by subscript
    )
    return st.tuples(keys, unknown, fold).map(
        lambda parts: {**{parts[2](k): v for k, v in parts[0].items()}, **parts[1]}
    )


def datetime_texts() -> st.SearchStrategy[str]:
    moments = st.datetimes(
        min_value=dt.datetime(1900, 1, 1),
        timezones=st.sampled_from([None, dt.timezone.utc, dt.timezone(dt.timedelta(hours=-5))]),
    )
    return st.one_of(
        st.tuples(moments, st.sampled_from(["auto", "seconds", "microseconds"])).map(
            lambda pair: pair[0].isoformat(timespec=pair[1])
        ),
        moments.map(lambda moment: moment.isoformat(timespec="microseconds") + "7"),
        moments.map(lambda moment: moment.replace(tzinfo=None).isoformat() + "Z"),
        moments.map(lambda moment: moment.date().isoformat()),
    )


def both(cls: type[KarbonModel], doc: dict[str, Any]) -> tuple[Any, Any]:
    """(compiled decoder's result, converter's result); an exception stands for a failure."""
    decode = _decoder(cls)
    assert decode is not None
    results = []
    for run in (decode, lambda data: _converter.structure(data, cls)):
        try:
            results.append(run(doc))
        except Exception as exc:  # both paths' failures are compared, not their types
            results.append(exc)
    return results[0], results[1]


@settings(max_examples=300, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.data())
def test_a_well_typed_document_never_needs_the_converter(data: st.DataObject) -> None:
    cls = data.draw(st.sampled_from(MODELS))
    doc = data.draw(document(cls))
    fast, reference = both(cls, doc)
    if isinstance(reference, Exception):  # a documented limit (validator) refused it
        assert isinstance(fast, Exception)
        return
    assert not isinstance(fast, Exception), f"{cls.__name__} fell back on {doc!r}: {fast!r}"
    assert fast == reference
    assert unstructure(fast) == unstructure(reference)


@settings(max_examples=400, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.data())
def test_compiled_decoder_succeeds_only_as_the_converter_does(data: st.DataObject) -> None:
    cls = data.draw(st.sampled_from(MODELS))
    doc = data.draw(document(cls, junk=True))
    fast, reference = both(cls, doc)
    if not isinstance(fast, Exception):
        assert type(fast) is type(reference)
        assert fast == reference
        assert unstructure(fast) == unstructure(reference)
    # Whatever the fast path refused, structure() answers as the converter does.
    if isinstance(reference, Exception):
        with pytest.raises(ModelDecodeError):
            structure(doc, cls)
    else:
        assert structure(doc, cls) == reference


def test_a_record_with_the_models_key_count_but_an_unknown_key_keeps_it_in_extra() -> None:
    every = {api_name(f): None for f in attrs.fields(m.ContactSummary) if f.name != "extra"}
    every["ContactKey"] = "c1"
    complete = structure(every, m.ContactSummary)
    assert complete.contact_key == "c1"
    assert complete.extra == {}
    swapped = {k: v for k, v in every.items() if k != "FullName"} | {"Nickname": "Jo"}
    assert len(swapped) == len(every)  # same count: the subscripts find a key missing
    decoded = structure(swapped, m.ContactSummary)
    assert decoded.full_name is None
    assert decoded.extra == {"Nickname": "Jo"}
    assert unstructure(decoded)["Nickname"] == "Jo"
    respelled = {k.lower(): v for k, v in every.items()}
    assert structure(respelled, m.ContactSummary) == complete


def test_a_model_field_is_decoded_inline_with_its_enum_aliases() -> None:
    work = structure(
        {
            "WorkItemKey": "w1",
            "PrimaryStatus": "In Progress",
            "StartDate": "2024-05-06T07:08:09.1234567Z",
            "EstimatedBudget": Decimal("12.50"),
            "Later": [1],
        },
        m.WorkItemSummary,
    )
    assert work.primary_status == m.PrimaryStatus.IN_PROGRESS
    assert unstructure(work)["PrimaryStatus"] == "In Progress"
    assert work.start_date == dt.datetime(2024, 5, 6, 7, 8, 9, 123456, tzinfo=dt.timezone.utc)
    assert work.extra == {"Later": [1]}


@given(
    st.one_of(
        datetime_texts(),
        datetime_texts().map(lambda text: f" {text} "),
        datetime_texts().map(lambda text: text.replace("T", " ").replace("Z", "z")),
        st.text(alphabet="0123456789-:T.Z+ zW,", max_size=32),
    )
)
def test_parse_datetime_agrees_with_the_long_way(text: str) -> None:
    try:
        expected = _parse_datetime_text(text)
    except ValueError:
        with pytest.raises(ValueError):
            parse_datetime(text)
        return
    if expected.tzinfo is None:
        expected = expected.replace(tzinfo=dt.timezone.utc)
    parsed = parse_datetime(text)
    assert parsed == expected
    assert parsed.utcoffset() == expected.utcoffset()


def test_structure_items_names_the_failing_item() -> None:
    items: list[Any] = [{"ContactKey": "a"}, {"ContactKey": None}]
    with pytest.raises(ModelDecodeError, match=r"ContactSummary\.ContactKey"):
        structure_items(items, m.ContactSummary)
    with pytest.raises(ModelDecodeError, match=r"\[1\]: expected a JSON object, got list"):
        structure_items([{"A": 1}, [1]], dict)


# The raw path: the same requests, pages, limits and retries as the typed one.

PAGES = [
    [
        {
            "ContactKey": f"c{page}{index}",
            "FullName": None,
            "LastModifiedDateTime": "2024-05-06T07:08:09.1234567Z",
            "Brand new": {"kept": [1, 2.50]},
        }
        for index in range(3)
    ]
    for page in range(3)
]


@pytest.mark.parametrize("max_items", [None, 4])
async def test_raw_list_yields_the_objects_as_sent(max_items: int | None) -> None:
    failures = {"1": 1}  # the second page answers 503 once: the raw path retries it too

    async def handler(request: web.Request) -> web.Response:
        page = request.query.get("page", "0")
        if failures.get(page):
            failures[page] -= 1
            return web.json_response({"error": "busy"}, status=503)
        number = int(page)
        body: dict[str, Any] = {"value": PAGES[number]}
        if number + 1 < len(PAGES):
            body["@odata.nextLink"] = f"{base}/v3/Contacts?page={number + 1}"
        return web.Response(text=json.dumps(body), content_type="application/json")

    async with loopback(handler) as server:
        base = server.base_url
        async with ka.KarbonClient(
            bearer_token="t",
            access_key="k",
            base_url=base,
            retry=ka.RetryPolicy(max_attempts=3, base_delay=0.01, max_delay=0.01),
        ) as karbon:
            paginator = karbon.contacts.list(max_items=max_items, page_size=3)
            raw = [item async for item in paginator.raw()]
            typed = [item async for item in paginator]

    sent = [item for page in PAGES for item in page]
    if max_items is not None:
        sent = sent[:max_items]
    # Decimals as the client parses every body; otherwise exactly the JSON sent.
    assert raw == json.loads(json.dumps(sent), parse_float=Decimal)
    assert all(type(item) is dict for item in raw)
    assert [contact.contact_key for contact in typed] == [item["ContactKey"] for item in raw]
    assert typed[0].extra == {"Brand new": {"kept": [1, Decimal("2.50")]}}
    # Page 2: the raw run's 503 and its retry, then the typed run's one request.
    assert len([path for path in server.paths if "page=1" in path]) == 3


async def test_raw_pages_keep_links_and_counts() -> None:
    async def handler(request: web.Request) -> web.Response:
        return web.json_response({"value": [{"ContactKey": "k", "X": 1}], "@odata.count": 1})

    async with (
        loopback(handler) as server,
        ka.KarbonClient(bearer_token="t", access_key="k", base_url=server.base_url) as karbon,
    ):
        pages = [page async for page in karbon.contacts.list(count=True).raw().pages()]
    assert [(page.items, page.next_link, page.count) for page in pages] == [
        ([{"ContactKey": "k", "X": 1}], None, 1)
    ]


def test_the_decoder_compiler_stands_alone() -> None:
    """The compiler takes its rules from the converter as arguments: it imports nothing of the
    package but the model base, so there is no import circle between the two."""
    import ast
    import inspect

    from karbon_async import _decoder_compiler

    tree = ast.parse(inspect.getsource(_decoder_compiler))
    ours = {
        node.module
        for node in ast.walk(tree)
        if isinstance(node, ast.ImportFrom) and node.level > 0
    }
    assert ours == {"_model_base"}
