"""OData ``$filter`` expressions built from typed values, kept as a tree so an endpoint can check
which field, operator and function each clause uses before anything is sent.

``F.FullName.contains("O'Brien") & (F.ContactType == "Client")`` renders as
``contains(FullName,'O''Brien') and ContactType eq 'Client'``. Every value becomes an OData
literal in ONE place (``literal``): strings are quoted with ``'`` doubled, datetimes are ISO 8601
in UTC with ``Z``, dates ``YYYY-MM-DD``, numbers and booleans as OData writes them; field names
must be identifiers. A plain ``str`` passed as ``filter=`` is sent as written and not checked
(raw OData, the caller's responsibility: the escape hatch for what the builder cannot say).

Comparisons: ``==``, ``!=``, ``<``, ``<=``, ``>``, ``>=``; ``.in_([...])``; text functions
``.contains(v)`` and ``.startswith(v)``; date parts ``F.StartDate.day() == 4`` (also ``month``
and ``year``); collections ``F.WorkItemKeys.any_in([...])``. Combine with ``&``, ``|``, ``~``.
"""

from __future__ import annotations

import datetime as dt
import enum
import math
import re
from collections.abc import Callable, Iterable, Iterator
from decimal import Decimal
from typing import Union

import attrs

from ._converter import format_datetime

Literal = Union[str, int, float, Decimal, bool, dt.date, dt.datetime, enum.Enum, None]  # noqa: UP007

Spell = Callable[[str, str], str]
"""``(field, string value) -> the spelling sent``: an endpoint's value spellings."""

# Always used with fullmatch: "$" of re.match would let a trailing newline through.
_FIELD_PATH = re.compile(r"[A-Za-z_][A-Za-z0-9_]*(/[A-Za-z_][A-Za-z0-9_]*)*")
_LAMBDA_VARIABLE = "x"
COMPARISONS = ("eq", "ne", "gt", "ge", "lt", "le")
TEXT_FUNCTIONS = ("contains", "startswith")
DATE_PARTS = ("day", "month", "year")


def _as_is(field: str, value: str) -> str:
    return value


def literal(value: Literal) -> str:
    """``value`` as an OData literal: the only place a value becomes filter text."""
    if isinstance(value, enum.Enum):
        value = value.value
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        return "'" + value.replace("'", "''") + "'"
    if isinstance(value, dt.datetime):
        if value.tzinfo is None:
            raise ValueError(f"naive datetime {value!r}: give it a timezone (Karbon times are UTC)")
        return format_datetime(value.astimezone(dt.timezone.utc))
    if isinstance(value, dt.date):
        return value.isoformat()
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float | Decimal):
        if not math.isfinite(value):
            raise ValueError(f"{value!r} has no OData literal")
        return str(value) if isinstance(value, Decimal) else repr(value)
    raise TypeError(f"{type(value).__name__} cannot be used in an OData filter")


def _spelled(field: str, value: Literal, spell: Spell) -> str:
    if isinstance(value, enum.Enum):
        value = value.value
    if isinstance(value, str):
        value = spell(field, value)
    return literal(value)


@attrs.frozen
class Clause:
    """One condition, as an endpoint checks it: the field, the comparison operator (``eq`` ..,
    ``in``, ``any``; None for ``contains``/``startswith``), the function (``contains``,
    ``startswith``, ``day``, ``month``, ``year``; None for a plain comparison), the values."""

    field: str
    operator: str | None
    function: str | None
    values: tuple[Literal, ...]


class Filter:
    """A boolean OData expression; combine with ``&``, ``|`` and ``~``."""

    _precedence = 3  # 1 or, 2 and, 3 atom

    def clauses(self) -> Iterator[Clause]:
        raise NotImplementedError

    def render(self, spell: Spell = _as_is) -> str:
        """The ``$filter`` text; ``spell`` rewrites string values per field."""
        raise NotImplementedError

    @property
    def text(self) -> str:
        return self.render()

    def _operand(self, precedence: int, spell: Spell) -> str:
        text = self.render(spell)
        return text if self._precedence >= precedence else f"({text})"

    def __and__(self, other: Filter) -> Filter:
        _require_filter(other)
        return _And(self, other)

    def __or__(self, other: Filter) -> Filter:
        _require_filter(other)
        return _Or(self, other)

    def __invert__(self) -> Filter:
        return _Not(self)

    def __bool__(self) -> bool:
        raise TypeError("use & and | to combine filters, not 'and'/'or'")

    def __str__(self) -> str:
        return self.render()

    def __repr__(self) -> str:
        return f"Filter({self.render()!r})"


