"""The converter (``_converter.py``) on its own: each parser, the hooks of a converter made
afresh, unknown and respelled keys, omitted versus null, the wording and paths of a misfit, and
the nulls dropped from a record written back.

The models here are made anew for each test (``fresh()``): the converter keeps per-class caches
(JSON keys, request slots, compiled decoders, cattrs hooks), and a class no test has used yet
makes each test reach the code that fills them. Their annotations are evaluated (this file does
not use ``from __future__ import annotations``), so classes local to a function resolve.
"""

import datetime as dt
import re
import types
from decimal import Decimal
from fractions import Fraction
from typing import Any, Union

import attrs
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from karbon_async import _converter as conv
from karbon_async import models as m
from karbon_async._converter import (
    _failures,
    _finite_decimal,
    _keys,
    _make_converter,
    _parse_datetime_text,
    _slots,
    _split_unknown,
    _splitter,
    _structure_enum,
    api_name,
    decode_each,
    format_datetime,
    parse_bool,
    parse_date,
    parse_datetime,
    parse_datetime_or_none,
    parse_decimal,
    parse_int,
    parse_str,
    structure,
    structure_items,
    unstructure,
    without_nulls,
)
from karbon_async._exceptions import ModelDecodeError
from karbon_async._model_base import UNSET, KarbonEnum, KarbonModel, Unset, api_field

UTC = dt.timezone.utc
NO_DEADLINE = settings(deadline=None)  # a slow example on a loaded machine is no failure
PLUS_0530 = dt.timezone(dt.timedelta(hours=5, minutes=30))


def fresh() -> types.SimpleNamespace:
    """New model and enum classes, never seen by the converter's caches."""

    class Colour(KarbonEnum):
        RED = "Red"
        DARK_BLUE = "Dark Blue"

    @attrs.frozen(kw_only=True)
    class Inner(KarbonModel):
        inner_key: str
        amount: Decimal | None = None
        tags: list[str | None] | None = None

    @attrs.frozen(kw_only=True)
    class Record(KarbonModel):
        record_key: str
        name: str | None = None
        count: int | None = None
        active: bool | None = None
        when: dt.datetime | None = None
        day: dt.date | None = None
        price: Decimal | None = None
        colour: Colour | None = None
        inner: Inner | None = None
        inners: list[Inner] | None = None
        maybe_inners: list[Inner | None] | None = None
        labels: list[str] | None = None
        odata_type: str | None = api_field("@odata.type", default=None)

    @attrs.frozen(kw_only=True)
    class Body(KarbonModel):
        """A request model: UNSET fields are left out."""

        title: str
        note: str | Unset | None = UNSET
        size: int | Unset = UNSET
        inner: Inner | Unset | None = UNSET
        inners: list[Inner] | Unset = UNSET

    return types.SimpleNamespace(Colour=Colour, Inner=Inner, Record=Record, Body=Body)


def full_document() -> dict[str, Any]:
    """A Record's JSON with every field set, in the forms the API sends."""
    return {
        "RecordKey": "R1",
        "Name": "Ada",
        "Count": 3,
        "Active": True,
        "When": "2024-05-06T07:08:09.1234567Z",
        "Day": "2024-05-06",
        "Price": Decimal("12.50"),
        "Colour": "Dark Blue",
        "Inner": {"InnerKey": "I1", "Amount": 5, "Tags": ["a", None]},
        "Inners": [{"InnerKey": "I2"}, {"InnerKey": "I3", "Amount": "1.5"}],
        "MaybeInners": [None, {"InnerKey": "I4"}],
        "Labels": ["x", "y"],
        "@odata.type": "#Record",
    }


def check_full_record(record: Any, ns: types.SimpleNamespace) -> None:
    assert record == ns.Record(
        record_key="R1",
        name="Ada",
        count=3,
        active=True,
        when=dt.datetime(2024, 5, 6, 7, 8, 9, 123456, tzinfo=UTC),
        day=dt.date(2024, 5, 6),
        price=Decimal("12.50"),
        colour=ns.Colour.DARK_BLUE,
        inner=ns.Inner(inner_key="I1", amount=Decimal(5), tags=["a", None]),
        inners=[ns.Inner(inner_key="I2"), ns.Inner(inner_key="I3", amount=Decimal("1.5"))],
        maybe_inners=[None, ns.Inner(inner_key="I4")],
        labels=["x", "y"],
        odata_type="#Record",
    )
    assert record.colour is ns.Colour.DARK_BLUE
    assert type(record.day) is dt.date
    assert record.extra == {}


# --- api_name -------------------------------------------------------------------------------


def test_api_name_is_pascal_case_unless_given() -> None:
    @attrs.define
    class Names:
        fee_value: int
        x: int
        a__b_c: int
        already_Capital: int
        odata: int = api_field("@odata.context")
        plain: int = attrs.field(metadata={"other": "kept"})

    assert [api_name(field) for field in attrs.fields(Names)] == [
        "FeeValue",
        "X",
        "ABC",
        "AlreadyCapital",
        "@odata.context",
        "Plain",
    ]


# --- datetimes ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("2022-07-05T07:30:13.7188114Z", dt.datetime(2022, 7, 5, 7, 30, 13, 718811, tzinfo=UTC)),
        ("2022-07-05T07:30:13Z", dt.datetime(2022, 7, 5, 7, 30, 13, tzinfo=UTC)),
        ("2022-07-05T07:30:13", dt.datetime(2022, 7, 5, 7, 30, 13, tzinfo=UTC)),  # no zone: UTC
        (
            "2022-07-05T07:30:13.5+05:30",
            dt.datetime(2022, 7, 5, 7, 30, 13, 500000, tzinfo=PLUS_0530),
        ),
        ("2022-07-05", dt.datetime(2022, 7, 5, tzinfo=UTC)),  # a date alone: midnight UTC
        ("2022-07-05Z", dt.datetime(2022, 7, 5, tzinfo=UTC)),
        (" 2022-07-05 ", dt.datetime(2022, 7, 5, tzinfo=UTC)),
        ("2022-07-05T07:30:13.7188114z", dt.datetime(2022, 7, 5, 7, 30, 13, 718811, tzinfo=UTC)),
        (" 2022-07-05T07:30:13Z ", dt.datetime(2022, 7, 5, 7, 30, 13, tzinfo=UTC)),
    ],
)
def test_parse_datetime_reads_the_api_forms(text: str, expected: dt.datetime) -> None:
    parsed = parse_datetime(text)
    assert parsed == expected
    assert parsed.utcoffset() == expected.utcoffset()
    assert parse_datetime_or_none(text) == expected


