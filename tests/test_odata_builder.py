"""Every piece of the filter builder a query check or a request relies on: each comparison of
fields and date parts, each literal kind, the clauses an endpoint inspects, spellings, and
what is refused while the filter is being built rather than when it is sent."""

from __future__ import annotations

import datetime as dt
import enum
import re
from collections.abc import Callable
from decimal import Decimal

import pytest

from karbon_async import F
from karbon_async._odata import Clause, Filter, literal, parse_orderby, split_names


class Status(enum.Enum):
    READY = "Ready"
    DONE = "O'Done"


class Level(enum.IntEnum):
    HIGH = 3


OPERATORS: list[tuple[str, Callable[[object, object], Filter]]] = [
    ("eq", lambda a, b: a == b),
    ("ne", lambda a, b: a != b),
    ("lt", lambda a, b: a < b),  # type: ignore[operator]
    ("le", lambda a, b: a <= b),  # type: ignore[operator]
    ("gt", lambda a, b: a > b),  # type: ignore[operator]
    ("ge", lambda a, b: a >= b),  # type: ignore[operator]
]


@pytest.mark.parametrize(("operator", "compare"), OPERATORS)
def test_every_field_comparison_renders_its_operator(
    operator: str, compare: Callable[[object, object], Filter]
) -> None:
    built = compare(F.Amount, 5)
    assert str(built) == f"Amount {operator} 5"
    assert list(built.clauses()) == [Clause("Amount", operator, None, (5,))]


@pytest.mark.parametrize("part", ["day", "month", "year"])
@pytest.mark.parametrize(("operator", "compare"), OPERATORS)
def test_every_date_part_comparison_renders_its_operator(
    part: str, operator: str, compare: Callable[[object, object], Filter]
) -> None:
    built = compare(getattr(F.StartDate, part)(), 4)
    assert str(built) == f"{part}(StartDate) {operator} 4"
    assert list(built.clauses()) == [Clause("StartDate", operator, part, (4,))]


@pytest.mark.parametrize(("operator", "compare"), OPERATORS)
@pytest.mark.parametrize("bad", ["4", 4.0, True, None])
def test_date_parts_compare_with_an_int_only(
    operator: str, compare: Callable[[object, object], Filter], bad: object
) -> None:
    expected = f"^a date part compares with an int, not {type(bad).__name__}$"
    with pytest.raises(TypeError, match=expected):
        compare(F.StartDate.month(), bad)


def test_fields_and_date_parts_are_not_hashable() -> None:
    """``==`` builds a filter, so a field is no dictionary key (its hash would lie)."""
    with pytest.raises(TypeError):
        hash(F.A)
    with pytest.raises(TypeError):
        hash(F.A.day())


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (False, "false"),
        (True, "true"),
        (0, "0"),
        (-12, "-12"),
        (1.5, "1.5"),
        (-0.25, "-0.25"),
        (0.1, "0.1"),
        (1e-07, "1e-07"),
        (Decimal("1500.00"), "1500.00"),
        (Decimal("-3.5"), "-3.5"),
        (Status.READY, "'Ready'"),
        (Status.DONE, "'O''Done'"),
        (Level.HIGH, "3"),
        ("", "''"),
        (None, "null"),
        (dt.date(2026, 3, 1), "2026-03-01"),
    ],
)
def test_literal_of_each_kind(value: object, expected: str) -> None:
    assert literal(value) == expected  # type: ignore[arg-type]
    assert str(F.Value == value) == f"Value eq {expected}"


def test_a_time_is_sent_in_utc_whatever_the_machines_zone(local_zone: str) -> None:
    plus_two = dt.timezone(dt.timedelta(hours=2))
    assert literal(dt.datetime(2026, 4, 1, 9, 30, tzinfo=plus_two)) == "2026-04-01T07:30:00Z"
    minus_three = dt.timezone(dt.timedelta(hours=-3, minutes=-30))
    assert literal(dt.datetime(2026, 12, 31, 22, 0, tzinfo=minus_three)) == ("2027-01-01T01:30:00Z")
    utc = dt.datetime(2026, 4, 1, 9, 30, 15, 250000, tzinfo=dt.timezone.utc)
    assert literal(utc) == "2026-04-01T09:30:15.250000Z"
    assert str(F.LastModifiedDateTime > utc) == (
        "LastModifiedDateTime gt 2026-04-01T09:30:15.250000Z"
    )