def _require_filter(other: object) -> None:
    if not isinstance(other, Filter):
        raise TypeError(f"can only combine a Filter with a Filter, not {type(other).__name__}")


@attrs.frozen(repr=False, eq=False)
class _Compare(Filter):
    field: str
    operator: str
    value: Literal
    function: str | None = None

    def clauses(self) -> Iterator[Clause]:
        yield Clause(self.field, self.operator, self.function, (self.value,))

    def render(self, spell: Spell = _as_is) -> str:
        subject = f"{self.function}({self.field})" if self.function else self.field
        return f"{subject} {self.operator} {_spelled(self.field, self.value, spell)}"


@attrs.frozen(repr=False, eq=False)
class _TextCall(Filter):
    function: str
    field: str
    value: str

    def clauses(self) -> Iterator[Clause]:
        yield Clause(self.field, None, self.function, (self.value,))

    def render(self, spell: Spell = _as_is) -> str:
        return f"{self.function}({self.field},{_spelled(self.field, self.value, spell)})"


def _list_literal(field: str, values: tuple[Literal, ...], spell: Spell) -> str:
    return "(" + ",".join(_spelled(field, value, spell) for value in values) + ")"


def _values_of(values: Iterable[Literal]) -> tuple[Literal, ...]:
    if isinstance(values, str | bytes):
        raise TypeError("give 'in' a list of values, not one string")
    items = tuple(values)
    if not items:
        raise ValueError("an 'in' list needs at least one value")
    for item in items:
        literal(item)  # refused now, not when sent
    return items


@attrs.frozen(repr=False, eq=False)
class _In(Filter):
    field: str
    values: tuple[Literal, ...]

    def clauses(self) -> Iterator[Clause]:
        yield Clause(self.field, "in", None, self.values)

    def render(self, spell: Spell = _as_is) -> str:
        return f"{self.field} in {_list_literal(self.field, self.values, spell)}"


@attrs.frozen(repr=False, eq=False)
class _AnyIn(Filter):
    field: str
    values: tuple[Literal, ...]

    def clauses(self) -> Iterator[Clause]:
        yield Clause(self.field, "any", None, self.values)

    def render(self, spell: Spell = _as_is) -> str:
        x = _LAMBDA_VARIABLE
        return f"{self.field}/any({x}: {x} in {_list_literal(self.field, self.values, spell)})"


@attrs.frozen(repr=False, eq=False)
class _And(Filter):
    left: Filter
    right: Filter
    _precedence = 2

    def clauses(self) -> Iterator[Clause]:
        yield from self.left.clauses()
        yield from self.right.clauses()

    def render(self, spell: Spell = _as_is) -> str:
        return f"{self.left._operand(2, spell)} and {self.right._operand(2, spell)}"


@attrs.frozen(repr=False, eq=False)
class _Or(Filter):
    left: Filter
    right: Filter
    _precedence = 1

    def clauses(self) -> Iterator[Clause]:
        yield from self.left.clauses()
        yield from self.right.clauses()

    def render(self, spell: Spell = _as_is) -> str:
        return f"{self.left._operand(1, spell)} or {self.right._operand(1, spell)}"


@attrs.frozen(repr=False, eq=False)
class _Not(Filter):
    inner: Filter

    def clauses(self) -> Iterator[Clause]:
        yield from self.inner.clauses()

    def render(self, spell: Spell = _as_is) -> str:
        return f"not ({self.inner.render(spell)})"


def _check_field(value: str) -> None:
    if not isinstance(value, str) or not _FIELD_PATH.fullmatch(value):
        raise ValueError(f"invalid OData field name {value!r}")


def _compare(field: str, operator: str, value: Literal, function: str | None = None) -> Filter:
    literal(value)  # a value without a literal is refused when the filter is built
    return _Compare(field, operator, value, function)