def test_parse_datetime_takes_a_datetime_and_refuses_other_values() -> None:
    aware = dt.datetime(2024, 1, 2, 3, 4, 5, tzinfo=PLUS_0530)
    assert parse_datetime(aware) is aware
    naive = dt.datetime(2024, 1, 2, 3, 4, 5)
    assert parse_datetime(naive) == naive.replace(tzinfo=UTC)
    assert parse_datetime(naive).tzinfo is UTC
    for bad in (5, None, 1.5, dt.date(2024, 1, 2), ["2024-01-02"]):
        with pytest.raises(ValueError, match=re.escape(f"not a datetime: {bad!r}")):
            parse_datetime(bad)
    for text in ("", "x", "2024-13-01", "2024-01-02T25:00:00Z", "yesterday at noon"):
        with pytest.raises(ValueError):
            parse_datetime(text)


def test_parse_datetime_or_none_is_none_for_anything_unreadable() -> None:
    for value in (None, 5, dt.datetime(2024, 1, 2, tzinfo=UTC), "", "soon", "2024-02-30"):
        assert parse_datetime_or_none(value) is None
    assert parse_datetime_or_none("2024-02-03T04:05:06Z") == dt.datetime(
        2024, 2, 3, 4, 5, 6, tzinfo=UTC
    )


_PY310_ISO = re.compile(
    r"\d{4}-\d{2}-\d{2}(.\d{2}(:\d{2}(:\d{2}(\.\d{3}(\d{3})?)?)?)?"
    r"([+-]\d{2}:\d{2}(:\d{2}(\.\d{6})?)?)?)?"
)


def _fromisoformat_310(text: str) -> dt.datetime:
    """``datetime.fromisoformat`` as Python 3.10 has it: no "Z", 3 or 6 fractional digits."""
    if not isinstance(text, str):
        raise TypeError("fromisoformat: argument must be str")
    if not _PY310_ISO.fullmatch(text):
        raise ValueError(f"Invalid isoformat string: {text!r}")
    return dt.datetime.fromisoformat(text)


class _Datetime310(dt.datetime):
    fromisoformat = staticmethod(_fromisoformat_310)  # type: ignore[assignment]


@pytest.fixture
def python_310_parser(monkeypatch: pytest.MonkeyPatch) -> None:
    """The converter's parsers as they run on Python 3.10, whose ``fromisoformat`` refuses
    "Z" and 7 fractional digits: the long way must turn the API's forms into what it reads."""
    fake = types.SimpleNamespace(
        datetime=_Datetime310, date=dt.date, time=dt.time, timezone=dt.timezone
    )
    monkeypatch.setattr(conv, "dt", fake)
    monkeypatch.setattr(conv, "_fromisoformat", _fromisoformat_310)


@pytest.mark.usefixtures("python_310_parser")
@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("2022-07-05T07:30:13.7188114Z", dt.datetime(2022, 7, 5, 7, 30, 13, 718811, tzinfo=UTC)),
        ("2022-07-05T07:30:13.7188114z", dt.datetime(2022, 7, 5, 7, 30, 13, 718811, tzinfo=UTC)),
        ("2022-07-05T07:30:13Z", dt.datetime(2022, 7, 5, 7, 30, 13, tzinfo=UTC)),
        ("2022-07-05T07:30:13.123456789+05:30", dt.datetime(2022, 7, 5, 7, 30, 13, 123456)),
        ("2022-07-05T07:30:13.123", dt.datetime(2022, 7, 5, 7, 30, 13, 123000)),
        (" 2022-07-05 ", dt.datetime(2022, 7, 5)),
    ],
)
def test_the_long_way_gives_python_310_what_it_reads(text: str, expected: dt.datetime) -> None:
    parsed = _parse_datetime_text(text)
    if "+05:30" in text:
        expected = expected.replace(tzinfo=PLUS_0530)
    assert parsed == expected
    assert parsed.tzinfo == expected.tzinfo
    assert parse_datetime(text) == (
        expected if expected.tzinfo is not None else expected.replace(tzinfo=UTC)
    )


def test_the_long_way_alone() -> None:
    assert _parse_datetime_text(" 2022-07-05 ") == dt.datetime(2022, 7, 5)  # zone-less here
    assert _parse_datetime_text("2022-07-05").tzinfo is None
    assert _parse_datetime_text("2022-07-05T01:02:03.1234567Z") == dt.datetime(
        2022, 7, 5, 1, 2, 3, 123456, tzinfo=UTC
    )
    assert _parse_datetime_text("2022-07-05T01:02:03z").tzinfo == UTC
    assert _parse_datetime_text(" 2022-07-05Z ") == dt.datetime(2022, 7, 5)  # 11 characters
    with pytest.raises(ValueError):
        _parse_datetime_text("2022-07-5")  # 9 characters: not a date


