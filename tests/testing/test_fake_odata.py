"""Unit tests of the fake's OData engine, sliding window and key scheme (no sockets)."""

from __future__ import annotations

from typing import Any

import pytest

from karbon_async.testing._keys import Keyer
from karbon_async.testing._odata import (
    ODataError,
    compile_filter,
    parse_datetime,
    parse_orderby,
    sort_records,
)
from karbon_async.testing._ratelimit import SlidingWindow, max_in_window

FIELDS = {"FullName", "Age", "Active", "When", "Email", "Card"}


def _row(
    key: str, name: str, age: int, active: bool, when: str, email: str | None
) -> dict[str, Any]:
    return {"K": key, "FullName": name, "Age": age, "Active": active, "When": when, "Email": email}


ROWS: list[dict[str, Any]] = [
    _row("a", "Sean O'Brien", 40, True, "2024-01-01T00:00:00Z", None),
    _row("b", "Priya Sharma", 31, False, "2024-01-01T00:00:00.5Z", "p@x.com"),
    _row("c", "Mei Chen", 25, True, "2023-06-30T23:59:59.9999999Z", "m@x.com"),
    _row("d", "priya sharma", 52, True, "2024-01-01T01:00:00+01:00", "q@x.com")
    | {"Card": {"City": "Sydney"}},
]


def keys(text: str, ci: tuple[str, ...] = ()) -> list[str]:
    pred = compile_filter(text, FIELDS, "ContactSummaryDTO", ci)
    return [r["K"] for r in ROWS if pred(r)]


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("FullName eq 'Sean O''Brien'", ["a"]),
        ("contains(FullName, 'O''B')", ["a"]),
        ("FullName eq 'Priya Sharma'", ["b"]),
        ("FullName ne 'Priya Sharma'", ["a", "c", "d"]),
        ("Age gt 30 and Age lt 50", ["a", "b"]),
        ("Age ge 40 or Age le 25", ["a", "c", "d"]),
        # and binds tighter than or
        ("Age eq 25 or Age eq 31 and Active eq true", ["c"]),
        ("(Age eq 25 or Age eq 31) and Active eq false", ["b"]),
        ("not (Age gt 30)", ["c"]),
        ("FullName in ('Mei Chen', 'Sean O''Brien')", ["a", "c"]),
        ("Email eq null", ["a"]),
        ("Email ne null and Active", ["c", "d"]),
        ("Active eq false", ["b"]),
        ("startswith(FullName, 'Priya') or endswith(FullName, 'Chen')", ["b", "c"]),
        ("tolower(FullName) eq 'priya sharma'", ["b", "d"]),
        ("Card/City eq 'Sydney'", ["d"]),
        # parsed instants, not strings: +01:00 is midnight UTC; .9999999 is before 2024
        ("When eq 2024-01-01T00:00:00Z", ["a", "d"]),
        ("When gt 2024-01-01T00:00:00Z", ["b"]),
        ("When lt 2024-01-01", ["c"]),
        ("When ge 2023-06-30T23:59:59.9999998Z and When le 2023-06-30T23:59:59.9999999Z", ["c"]),
    ],
)
def test_filter_semantics(text: str, expected: list[str]) -> None:
    assert keys(text) == expected


def test_case_insensitive_fields() -> None:
    assert keys("FullName eq 'PRIYA SHARMA'", ("FullName",)) == ["b", "d"]
    assert keys("contains(FullName, 'SHARMA')", ("FullName",)) == ["b", "d"]
    assert keys("contains(FullName, 'SHARMA')") == []


@pytest.mark.parametrize(
    "text",
    [
        "",
        "FullName eq",
        "FullName eq 'unterminated",
        "FullName = 'x'",
        "(Age eq 1",
        "Age eq 1)",
        "Age eq 1 and",
        "contains(FullName)",
        "'just a string'",
        "Age eq 1 or 'x'",
        "FullName in ()",
        "__import__('os')",
        "Age eq 1; drop",
    ],
)
def test_invalid_filters_raise(text: str) -> None:
    with pytest.raises(ODataError):
        compile_filter(text, FIELDS, "ContactSummaryDTO")


