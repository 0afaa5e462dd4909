"""Filters built with F: values can never leave their literal."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st

from karbon_async import F
from karbon_async._generated import OPERATIONS
from karbon_async._odata import literal
from karbon_async._query import render_expand, render_orderby


def read_string_literal(text: str) -> tuple[str, str]:
    """Parse one OData string literal at the start of ``text``: (value, rest)."""
    assert text.startswith("'")
    value, index = [], 1
    while True:
        quote = text.index("'", index)
        value.append(text[index:quote])
        if text[quote + 1 : quote + 2] == "'":
            value.append("'")
            index = quote + 2
        else:
            return "".join(value), text[quote + 1 :]


@given(st.text())
def test_eq_value_stays_inside_its_quotes(value: str) -> None:
    rendered = str(F.FullName == value)
    assert rendered.startswith("FullName eq ")
    parsed, rest = read_string_literal(rendered[len("FullName eq ") :])
    assert parsed == value
    assert rest == ""


@given(st.text(), st.text())
def test_contains_and_combination_keep_each_value_whole(first: str, second: str) -> None:
    rendered = str(F.FullName.contains(first) & (F.ContactType == second))
    assert rendered.startswith("contains(FullName,")
    parsed, rest = read_string_literal(rendered[len("contains(FullName,") :])
    assert parsed == first
    assert rest.startswith(") and ContactType eq ")
    parsed, rest = read_string_literal(rest[len(") and ContactType eq ") :])
    assert (parsed, rest) == (second, "")


@given(st.lists(st.text(), min_size=1, max_size=5))
def test_in_list_values_stay_whole(values: list[str]) -> None:
    rendered = str(F.UserKey.in_(values))
    rest = rendered[len("UserKey in (") :]
    for index, value in enumerate(values):
        parsed, rest = read_string_literal(rest)
        assert parsed == value
        rest = rest[1:]  # ',' or the closing ')'
        assert (rest == "") == (index == len(values) - 1)


def test_the_issue_example() -> None:
    expression = F.FullName.contains("O'Brien") & (F.ContactType == "Client")
    assert str(expression) == "contains(FullName,'O''Brien') and ContactType eq 'Client'"


def test_precedence_is_kept_with_parentheses() -> None:
    a, b, c = F.A == 1, F.B == 2, F.C == 3
    assert str((a | b) & c) == "(A eq 1 or B eq 2) and C eq 3"
    assert str(a | (b & c)) == "A eq 1 or B eq 2 and C eq 3"
    assert str(~(a | b)) == "not (A eq 1 or B eq 2)"


def test_literals_of_every_kind() -> None:
    when = dt.datetime(2026, 4, 1, 9, 30, tzinfo=dt.timezone(dt.timedelta(hours=2)))
    assert literal(when) == "2026-04-01T07:30:00Z"
    assert literal(dt.date(2026, 3, 31)) == "2026-03-31"
    assert literal(True) == "true"
    assert literal(None) == "null"
    assert literal(Decimal("1500.00")) == "1500.00"
    assert literal(7) == "7"
    assert str(F.StartDate >= dt.date(2026, 1, 1)) == "StartDate ge 2026-01-01"
    assert str(F.WorkItemKeys.any_in(["a", "b"])) == "WorkItemKeys/any(x: x in ('a','b'))"


@pytest.mark.parametrize(
    ("bad", "error", "message"),
    [
        (float("nan"), ValueError, "nan has no OData literal"),
        (float("inf"), ValueError, "inf has no OData literal"),
        (dt.datetime(2026, 1, 1), ValueError, "naive datetime"),
        (object(), TypeError, "object cannot be used"),
    ],
)
def test_values_without_a_safe_literal_are_refused_by_the_builder(
    bad: object, error: type[Exception], message: str
) -> None:
    with pytest.raises(error, match=message):
        _ = F.Amount == bad
    with pytest.raises(error, match=message):
        F.Amount.in_([1, bad])  # type: ignore[list-item]


@pytest.mark.parametrize("name", ["Full Name", "x) or (1 eq 1", "", "a//b", "1abc"])
def test_field_names_must_be_identifiers(name: str) -> None:
    with pytest.raises(ValueError):
        F[name]


def test_filters_do_not_pretend_to_be_booleans() -> None:
    with pytest.raises(TypeError):
        bool(F.A == 1)


def test_orderby_and_expand() -> None:
    contacts, contact = OPERATIONS["getAllContacts"], OPERATIONS["getContactByID"]
    assert render_orderby(["LastModifiedDateTime desc", "FullName"], contacts) == (
        "LastModifiedDateTime desc,FullName"
    )
    assert render_expand(["ClientTeam", "BusinessCards"], contact) == "BusinessCards,ClientTeam"
    with pytest.raises(ValueError, match="direction"):
        render_orderby("FullName sideways", contacts)
    with pytest.raises(ValueError, match="invalid"):
        render_expand("BusinessCards,ClientTeam)", contact)


@given(st.text(), st.sampled_from(["contains", "startswith"]))
def test_text_function_values_stay_whole(value: str, function: str) -> None:
    rendered = str(getattr(F.Title, function)(value))
    assert rendered.startswith(f"{function}(Title,")
    parsed, rest = read_string_literal(rendered[len(f"{function}(Title,") :])
    assert (parsed, rest) == (value, ")")


@given(st.lists(st.text(), min_size=1, max_size=4))
def test_lambda_values_stay_whole(values: list[str]) -> None:
    rendered = str(F.WorkItemKeys.any_in(values))
    rest = rendered[len("WorkItemKeys/any(x: x in (") :]
    for value in values:
        parsed, rest = read_string_literal(rest)
        assert parsed == value
        rest = rest[1:]
    assert rest == ")"


@given(st.text())
def test_spelled_values_are_escaped_too(value: str) -> None:
    """An endpoint's spelling is applied before the literal is written, never after."""
    rendered = (F.PrimaryStatus == value).render(lambda field, text: text + "'")
    parsed, rest = read_string_literal(rendered[len("PrimaryStatus eq ") :])
    assert (parsed, rest) == (value + "'", "")


@pytest.mark.parametrize(
    ("part", "expected"),
    [
        ("day", "day(StartDate) eq 4"),
        ("month", "month(StartDate) eq 4"),
        ("year", "year(StartDate) eq 4"),
    ],
)
def test_date_parts(part: str, expected: str) -> None:
    assert str(getattr(F.StartDate, part)() == 4) == expected
    with pytest.raises(TypeError):
        _ = getattr(F.StartDate, part)() == "4"
