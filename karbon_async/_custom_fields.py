"""Typed access to custom field values, over the API's list-of-strings form.

The API sends and takes every custom field value as a list of strings (``["Technology"]``,
``["42.5"]``, ``["2025-01-31"]``, ``["true"]``). ``CustomFieldAccessor`` reads them as Python
values, checking the field's type; ``custom_field_value`` builds the request form.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from decimal import Decimal, InvalidOperation

from ._generated.models import (
    CustomFieldType,
    CustomFieldValue,
    CustomFieldValueInput,
    CustomFieldValues,
    ReplaceCustomFieldValuesRequest,
)

CustomFieldPython = str | Decimal | int | dt.date | bool | Sequence[str] | None
_TRUE = {"true", "yes", "1"}
_FALSE = {"false", "no", "0"}


class CustomFieldAccessor:
    """Read one entity's custom field values by field name or key, typed by field type.

    ``accessor.number("Revenue")`` is a ``Decimal`` (or None when empty); asking for a type
    the field does not have raises ``TypeError``; an unknown field raises ``KeyError``.
    """

    def __init__(self, values: CustomFieldValues) -> None:
        self._values = list(values.custom_field_values or [])
        self.entity_key = values.entity_key

    def __contains__(self, name_or_key: object) -> bool:
        return any(name_or_key in (v.name, v.key) for v in self._values)

    def names(self) -> list[str]:
        return [v.name for v in self._values if v.name is not None]

    def field(self, name_or_key: str) -> CustomFieldValue:
        for value in self._values:
            if name_or_key in (value.key, value.name):
                return value
        raise KeyError(name_or_key)

    def _strings(self, name_or_key: str, kind: CustomFieldType) -> list[str]:
        value = self.field(name_or_key)
        if value.type is not None and value.type != kind:
            raise TypeError(f"custom field {name_or_key!r} is {value.type}, not {kind}")
        return [item for item in (value.value or []) if item is not None]

    def _single(self, name_or_key: str, kind: CustomFieldType) -> str | None:
        items = self._strings(name_or_key, kind)
        if len(items) > 1:
            raise ValueError(f"custom field {name_or_key!r} has {len(items)} values, not one")
        return items[0] if items and items[0] != "" else None

    def text(self, name_or_key: str) -> str | None:
        return self._single(name_or_key, CustomFieldType.TEXT)

    def number(self, name_or_key: str) -> Decimal | None:
        raw = self._single(name_or_key, CustomFieldType.NUMBER)
        if raw is None:
            return None
        try:
            return Decimal(raw.strip())
        except InvalidOperation as exc:
            raise ValueError(f"custom field {name_or_key!r}: not a number: {raw!r}") from exc

    def date(self, name_or_key: str) -> dt.date | None:
        raw = self._single(name_or_key, CustomFieldType.DATE)
        return None if raw is None else dt.date.fromisoformat(raw.strip()[:10])

    def boolean(self, name_or_key: str) -> bool | None:
        raw = self._single(name_or_key, CustomFieldType.BOOLEAN)
        if raw is None:
            return None
        folded = raw.strip().casefold()
        if folded in _TRUE:
            return True
        if folded in _FALSE:
            return False
        raise ValueError(f"custom field {name_or_key!r}: not a boolean: {raw!r}")

    def colleague(self, name_or_key: str) -> str | None:
        """The colleague's user key (or e-mail address, as the API stores it)."""
        return self._single(name_or_key, CustomFieldType.COLLEAGUE)

    def single_select(self, name_or_key: str) -> str | None:
        return self._single(name_or_key, CustomFieldType.LIST_SINGLE_SELECT)

    def multiple_select(self, name_or_key: str) -> list[str]:
        return self._strings(name_or_key, CustomFieldType.LIST_MULTIPLE_SELECT)


def _to_strings(kind: CustomFieldType, value: CustomFieldPython) -> list[str]:
    if value is None:
        return []
    if kind == CustomFieldType.LIST_MULTIPLE_SELECT:
        if isinstance(value, str) or not isinstance(value, Sequence):
            raise TypeError("a ListMultipleSelect value is a list of strings")
        items = list(value)
        if not all(isinstance(item, str) for item in items):
            raise TypeError("a ListMultipleSelect value is a list of strings")
        return items
    if kind == CustomFieldType.NUMBER:
        if isinstance(value, bool) or not isinstance(value, Decimal | int):
            raise TypeError("a Number value is a Decimal or an int")
        return [str(value)]
    if kind == CustomFieldType.DATE:
        if not isinstance(value, dt.date):
            raise TypeError("a Date value is a datetime.date")
        date = value.date() if isinstance(value, dt.datetime) else value
        return [date.isoformat()]
    if kind == CustomFieldType.BOOLEAN:
        if not isinstance(value, bool):
            raise TypeError("a Boolean value is a bool")
        return ["true" if value else "false"]
    if not isinstance(value, str):  # Text, Colleague, ListSingleSelect
        raise TypeError(f"a {kind} value is a str")
    return [value]


def custom_field_value(
    key: str, kind: CustomFieldType | str, value: CustomFieldPython
) -> CustomFieldValueInput:
    """One value of the request form from a Python value (``None`` or ``[]`` clears it)."""
    field_type = CustomFieldType(kind)
    return CustomFieldValueInput(key=key, type=field_type, value=_to_strings(field_type, value))


def custom_field_values_request(
    entity_key: str, values: Sequence[CustomFieldValueInput]
) -> ReplaceCustomFieldValuesRequest:
    """The PUT body; remember that it replaces the whole set (fields left out are cleared)."""
    return ReplaceCustomFieldValuesRequest(entity_key=entity_key, custom_field_values=list(values))