@pytest.mark.parametrize(
    ("value", "text"),
    [
        (dt.datetime(2024, 5, 6, 7, 8, 9, tzinfo=UTC), "2024-05-06T07:08:09Z"),
        (dt.datetime(2024, 5, 6, 7, 8, 9), "2024-05-06T07:08:09Z"),  # naive: taken as UTC
        (dt.datetime(2024, 5, 6, 7, 8, 9, 120000, tzinfo=UTC), "2024-05-06T07:08:09.120000Z"),
        (dt.datetime(2024, 5, 6, 7, 8, 9, tzinfo=PLUS_0530), "2024-05-06T07:08:09+05:30"),
        (
            dt.datetime(2024, 5, 6, tzinfo=dt.timezone(dt.timedelta(hours=-5))),
            "2024-05-06T00:00:00-05:00",
        ),
    ],
)
def test_format_datetime(value: dt.datetime, text: str) -> None:
    assert format_datetime(value) == text


_MOMENTS = st.datetimes(
    min_value=dt.datetime(1900, 1, 1),
    max_value=dt.datetime(2200, 1, 1),
    timezones=st.sampled_from([UTC, PLUS_0530, dt.timezone(dt.timedelta(hours=-11))]),
)


@NO_DEADLINE
@given(_MOMENTS)
def test_format_then_parse_is_the_same_instant_and_offset(moment: dt.datetime) -> None:
    text = format_datetime(moment)
    assert text.endswith("Z") == (moment.utcoffset() == dt.timedelta(0))
    back = parse_datetime(text)
    assert back == moment
    assert back.utcoffset() == moment.utcoffset()
    assert _parse_datetime_text(text) == moment


@NO_DEADLINE
@given(_MOMENTS, st.integers(0, 9))
def test_a_seventh_fractional_digit_is_cut_both_ways(moment: dt.datetime, digit: int) -> None:
    text = moment.replace(tzinfo=None).isoformat(timespec="microseconds") + f"{digit}Z"
    expected = moment.replace(tzinfo=UTC)
    assert parse_datetime(text) == expected
    assert _parse_datetime_text(text) == expected
    assert parse_datetime(text.replace("Z", "z")) == expected


# --- the other scalars ----------------------------------------------------------------------


def test_parse_date() -> None:
    moment = dt.datetime(2024, 5, 6, 23, 59, tzinfo=PLUS_0530)
    assert parse_date(moment) == dt.date(2024, 5, 6)
    assert type(parse_date(moment)) is dt.date
    day = dt.date(2024, 5, 6)
    assert parse_date(day) is day
    assert parse_date("2024-05-06") == day
    assert parse_date(" 2024-05-06T23:00:00Z") == day
    assert type(parse_date("2024-05-06")) is dt.date
    for bad in (5, None, ["2024-05-06"]):
        with pytest.raises(ValueError, match=re.escape(f"not a date: {bad!r}")):
            parse_date(bad)
    with pytest.raises(ValueError):
        parse_date("06/05/2024")


def test_parse_decimal() -> None:
    exact = Decimal("1.10")
    assert parse_decimal(exact) is exact
    assert parse_decimal(5) == Decimal(5)
    assert parse_decimal(0.1) == Decimal("0.1")  # the float's shortest text, not its binary
    assert str(parse_decimal(" 1.50 ")) == "1.50"
    assert str(parse_decimal("-3")) == "-3"
    # Not a JSON number or string, even where its text would read as one.
    for bad in (True, None, [1], {"a": 1}, Fraction(2), b"2"):
        with pytest.raises(ValueError, match=re.escape(f"not a number: {bad!r}")):
            parse_decimal(bad)
    with pytest.raises(ValueError, match=re.escape("not a number: 'abc'")) as caught:
        parse_decimal("abc")
    assert caught.value.__suppress_context__
    for bad in ("NaN", "-Infinity", float("inf"), Decimal("sNaN"), Decimal("Infinity")):
        with pytest.raises(ValueError, match=re.escape(f"not a finite number: {bad!r}")):
            parse_decimal(bad)


@NO_DEADLINE
@given(st.decimals(allow_nan=False, allow_infinity=False))
def test_parse_decimal_keeps_every_finite_decimal(number: Decimal) -> None:
    assert parse_decimal(number) is number
    assert str(parse_decimal(str(number))) == str(number)


def test_parse_str_and_bool_are_strict() -> None:
    assert parse_str("") == ""
    assert parse_str("x") == "x"
    for bad in (5, None, True, b"x"):
        with pytest.raises(ValueError, match=re.escape(f"not a string: {bad!r}")):
            parse_str(bad)
    assert parse_bool(True) is True
    assert parse_bool(False) is False
    for bad in (1, 0, "true", None):
        with pytest.raises(ValueError, match=re.escape(f"not a boolean: {bad!r}")):
            parse_bool(bad)


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (12, 12),
        (-3, -3),
        (2.0, 2),
        (Decimal("3.00"), 3),
        ("12", 12),
        (" +7 ", 7),
        ("-4.0", -4),
        ("5.", 5),
        ("0", 0),
    ],
)
def test_parse_int_takes_whole_numbers(value: object, expected: int) -> None:
    parsed = parse_int(value)
    assert parsed == expected
    assert type(parsed) is int


@pytest.mark.parametrize(
    "value",
    [
        *(True, False, 2.5, Decimal("2.5"), float("inf"), float("nan"), Decimal("NaN")),
        *("4.5", "1e3", "", "x", " ", "0x10", None, [1]),
    ],
)
def test_parse_int_refuses_anything_else(value: object) -> None:
    with pytest.raises(ValueError, match=re.escape(f"not an integer: {value!r}")):
        parse_int(value)


@NO_DEADLINE
@given(st.integers(-(10**25), 10**25))
def test_parse_int_reads_every_integer_written_as_a_string(number: int) -> None:
    assert parse_int(str(number)) == number
    assert parse_int(f"{number}.000") == number
    assert parse_int(float(number)) == int(float(number))


def test_enum_values_decode_known_respelled_and_new() -> None:
    ns = fresh()
    assert _structure_enum("Red", ns.Colour) is ns.Colour.RED
    respelled = _structure_enum("dark_blue", ns.Colour)
    assert respelled == ns.Colour.DARK_BLUE
    assert respelled.value == "dark_blue"
    new = _structure_enum("Green", ns.Colour)
    assert not new.is_known
    assert new.value == "Green"
    for bad in (3, None, ["Red"]):
        with pytest.raises(ValueError, match=re.escape(f"not a string: {bad!r}")):
            _structure_enum(bad, ns.Colour)