@attrs.frozen(eq=False)
class DatePart:
    """``day(Field)``, ``month(Field)`` or ``year(Field)``, to compare with an integer."""

    function: str
    field: str

    def __eq__(self, value: int) -> Filter:  # type: ignore[override]
        return _compare(self.field, "eq", _int(value), self.function)

    def __ne__(self, value: int) -> Filter:  # type: ignore[override]
        return _compare(self.field, "ne", _int(value), self.function)

    def __lt__(self, value: int) -> Filter:
        return _compare(self.field, "lt", _int(value), self.function)

    def __le__(self, value: int) -> Filter:
        return _compare(self.field, "le", _int(value), self.function)

    def __gt__(self, value: int) -> Filter:
        return _compare(self.field, "gt", _int(value), self.function)

    def __ge__(self, value: int) -> Filter:
        return _compare(self.field, "ge", _int(value), self.function)

    __hash__ = None  # type: ignore[assignment]


def _int(value: object) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise TypeError(f"a date part compares with an int, not {type(value).__name__}")
    return value


@attrs.frozen(eq=False)
class Field:
    """A field (or ``Parent/Child`` path) of the resource being filtered."""

    path: str = attrs.field()

    @path.validator
    def _check(self, _: object, value: str) -> None:
        _check_field(value)

    def __eq__(self, value: Literal) -> Filter:  # type: ignore[override]
        return _compare(self.path, "eq", value)

    def __ne__(self, value: Literal) -> Filter:  # type: ignore[override]
        return _compare(self.path, "ne", value)

    def __lt__(self, value: Literal) -> Filter:
        return _compare(self.path, "lt", value)

    def __le__(self, value: Literal) -> Filter:
        return _compare(self.path, "le", value)

    def __gt__(self, value: Literal) -> Filter:
        return _compare(self.path, "gt", value)

    def __ge__(self, value: Literal) -> Filter:
        return _compare(self.path, "ge", value)

    __hash__ = None  # type: ignore[assignment]

    def contains(self, value: str) -> Filter:
        return self._text("contains", value)

    def startswith(self, value: str) -> Filter:
        return self._text("startswith", value)

    def _text(self, function: str, value: str) -> Filter:
        if not isinstance(value, str):
            raise TypeError(f"{function} takes a string, not {type(value).__name__}")
        return _TextCall(function, self.path, value)

    def in_(self, values: Iterable[Literal]) -> Filter:
        return _In(self.path, _values_of(values))

    def any_in(self, values: Iterable[Literal]) -> Filter:
        """A collection field holding any of ``values``: ``Keys/any(x: x in ('a','b'))``."""
        return _AnyIn(self.path, _values_of(values))

    def day(self) -> DatePart:
        return DatePart("day", self.path)

    def month(self) -> DatePart:
        return DatePart("month", self.path)

    def year(self) -> DatePart:
        return DatePart("year", self.path)


class _FieldFactory:
    """``F.FullName`` or ``F["WorkItemKeys"]``: a Field to build a filter from."""

    def __getattr__(self, name: str) -> Field:
        if name.startswith("__"):
            raise AttributeError(name)
        return Field(name)

    def __getitem__(self, path: str) -> Field:
        return Field(path)


F = _FieldFactory()


def split_names(value: str | Iterable[str], option: str) -> list[str]:
    """``"A,B"``, ``"A"`` or ``["A", "B"]`` as a list of checked names (``$expand``)."""
    items = [value] if isinstance(value, str) else list(value)
    names = [part.strip() for item in items for part in str(item).split(",")]
    for name in names:
        if not _FIELD_PATH.fullmatch(name):
            raise ValueError(f"invalid {option} name {name!r}")
    return names


def parse_orderby(value: str | Iterable[str]) -> list[tuple[str, str]]:
    """``"FullName"``, ``"LastModifiedDateTime desc"`` or a list of them, as (field, direction)."""
    items = [value] if isinstance(value, str) else list(value)
    parsed = []
    for item in items:
        field, _, direction = str(item).strip().partition(" ")
        _check_field(field)
        direction = direction.strip().lower()
        if direction not in ("", "asc", "desc"):
            raise ValueError(f"invalid $orderby direction in {item!r}: use 'asc' or 'desc'")
        parsed.append((field, direction))
    return parsed