@pytest.mark.parametrize(
    ("bad", "error", "message"),
    [
        (float("nan"), ValueError, "has no OData literal"),
        (float("inf"), ValueError, "has no OData literal"),
        (float("-inf"), ValueError, "has no OData literal"),
        (Decimal("NaN"), ValueError, "has no OData literal"),
        (Decimal("Infinity"), ValueError, "has no OData literal"),
        (dt.datetime(2026, 1, 1), ValueError, "naive datetime"),
        (b"bytes", TypeError, "bytes cannot be used in an OData filter"),
        (object(), TypeError, "object cannot be used in an OData filter"),
    ],
)
def test_a_value_without_a_literal_is_refused_when_the_filter_is_built(
    bad: object, error: type[Exception], message: str
) -> None:
    with pytest.raises(error, match=message):
        literal(bad)  # type: ignore[arg-type]
    for build in (
        lambda: F.Value == bad,
        lambda: F.Value != bad,
        lambda: F.Value < bad,
        lambda: F.Value <= bad,
        lambda: F.Value > bad,
        lambda: F.Value >= bad,
        lambda: F.Value.in_(["ok", bad]),
        lambda: F.Value.any_in([bad]),
    ):
        with pytest.raises(error, match=message):
            build()


def test_in_and_any_in_want_a_non_empty_list_of_values() -> None:
    for build in (F.Value.in_, F.Value.any_in):
        with pytest.raises(TypeError, match=r"^give 'in' a list of values, not one string$"):
            build("ab")
        with pytest.raises(TypeError, match=r"^give 'in' a list of values, not one string$"):
            build(b"ab")  # type: ignore[arg-type]
        with pytest.raises(ValueError, match=r"^an 'in' list needs at least one value$"):
            build([])
    assert str(F.Value.in_(iter([1, "a"]))) == "Value in (1,'a')"
    assert (
        str(F.Value.any_in(v for v in (Status.READY, None))) == "Value/any(x: x in ('Ready',null))"
    )


@pytest.mark.parametrize("function", ["contains", "startswith"])
def test_text_functions_take_a_string(function: str) -> None:
    built = getattr(F.Name, function)("O'B")
    assert str(built) == f"{function}(Name,'O''B')"
    assert list(built.clauses()) == [Clause("Name", None, function, ("O'B",))]
    with pytest.raises(TypeError, match=f"{function} takes a string, not int"):
        getattr(F.Name, function)(5)


def test_clauses_name_field_operator_function_and_values_in_order() -> None:
    built = ~(F.A.in_(["x", "y"]) | F.Keys.any_in(["k"])) & F.Title.startswith("T")
    assert list(built.clauses()) == [
        Clause("A", "in", None, ("x", "y")),
        Clause("Keys", "any", None, ("k",)),
        Clause("Title", None, "startswith", ("T",)),
    ]


def test_nesting_adds_parentheses_only_where_precedence_needs_them() -> None:
    a, b, c = F.A == 1, F.B == 2, F.C == 3
    assert str((a & b) & c) == "A eq 1 and B eq 2 and C eq 3"
    assert str(a & (b & c)) == "A eq 1 and B eq 2 and C eq 3"
    assert str((a | b) | c) == "A eq 1 or B eq 2 or C eq 3"
    assert str(a | (b | c)) == "A eq 1 or B eq 2 or C eq 3"
    assert str((a & b) | c) == "A eq 1 and B eq 2 or C eq 3"
    assert str(a & (b | c)) == "A eq 1 and (B eq 2 or C eq 3)"
    assert str(~a & b) == "not (A eq 1) and B eq 2"
    assert str(~a | ~b) == "not (A eq 1) or not (B eq 2)"
    assert str(~(a & b)) == "not (A eq 1 and B eq 2)"