def test_finite_decimal() -> None:
    number = Decimal("2.5")
    assert _finite_decimal(number) is number
    for bad in ("NaN", "Infinity", "-Infinity"):
        with pytest.raises(
            ValueError, match=re.escape(f"{bad} cannot be sent: JSON has no NaN or infinity")
        ):
            _finite_decimal(Decimal(bad))


# --- a converter made afresh: every hook it registers -----------------------------------------


def test_a_new_converter_decodes_and_encodes_scalars() -> None:
    converter = _make_converter()
    moment = converter.structure("2024-05-06T07:08:09", dt.datetime)
    assert moment == dt.datetime(2024, 5, 6, 7, 8, 9, tzinfo=UTC)
    assert converter.unstructure(moment) == "2024-05-06T07:08:09Z"
    assert converter.structure("2024-05-06T07:08:09Z", dt.date) == dt.date(2024, 5, 6)
    assert converter.unstructure(dt.date(2024, 5, 6)) == "2024-05-06"
    assert converter.structure("1.50", Decimal) == Decimal("1.50")
    number = Decimal("7.25")
    assert converter.unstructure(number) is number
    with pytest.raises(ValueError, match="cannot be sent"):
        converter.unstructure(Decimal("NaN"))
    with pytest.raises(ValueError, match="not a finite number"):
        converter.structure("NaN", Decimal)
    assert converter.structure("x", str) == "x"
    assert converter.structure("12", int) == 12
    assert converter.structure(True, bool) is True
    for value, tp, message in [
        (None, str, "not a string: None"),
        (5, str, "not a string: 5"),
        (True, int, "not an integer: True"),
        ("1.5", int, "not an integer: '1.5'"),
        (1, bool, "not a boolean: 1"),
        ("false", bool, "not a boolean: 'false'"),
        (5, dt.datetime, "not a datetime: 5"),
        (5, dt.date, "not a date: 5"),
        (None, Decimal, "not a number: None"),
    ]:
        with pytest.raises(ValueError, match=re.escape(message)):
            converter.structure(value, tp)


def test_a_new_converter_decodes_and_encodes_enums() -> None:
    ns = fresh()
    converter = _make_converter()
    assert converter.structure("Red", ns.Colour) is ns.Colour.RED
    alias = converter.structure("DARK BLUE", ns.Colour)
    assert alias == ns.Colour.DARK_BLUE
    assert converter.unstructure(alias) == "DARK BLUE"
    assert converter.unstructure(ns.Colour.RED) == "Red"
    assert type(converter.unstructure(ns.Colour.RED)) is str
    assert converter.unstructure(converter.structure("Teal", ns.Colour)) == "Teal"
    with pytest.raises(ValueError, match="not a string: 3"):
        converter.structure(3, ns.Colour)


def test_a_new_converter_keeps_unset_out_of_json() -> None:
    converter = _make_converter()
    assert converter.unstructure(UNSET) is UNSET
    assert converter.structure(UNSET, str | Unset) is UNSET
    assert converter.structure("a", str | Unset) == "a"
    assert converter.structure(None, str | None | Unset) is None
    assert converter.structure("b", Union[Unset, str, None]) == "b"  # noqa: UP007
    assert converter.structure("3", int | Unset) == 3
    with pytest.raises(ValueError, match="not a string: 5"):
        converter.structure(5, str | Unset)
    with pytest.raises(ValueError, match="not a string: 5"):
        converter.structure(5, str | None | Unset)
    with pytest.raises(ValueError, match="not a string: None"):
        converter.structure(None, str | Unset)


def test_a_new_converter_decodes_a_model() -> None:
    ns = fresh()
    converter = _make_converter()
    document = full_document()
    check_full_record(converter.structure(document, ns.Record), ns)
    assert document == full_document()  # not mutated
    with_extra = converter.structure(
        {"RecordKey": "R", "recordkey": "r", "NAME": "n", "New": [1]}, ns.Record
    )
    assert with_extra.record_key == "R"
    assert with_extra.name == "n"
    assert with_extra.extra == {"recordkey": "r", "New": [1]}
    for bad, kind in (([], "list"), ("R", "str"), (None, "NoneType")):
        with pytest.raises(ValueError, match=f"^Record expects a JSON object, got {kind}$"):
            converter.structure(bad, ns.Record)


def test_a_new_converter_encodes_a_model() -> None:
    ns = fresh()
    converter = _make_converter()
    record = converter.structure({**full_document(), "Later": {"x": None}}, ns.Record)
    assert converter.unstructure(record) == {
        **full_document(),
        "When": "2024-05-06T07:08:09.123456Z",
        "Inner": {"InnerKey": "I1", "Amount": Decimal(5), "Tags": ["a", None]},
        "Inners": [
            {"InnerKey": "I2", "Amount": None, "Tags": None},
            {"InnerKey": "I3", "Amount": Decimal("1.5"), "Tags": None},
        ],
        "MaybeInners": [None, {"InnerKey": "I4", "Amount": None, "Tags": None}],
        "Later": {"x": None},
    }
    body = ns.Body(title="T", note=None, inners=[ns.Inner(inner_key="k")], extra={"Title": "no"})
    assert converter.unstructure(body) == {
        "Title": "T",  # a known field wins over an extra key of the same name
        "Note": None,
        "Inners": [{"InnerKey": "k", "Amount": None, "Tags": None}],
    }
    assert converter.unstructure(ns.Body(title="T", size=0, extra={"X": 1})) == {
        "Title": "T",
        "Size": 0,
        "X": 1,
    }
    decoded = converter.structure({"Title": "T", "Size": "4", "Inner": None}, ns.Body)
    assert decoded == ns.Body(title="T", size=4, inner=None)
    assert decoded.note is UNSET