def test_unknown_property_message() -> None:
    with pytest.raises(ODataError) as info:
        compile_filter("Nope eq 1", FIELDS, "ContactSummaryDTO")
    assert str(info.value) == (
        "Could not find a property named 'Nope' on type 'KarbonService.ContactSummaryDTO'."
    )


def test_parse_datetime_precision_and_offsets() -> None:
    a = parse_datetime("2022-07-05T07:30:13.7188114Z")
    b = parse_datetime("2022-07-05T07:30:13.7188115Z")
    assert a is not None
    assert b is not None
    assert a < b
    assert parse_datetime("2024-01-01T01:00:00+01:00") == parse_datetime("2024-01-01T00:00:00Z")
    assert parse_datetime("2024-01-01") == parse_datetime("2024-01-01T00:00:00Z")
    assert parse_datetime("not a date") is None
    assert parse_datetime("2024-13-01") is None


def test_orderby_parsing_and_sorting() -> None:
    allowed = {"FullName", "When", "K"}
    assert [c.descending for c in parse_orderby("FullName desc,When", allowed)] == [True, False]
    with pytest.raises(ODataError, match="cannot be used in the \\$orderby"):
        parse_orderby("Age", allowed)
    with pytest.raises(ODataError):
        parse_orderby("FullName sideways", allowed)
    rows: list[dict[str, Any]] = [
        {"K": "3", "When": "2022-07-05T07:30:13Z"},
        {"K": "1", "When": "2022-07-05T07:30:13.5Z"},
        {"K": "2", "When": "2022-07-05T07:30:13Z"},
        {"K": "0", "When": None},
    ]
    # A string sort would put ".5Z" before "Z"; parsed order is 13 < 13.5; ties by key.
    ordered = sort_records(rows, parse_orderby("When", allowed), "K")
    assert [r["K"] for r in ordered] == ["0", "2", "3", "1"]
    ordered = sort_records(rows, parse_orderby("When desc", allowed), "K")
    assert [r["K"] for r in ordered] == ["1", "2", "3", "0"]


def test_sliding_window_is_half_open() -> None:
    window = SlidingWindow(2, 1.0)
    assert window.admit(10.0) is None
    assert window.admit(10.2) is None
    retry = window.admit(10.5)
    assert retry == 1  # oldest leaves at 11.0: ceil(0.5) -> 1
    assert window.admit(10.999) is not None
    assert window.admit(11.0) is None  # 10.0 is outside (10.0, 11.0]
    assert window.in_window(11.0) == 2


def test_retry_after_rounds_up() -> None:
    window = SlidingWindow(1, 60.0)
    assert window.admit(0.0) is None
    assert window.admit(0.5) == 60  # ceil(59.5)
    assert window.admit(59.9) == 1


def test_max_in_window() -> None:
    assert max_in_window([], 1.0) == 0
    assert max_in_window([0.0, 0.5, 1.0, 1.4, 3.0], 1.0) == 3  # (0.4, 1.4]
    assert max_in_window([0.0, 1.0, 2.0], 1.0) == 1  # half-open: 0.0 is not in (0.0, 1.0]


def test_keys_round_trip_and_reject_strangers() -> None:
    keyer = Keyer(7, 0, "Contacts")
    seen = set()
    for i in [*range(1000), 999_999, 2**40]:
        key = keyer.key(i)
        assert len(key) == 12
        assert key.isalnum()
        assert keyer.index(key) == i
        seen.add(key)
    assert len(seen) == 1002
    other = Keyer(7, 1, "Contacts")
    rejected = sum(other.index(k) is None for k in list(seen)[:500])
    assert rejected > 450  # the check character rejects ~61/62 foreign keys
    assert keyer.index("short") is None
    assert keyer.index("!!!!!!!!!!!!") is None