def test_text_str_and_repr_show_the_rendered_filter() -> None:
    built = F.A == "x"
    assert built.text == "A eq 'x'"
    assert str(built) == "A eq 'x'"
    assert repr(built) == "Filter(\"A eq 'x'\")"


@pytest.mark.parametrize("other", [True, "A eq 1", None, 1])
def test_only_filters_combine(other: object) -> None:
    with pytest.raises(TypeError, match=f"not {type(other).__name__}"):
        _ = (F.A == 1) & other  # type: ignore[operator]
    with pytest.raises(TypeError, match=f"not {type(other).__name__}"):
        _ = (F.A == 1) | other  # type: ignore[operator]


def test_a_filter_is_no_boolean() -> None:
    message = "use & and | to combine filters, not 'and'/'or'"
    with pytest.raises(TypeError, match=f"^{re.escape(message)}$"):
        _ = (F.A == 1) and (F.B == 2)


def spell_upper(field: str, value: str) -> str:
    return f"{field}:{value.upper()}"


def test_spelling_reaches_every_string_value_and_only_strings() -> None:
    """An endpoint's spelling applies to each string (and string enum) value with its field,
    in every kind of clause and through every combination; numbers, dates, null are untouched."""
    built = (
        (F.A == "a")
        | ~F.B.contains("b")
        | (F.C.startswith("c") & F.D.in_(["d", 1, None]))
        | F.E.any_in([Status.READY])
        | (F.G != 2)
        | (F.H.day() == 3)
        | (F.Issued == dt.date(2026, 1, 2))
    )
    assert built.render(spell_upper) == (
        "A eq 'A:A' or not (contains(B,'B:B')) or startswith(C,'C:C') and D in ('D:D',1,null)"
        " or E/any(x: x in ('E:READY')) or G ne 2 or day(H) eq 3 or Issued eq 2026-01-02"
    )
    assert built.render() == (
        "A eq 'a' or not (contains(B,'b')) or startswith(C,'c') and D in ('d',1,null)"
        " or E/any(x: x in ('Ready')) or G ne 2 or day(H) eq 3 or Issued eq 2026-01-02"
    )


@pytest.mark.parametrize("name", ["__wrapped__", "__len__", "__fspath__", "__custom__"])
def test_dunder_names_are_not_fields(name: str) -> None:
    """Tools probe objects for protocol names (copy, inspect, pytest): F must not claim them."""
    assert not hasattr(F, name)
    with pytest.raises(AttributeError, match=name):
        getattr(F, name)


def test_field_names_and_paths() -> None:
    assert str(F._Private == 1) == "_Private eq 1"
    assert str(F["Parent/Child_2"] == 1) == "Parent/Child_2 eq 1"
    for bad in ["A\n", "A/", "/A", "A B", 5]:
        with pytest.raises(ValueError, match="invalid OData field name"):
            F[bad]  # type: ignore[index]


def test_orderby_directions() -> None:
    assert parse_orderby("FullName") == [("FullName", "")]
    assert parse_orderby("FullName asc") == [("FullName", "asc")]
    assert parse_orderby(["  A DESC ", "B  Asc", "C"]) == [("A", "desc"), ("B", "asc"), ("C", "")]
    with pytest.raises(ValueError, match="invalid \\$orderby direction in 'A up'"):
        parse_orderby("A up")
    with pytest.raises(ValueError, match="invalid OData field name"):
        parse_orderby("A) desc")


def test_split_names() -> None:
    assert split_names("A, B", "$expand") == ["A", "B"]
    assert split_names(["A,B", " C "], "$expand") == ["A", "B", "C"]
    with pytest.raises(ValueError, match="invalid \\$expand name 'B\\)'"):
        split_names("A,B)", "$expand")
    with pytest.raises(ValueError, match="invalid \\$select name ''"):
        split_names("A,", "$select")