# --- keys: known, respelled, unknown ----------------------------------------------------------


def test_keys_of_a_model_are_found_once() -> None:
    ns = fresh()
    keys = _keys(ns.Inner)
    assert keys is _keys(ns.Inner)
    assert keys.known == frozenset({"InnerKey", "Amount", "Tags"})
    assert dict(keys.by_casefold) == {"innerkey": "InnerKey", "amount": "Amount", "tags": "Tags"}
    assert "@odata.type" in _keys(ns.Record).known


def test_split_unknown() -> None:
    ns = fresh()
    keys = _keys(ns.Inner)
    known = {"InnerKey": "k", "Amount": 1}
    data, extra = _split_unknown(known, keys)
    assert data is known
    assert extra == {}
    data, extra = _split_unknown({"InnerKey": "k", "New": 1, 7: "seven"}, keys)
    assert data == {"InnerKey": "k", "New": 1, 7: "seven"}
    assert extra == {"New": 1, 7: "seven"}
    data, extra = _split_unknown({"innerKEY": "k", "AMOUNT": 2, "Tags": [], "x": 0}, keys)
    assert data == {"InnerKey": "k", "Amount": 2, "Tags": [], "x": 0}
    assert list(data) == ["InnerKey", "Amount", "Tags", "x"]
    assert extra == {"x": 0}
    data, extra = _split_unknown({"innerkey": "a", "InnerKey": "b"}, keys)
    assert data == {"innerkey": "a", "InnerKey": "b"}  # the model's own spelling wins
    assert extra == {"innerkey": "a"}
    assert _splitter(ns.Inner)({"AMOUNT": 3, "Q": 1}) == ({"Amount": 3, "Q": 1}, {"Q": 1})


def test_unknown_and_respelled_keys_through_structure() -> None:
    ns = fresh()
    document = {"RecordKey": "R", "Name": "n", "Brand New": {"x": [1, None]}, 3: "three"}
    record = structure(document, ns.Record)
    assert record.name == "n"
    assert record.extra == {"Brand New": {"x": [1, None]}, 3: "three"}
    assert unstructure(record) == {
        **{api_name(field): None for field in attrs.fields(ns.Record) if field.name != "extra"},
        **document,
    }
    respelled = structure({"recordkey": "R", "innerS": [{"INNERKEY": "i"}]}, ns.Record)
    assert respelled.record_key == "R"
    assert respelled.inners == [ns.Inner(inner_key="i")]
    assert respelled.extra == {}
    both = structure({"RecordKey": "R", "recordkey": "r"}, ns.Record)
    assert both.record_key == "R"
    assert both.extra == {"recordkey": "r"}


# --- structure: the fast path, the converter, the wording of a misfit ---------------------------


def test_structure_decodes_every_field_shape() -> None:
    ns = fresh()
    document = full_document()
    check_full_record(structure(document, ns.Record), ns)
    assert document == full_document()
    nulls = {api_name(f): None for f in attrs.fields(ns.Record) if f.name != "extra"}
    record = structure({**nulls, "RecordKey": "K"}, ns.Record)
    assert record == ns.Record(record_key="K")
    assert structure({"RecordKey": "K"}, ns.Record) == record
    assert structure({"RecordKey": "K", "Colour": "Purple"}, ns.Record).colour == "Purple"
    assert not structure({"RecordKey": "K", "Colour": "Purple"}, ns.Record).colour.is_known


def test_structure_of_what_the_compiled_decoder_leaves_to_the_converter() -> None:
    ns = fresh()
    # A Mapping that is not a dict, and numbers written as strings: the converter's way.
    document = types.MappingProxyType({"RecordKey": "K", "Count": "7", "Price": "2.5"})
    record = structure(document, ns.Record)
    assert record == ns.Record(record_key="K", count=7, price=Decimal("2.5"))
    assert structure("2024-05-06", dt.date) == dt.date(2024, 5, 6)
    assert structure(["1", 2], list[int]) == [1, 2]
    assert structure(None, int | None) is None


def test_a_misfit_names_its_field_and_keeps_the_raw_json() -> None:
    ns = fresh()
    document = {"RecordKey": "K", "Inner": {"InnerKey": "i", "Amount": "lots"}}
    with pytest.raises(ModelDecodeError) as caught:
        structure(document, ns.Record)
    error = caught.value
    assert str(error) == "Record.Inner.Amount: not a number: 'lots'"
    assert error.path == "Record.Inner.Amount"
    assert error.reason == "not a number: 'lots'"
    assert error.raw is document
    assert error.__cause__ is not None
    assert not isinstance(error.__cause__, ModelDecodeError)


@pytest.mark.parametrize(
    ("document", "path", "reason"),
    [
        ({}, "Record.RecordKey", "required, but missing"),
        ({"RecordKey": None}, "Record.RecordKey", "not a string: None"),
        ({"RecordKey": "K", "Inners": [{"InnerKey": "a"}, {}]}, "Record.Inners[1].InnerKey", None),
        ({"RecordKey": "K", "Inners": [{"InnerKey": "a"}, 4]}, "Record.Inners[1]", None),
        (
            {"RecordKey": "K", "Inner": {"InnerKey": "i", "Tags": ["a", 5]}},
            "Record.Inner.Tags[1]",
            "not a string: 5",
        ),
        ({"RecordKey": "K", "When": "soon"}, "Record.When", None),
        ({"RecordKey": "K", "@odata.type": 1}, "Record.@odata.type", "not a string: 1"),
        ({"RecordKey": "K", "Colour": 1}, "Record.Colour", "not a string: 1"),
        ({"RecordKey": "K", "Active": "yes"}, "Record.Active", "not a boolean: 'yes'"),
        ({"RecordKey": "K", "Count": 1.5}, "Record.Count", "not an integer: 1.5"),
    ],
)
def test_misfit_paths(document: dict[str, Any], path: str, reason: str | None) -> None:
    ns = fresh()
    with pytest.raises(ModelDecodeError) as caught:
        structure(document, ns.Record)
    assert caught.value.path == path
    if reason is not None:
        assert caught.value.reason == reason
    assert str(caught.value).startswith(f"{path}: ")


