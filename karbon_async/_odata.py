"""OData query options, built from typed values so that no user value can change the expression.

``F.FullName.contains("O'Brien") & (F.ContactType == "Client")`` renders as
``contains(FullName,'O''Brien') and ContactType eq 'Client'``. Every value becomes an OData
literal: strings are quoted with ``'`` doubled, datetimes are ISO 8601 in UTC with ``Z``, dates
``YYYY-MM-DD``, numbers and booleans as OData writes them; field names must be identifiers.
A plain ``str`` passed as ``filter=`` is sent as written (raw OData, the caller's responsibility).
"""

from __future__ import annotations

import datetime as dt
import enum
import math
import re
from collections.abc import Iterable, Sequence
from decimal import Decimal
from typing import Union

import attrs

from ._converter import format_datetime
from ._model_base import KarbonEnum

Literal = Union[str, int, float, Decimal, bool, dt.date, dt.datetime, enum.Enum, None]  # noqa: UP007

_FIELD_PATH = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*(/[A-Za-z_][A-Za-z0-9_]*)*$")
_LAMBDA_VARIABLE = "x"


def literal(value: Literal) -> str:
    """``value`` as an OData literal."""
    if isinstance(value, KarbonEnum):
        value = value.spaced  # $filter matches only the spaced form (In Progress)
    elif isinstance(value, enum.Enum):
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


def _list_literal(values: Iterable[Literal]) -> str:
    items = [literal(value) for value in values]
    if not items:
        raise ValueError("an 'in' list needs at least one value")
    return "(" + ",".join(items) + ")"


@attrs.frozen
class Filter:
    """A boolean OData expression; combine with ``&``, ``|`` and ``~``."""

    text: str
    _precedence: int = attrs.field(default=3, alias="precedence")  # 1 or, 2 and, 3 atom

    def _operand(self, precedence: int) -> str:
        return self.text if self._precedence >= precedence else f"({self.text})"

    def __and__(self, other: Filter) -> Filter:
        _require_filter(other)
        return Filter(f"{self._operand(2)} and {other._operand(2)}", precedence=2)

    def __or__(self, other: Filter) -> Filter:
        _require_filter(other)
        return Filter(f"{self._operand(1)} or {other._operand(1)}", precedence=1)

    def __invert__(self) -> Filter:
        return Filter(f"not ({self.text})")

    def __bool__(self) -> bool:
        raise TypeError("use & and | to combine filters, not 'and'/'or'")

    def __str__(self) -> str:
        return self.text


def _require_filter(other: object) -> None:
    if not isinstance(other, Filter):
        raise TypeError(f"can only combine a Filter with a Filter, not {type(other).__name__}")


@attrs.frozen(eq=False)
class Field:
    """A field (or ``Parent/Child`` path) of the resource being filtered."""

    path: str = attrs.field()

    @path.validator
    def _check(self, _: object, value: str) -> None:
        if not isinstance(value, str) or not _FIELD_PATH.match(value):
            raise ValueError(f"invalid OData field name {value!r}")

    def _compare(self, operator: str, value: Literal) -> Filter:
        return Filter(f"{self.path} {operator} {literal(value)}")

    def __eq__(self, value: Literal) -> Filter:  # type: ignore[override]
        return self._compare("eq", value)

    def __ne__(self, value: Literal) -> Filter:  # type: ignore[override]
        return self._compare("ne", value)

    def __lt__(self, value: Literal) -> Filter:
        return self._compare("lt", value)

    def __le__(self, value: Literal) -> Filter:
        return self._compare("le", value)

    def __gt__(self, value: Literal) -> Filter:
        return self._compare("gt", value)

    def __ge__(self, value: Literal) -> Filter:
        return self._compare("ge", value)

    __hash__ = None  # type: ignore[assignment]

    def contains(self, value: str) -> Filter:
        return Filter(f"contains({self.path},{literal(value)})")

    def in_(self, values: Iterable[Literal]) -> Filter:
        return Filter(f"{self.path} in {_list_literal(values)}")

    def any_in(self, values: Iterable[Literal]) -> Filter:
        """A collection field holding any of ``values``: ``Keys/any(x: x in ('a','b'))``."""
        variable = _LAMBDA_VARIABLE
        return Filter(f"{self.path}/any({variable}: {variable} in {_list_literal(values)})")


class _FieldFactory:
    """``F.FullName`` or ``F["WorkItemKeys"]``: a Field to build a filter from."""

    def __getattr__(self, name: str) -> Field:
        if name.startswith("__"):
            raise AttributeError(name)
        return Field(name)

    def __getitem__(self, path: str) -> Field:
        return Field(path)


F = _FieldFactory()


def render_filter(value: Filter | str) -> str:
    if isinstance(value, Filter):
        return value.text
    if isinstance(value, str):
        return value
    raise TypeError(
        f"filter must be a Filter (from F) or a raw OData string, not {type(value).__name__}"
    )


def render_orderby(value: str | Sequence[str]) -> str:
    """``"FullName"``, ``"LastModifiedDateTime desc"`` or a list of them."""
    items = [value] if isinstance(value, str) else list(value)
    rendered = []
    for item in items:
        field, _, direction = item.strip().partition(" ")
        Field(field)  # validates the name
        direction = direction.strip().lower()
        if direction not in ("", "asc", "desc"):
            raise ValueError(f"invalid $orderby direction in {item!r}: use 'asc' or 'desc'")
        rendered.append(f"{field} {direction}".strip())
    return ",".join(rendered)


def render_expand(value: str | Sequence[str]) -> str:
    items = [value] if isinstance(value, str) else list(value)
    for item in items:
        Field(item)
    return ",".join(items)