def test_the_first_misfit_leads_and_up_to_three_more_are_named() -> None:
    ns = fresh()

    def message(document: dict[str, Any]) -> str:
        with pytest.raises(ModelDecodeError) as caught:
            structure(document, ns.Record)
        assert caught.value.path == "Record.RecordKey"
        return caught.value.reason

    assert message({"RecordKey": 1}) == "not a string: 1"
    assert message({"RecordKey": 1, "Name": 2}) == (
        "not a string: 1 (and 1 more: Record.Name: not a string: 2)"
    )
    assert message({"RecordKey": 1, "Name": 2, "Count": "x", "Active": 0}) == (
        "not a string: 1 (and 3 more: Record.Name: not a string: 2; "
        "Record.Count: not an integer: 'x'; Record.Active: not a boolean: 0)"
    )
    assert message({"RecordKey": 1, "Name": 2, "Count": "x", "Active": 0, "Day": 9}) == (
        "not a string: 1 (and 4 more: Record.Name: not a string: 2; "
        "Record.Count: not an integer: 'x'; Record.Active: not a boolean: 0, ...)"
    )


def test_a_misfit_of_a_type_that_is_not_a_model() -> None:
    with pytest.raises(ModelDecodeError) as caught:
        structure(["1", "x"], list[int])
    assert caught.value.path == "list[1]"
    assert caught.value.reason == "not an integer: 'x'"
    with pytest.raises(ModelDecodeError) as caught:
        structure("x", int | None)
    assert caught.value.path == "int | None"
    with pytest.raises(ModelDecodeError) as caught:
        structure(4, str)
    assert str(caught.value) == "str: not a string: 4"
    assert caught.value.raw == 4


def test_a_model_decode_error_from_a_hook_passes_through_unchanged() -> None:
    class Token:
        pass

    raised = ModelDecodeError("no token", path="Token.Inside")

    def refuse(value: object, _: object) -> Token:
        raise raised

    conv._converter.register_structure_hook(Token, refuse)
    with pytest.raises(ModelDecodeError) as caught:
        structure("t", Token)
    assert caught.value is raised


def test_failures_of_an_error_that_is_not_a_cattrs_tree() -> None:
    assert list(_failures(ValueError("bad"), "Here")) == [("Here", "bad")]
    assert list(_failures(KeyError("Key"), "Here.Key")) == [("Here.Key", "required, but missing")]


# --- decode_each and structure_items ----------------------------------------------------------


def test_decode_each_keeps_the_items_that_fit() -> None:
    ns = fresh()
    items: list[Any] = [{"RecordKey": "a"}, {"Name": "no key"}, 5, {"RecordKey": "d", "Count": 2}]
    decoded, failures = decode_each(items, ns.Record)
    assert decoded == [ns.Record(record_key="a"), ns.Record(record_key="d", count=2)]
    assert [index for index, _ in failures] == [1, 2]
    assert failures[0][1].path == "Record.RecordKey"
    assert failures[0][1].raw is items[1]
    assert str(failures[1][1]) == "Record: Record expects a JSON object, got int"
    fine = [{"RecordKey": "a"}, {"RecordKey": "b", "Other": 1}]
    decoded, failures = decode_each(fine, ns.Record)
    assert decoded == [ns.Record(record_key="a"), ns.Record(record_key="b", extra={"Other": 1})]
    assert failures == []
    assert decode_each([], ns.Record) == ([], [])
    # Not a model: each item through structure().
    ints, errors = decode_each(["1", "x", 3], int)
    assert ints == [1, 3]
    assert [index for index, _ in errors] == [1]
    assert errors[0][1].reason == "not an integer: 'x'"


def test_decode_each_as_dicts_keeps_the_items_as_they_came() -> None:
    items: list[Any] = [{"a": 1}, {"b": None}]
    kept, failures = decode_each(items, dict)
    assert kept is items
    assert failures == []
    mixed: list[Any] = [{"a": 1}, [1], None, types.MappingProxyType({"c": 3}), {"d": 4}]
    kept, failures = decode_each(mixed, dict)
    assert kept == [{"a": 1}, {"d": 4}]
    assert kept[0] is mixed[0]
    assert [index for index, _ in failures] == [1, 2, 3]
    first = failures[0][1]
    assert str(first) == ": expected a JSON object, got list"
    assert first.path == ""
    assert first.reason == "expected a JSON object, got list"
    assert first.raw is mixed[1]
    assert failures[1][1].reason == "expected a JSON object, got NoneType"
    assert failures[2][1].reason == "expected a JSON object, got mappingproxy"


def test_structure_items_raises_for_the_first_misfit_with_its_index() -> None:
    ns = fresh()
    good = [{"RecordKey": "a"}, {"RecordKey": "b"}]
    assert structure_items(good, ns.Record) == [
        ns.Record(record_key="a"),
        ns.Record(record_key="b"),
    ]
    items: list[Any] = [{"RecordKey": "a"}, {"RecordKey": "b"}, {"Name": "x"}, {"Name": "y"}]
    with pytest.raises(ModelDecodeError) as caught:
        structure_items(items, ns.Record)
    error = caught.value
    assert error.path == "[2].Record.RecordKey"
    assert error.reason == "required, but missing"
    assert error.raw is items[2]
    assert isinstance(error.__cause__, ModelDecodeError)
    assert error.__cause__.path == "Record.RecordKey"
    raw: list[Any] = [{"a": 1}, "x"]
    assert structure_items([{"a": 1}], dict) == [{"a": 1}]
    with pytest.raises(ModelDecodeError) as caught:
        structure_items(raw, dict)
    assert caught.value.path == "[1]"
    assert str(caught.value) == "[1]: expected a JSON object, got str"
    assert caught.value.raw == "x"


# --- unstructure: omitted versus null, unknown fields written back -----------------------------


def test_unstructure_leaves_out_unset_and_sends_null() -> None:
    ns = fresh()
    assert unstructure(ns.Body(title="T")) == {"Title": "T"}
    assert unstructure(ns.Body(title="T", note=None, inner=None)) == {
        "Title": "T",
        "Note": None,
        "Inner": None,
    }
    assert unstructure(ns.Body(title="T", inner=ns.Inner(inner_key="i"), inners=[])) == {
        "Title": "T",
        "Inner": {"InnerKey": "i", "Amount": None, "Tags": None},
        "Inners": [],
    }
    assert unstructure(ns.Body(title="T", extra={"Later": None, "Title": "x"})) == {
        "Title": "T",
        "Later": None,
    }
    assert unstructure([ns.Colour.RED, dt.date(2024, 1, 2)]) == ["Red", "2024-01-02"]


_BODY_MODELS = fresh()


@NO_DEADLINE
@given(
    st.fixed_dictionaries(
        {"Title": st.text(max_size=5)},
        optional={
            "Note": st.none() | st.text(max_size=5),
            "Size": st.integers(-(10**12), 10**12),
            "Inner": st.none() | st.fixed_dictionaries({"InnerKey": st.text(max_size=3)}),
        },
    ),
    st.dictionaries(st.sampled_from(["Zz", "@odata.etag", "new key"]), st.integers(), max_size=2),
)
def test_a_request_model_round_trips_what_was_set(
    known: dict[str, Any], unknown: dict[str, Any]
) -> None:
    ns = _BODY_MODELS
    document = {**known, **unknown}
    decoded = structure(document, ns.Body)
    assert decoded.extra == unknown
    encoded = unstructure(decoded)
    if isinstance(known.get("Inner"), dict):
        known = {**known, "Inner": {**known["Inner"], "Amount": None, "Tags": None}}
    assert encoded == {**known, **unknown}


# --- without_nulls and the request slots -------------------------------------------------------


def test_slots_describe_each_field_once() -> None:
    ns = fresh()
    slots = _slots(ns.Record)
    assert _slots(ns.Record) is slots
    by_name = {slot.name: slot for slot in slots}
    assert "extra" not in by_name
    assert len(slots) == len(attrs.fields(ns.Record)) - 1
    assert by_name["odata_type"].key == "@odata.type"
    assert by_name["inner"].model is ns.Inner
    assert by_name["inner"].items_nullable is False
    assert by_name["inners"].model is ns.Inner
    assert by_name["inners"].items_nullable is False
    assert by_name["maybe_inners"].model is ns.Inner
    assert by_name["maybe_inners"].items_nullable is True
    assert by_name["labels"].model is None
    assert by_name["labels"].items_nullable is False
    assert by_name["name"].model is None
    assert by_name["name"].type == str | None
    inner = {slot.name: slot for slot in _slots(ns.Inner)}
    assert inner["tags"].model is None
    assert inner["tags"].items_nullable is True  # list[str | None]: a null item is kept
    assert inner["inner_key"].key == "InnerKey"
    assert inner["inner_key"].type is str
    body = {slot.name: slot for slot in _slots(ns.Body)}
    assert body["inners"].model is ns.Inner
    assert body["inners"].items_nullable is False


def test_without_nulls_drops_the_nulls_of_known_fields_at_any_depth() -> None:
    ns = fresh()
    document = {
        "RecordKey": "K",
        "Name": None,
        "Later": None,
        "Inner": {"InnerKey": None, "Amount": 1, "Tags": [None, "a"], "Odd": None},
        "Inners": [None, {"InnerKey": "i", "Amount": None}],
        "MaybeInners": [None, {"InnerKey": None}],
        "Labels": [None, "b"],
        "@odata.type": None,
    }
    assert without_nulls(document, ns.Record) == {
        "RecordKey": "K",
        "Later": None,
        "Inner": {"Amount": 1, "Tags": [None, "a"], "Odd": None},
        "Inners": [{"InnerKey": "i"}],
        "MaybeInners": [None, {}],
        "Labels": [None, "b"],  # a list of plain values is kept as it is
    }
    assert list(without_nulls(document, ns.Record)) == [
        "RecordKey",
        "Later",
        "Inner",
        "Inners",
        "MaybeInners",
        "Labels",
    ]
    odd = {"Inner": "not an object", "Inners": "not a list"}
    assert without_nulls(odd, ns.Record) == odd
    assert without_nulls([None], ns.Record) == [None]
    assert without_nulls({"Name": None}, dict) == {"Name": None}
    assert without_nulls(None, ns.Record) is None


def test_a_list_of_nulls_only_has_no_model() -> None:
    @attrs.frozen(kw_only=True)
    class Nothing(KarbonModel):
        nulls: list[type(None)] | None = None  # type: ignore[valid-type]  # NoneType items

    (slot,) = _slots(Nothing)
    assert slot.model is None
    assert slot.items_nullable is True
    assert without_nulls({"Nulls": [None, None]}, Nothing) == {"Nulls": [None, None]}


# --- the fast paths are taken (a slower path gives the same values) ----------------------------


class _Untouchable:
    """Stands for the converter where a test says it is never asked."""

    def structure(self, data: object, cls: object) -> object:
        raise AssertionError(f"the converter was asked for {cls!r}")


def test_a_record_that_fits_never_reaches_the_converter(monkeypatch: pytest.MonkeyPatch) -> None:
    ns = fresh()
    monkeypatch.setattr(conv, "_converter", _Untouchable())
    check_full_record(structure(full_document(), ns.Record), ns)
    assert structure({"RecordKey": "K", "New": 1}, ns.Record).extra == {"New": 1}
    decoded, failures = decode_each([full_document(), {"RecordKey": "K"}], ns.Record)
    check_full_record(decoded[0], ns)
    assert failures == []


def test_a_page_that_fits_is_decoded_in_one_pass(monkeypatch: pytest.MonkeyPatch) -> None:
    ns = fresh()

    def one_by_one(data: object, cls: object) -> object:
        raise AssertionError("decoded item by item")

    monkeypatch.setattr(conv, "structure", one_by_one)
    decoded, failures = decode_each([{"RecordKey": "a"}, {"RecordKey": "b", "X": 1}], ns.Record)
    assert decoded == [ns.Record(record_key="a"), ns.Record(record_key="b", extra={"X": 1})]
    assert failures == []


def test_the_common_datetime_is_read_by_the_c_parser(monkeypatch: pytest.MonkeyPatch) -> None:
    calls: list[str] = []

    def recording(text: str) -> dt.datetime:
        calls.append(text)
        return dt.datetime.fromisoformat(text)

    monkeypatch.setattr(conv, "_fromisoformat", recording)
    assert parse_datetime("2024-05-06T07:08:09Z") == dt.datetime(2024, 5, 6, 7, 8, 9, tzinfo=UTC)
    assert calls == ["2024-05-06T07:08:09Z"]
    assert parse_datetime(" 2024-05-06") == dt.datetime(2024, 5, 6, tzinfo=UTC)  # 11 characters
    assert calls[1:] == [" 2024-05-06"]  # refused, then read the long way
    assert parse_datetime("2024-05-06") == dt.datetime(2024, 5, 6, tzinfo=UTC)
    assert parse_datetime(dt.datetime(2024, 5, 6)) == dt.datetime(2024, 5, 6, tzinfo=UTC)
    assert calls[2:] == []  # a date alone and a datetime go straight the long way


# --- misfits that are not a field's ------------------------------------------------------------


def _short(_instance: object, _attribute: object, value: object) -> None:
    if isinstance(value, str) and len(value) > 3:
        raise ValueError(f"longer than 3 characters: {value!r}")


def test_a_misfit_the_model_itself_raises_names_the_model() -> None:
    @attrs.frozen(kw_only=True)
    class Coded(KarbonModel):
        code: str | None = attrs.field(default=None, validator=_short)

    assert structure({"Code": "abc"}, Coded) == Coded(code="abc")
    with pytest.raises(ModelDecodeError) as caught:
        structure({"Code": "abcd"}, Coded)
    assert caught.value.path == "Coded"
    assert caught.value.reason == "longer than 3 characters: 'abcd'"
    with pytest.raises(ModelDecodeError) as caught:
        structure({"Items": [{"Code": "abcd"}]}, _holder(Coded))
    assert caught.value.path == "Holder.Items[0]"


def _holder(item: type[KarbonModel]) -> type[KarbonModel]:
    @attrs.frozen(kw_only=True)
    class Holder(KarbonModel):
        items: list[item] | None = None  # type: ignore[valid-type]

    return Holder


def test_failures_of_a_hand_made_cattrs_tree() -> None:
    from cattrs.errors import (
        AttributeValidationNote,
        ClassValidationError,
        IterableValidationError,
        IterableValidationNote,
    )

    ns = fresh()
    # Notes set as cattrs sets them (``__notes__``, not ``add_note``: Python 3.10 has none).
    named = ValueError("bad name")
    named.__notes__ = [AttributeValidationNote("at name", "name", str)]
    unknown = ValueError("bad other")
    unknown.__notes__ = [AttributeValidationNote("at ghost", "ghost", str)]
    plain = TypeError("no note")
    item = KeyError("InnerKey")
    item.__notes__ = [IterableValidationNote("at 2", 2, int)]
    items = IterableValidationError("list", [item], list[int])
    items.__notes__ = [AttributeValidationNote("at inners", "inners", list)]
    tree = ClassValidationError("record", [named, unknown, plain, items], ns.Record)
    assert list(_failures(tree, "Record")) == [
        ("Record.Name", "bad name"),
        ("Record.ghost", "bad other"),  # a note naming no field keeps its name
        ("Record", "no note"),
        ("Record.Inners[2]", "required, but missing"),
    ]
    odd = ValueError("odd")
    odd.__notes__ = [AttributeValidationNote("at key", "key", str)]
    not_attrs = ClassValidationError("dict", [odd], dict)
    assert list(_failures(not_attrs, "Thing")) == [("Thing.key", "odd")]


@attrs.frozen(kw_only=True)
class _Leaf(KarbonModel):
    leaf_key: str | None = None


def test_slots_resolve_annotations_written_as_strings() -> None:
    @attrs.frozen(kw_only=True)
    class Branch(KarbonModel):
        leaves: "list[_Leaf | None] | None" = None  # as in a module with postponed annotations

    (slot,) = _slots(Branch)
    assert slot.type == list[_Leaf | None] | None
    assert slot.model is _Leaf
    assert slot.items_nullable is True
    assert without_nulls({"Leaves": [None, {"LeafKey": None}]}, Branch) == {"Leaves": [None, {}]}


@pytest.mark.parametrize("value", ["abc", {"a": 1}, 7, True])
def test_a_value_that_is_not_an_array_where_a_list_belongs_misfits(value: object) -> None:
    # cattrs' own list hook iterates anything: "abc" became ["a", "b", "c"], a dict its keys.
    converter = _make_converter()
    for tp in (list[str], list[int | None]):
        with pytest.raises(ValueError, match=f"^expects a JSON array, got {type(value).__name__}$"):
            converter.structure(value, tp)
    assert converter.structure(["7", "8"], list[str]) == ["7", "8"]
    assert converter.structure(("7", None), list[int | None]) == [7, None]
    with pytest.raises(ModelDecodeError, match=r"primary: expects a JSON array, got"):
        structure({"Primary": value}, m.SettingWorkTypeAvailableStatuses)
    assert structure({"Primary": ["abc"]}, m.SettingWorkTypeAvailableStatuses).primary == ["abc"]
