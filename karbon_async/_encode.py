"""Request bodies: a request model checked against its declared types, then written as JSON.

Nothing reaches the wire that its model does not declare: every field set on a request model,
at any depth, is checked against the field's type before anything is sent, and a value that does
not fit raises ``TypeError`` (the wrong kind of value) or ``ValueError`` (the right kind, but not
sendable: a null the API does not accept, NaN, a date that does not parse), naming the field
path (``CreateWorkItemRequest.StartDate``). Never an ``InvalidOperation`` or ``AttributeError``.

What a field takes (the rule is "send only what Karbon accepts, and be able to send all of it"):

* ``UNSET`` (the default) leaves the field out; ``None`` sends ``null``, where the spec allows
  null or live Karbon was seen to accept it (``tools/live_facts.py``, ``REQUEST_NULLS``).
* ``str``/``int``/``bool`` fields take exactly that type (``True`` is no integer).
* ``Decimal`` fields take a finite ``Decimal``, ``int`` or ``float``; NaN and infinities are
  refused (JSON has none).
* date-time fields take an aware or naive ``datetime`` (naive is UTC), a ``date`` (midnight
  UTC) or an ISO 8601 string, which is parsed and sent in the API's own form
  (``2026-04-01T00:00:00Z``); anything else is refused. Date fields take a ``date`` or a
  ``YYYY-MM-DD`` string.
* enum fields take a member or any string (a value the API added later is sent as given).
* model fields take an instance of that model; list fields a ``list`` of checked items.
* ``extra`` carries keys the SDK does not model, sent verbatim; a key a field owns is refused
  (set the field instead), so no value skips its field's check.
"""

from __future__ import annotations

import datetime as dt
import math
from collections.abc import Callable, Mapping
from decimal import Decimal
from typing import Any, get_args, get_origin

import attrs

from ._converter import _keys, _slots, parse_datetime, unstructure
from ._decoder_compiler import is_model as _is_model
from ._decoder_compiler import union_args as _union_args
from ._model_base import UNSET, KarbonEnum, KarbonModel, Unset

__all__ = ["check_request", "request_document"]


def request_document(model: KarbonModel) -> dict[str, Any]:
    """The JSON body for a request model: only the fields that were set, at any depth, each
    checked against its declared type first (see the module's docstring)."""
    path = type(model).__name__
    document: dict[str, Any] = unstructure(check_request(model, path))
    _check_finite(document, path)
    return document


def check_request(model: KarbonModel, path: str) -> KarbonModel:
    """``model`` if every field it sets fits its type; with date and date-time strings parsed
    (a copy), so the body carries the API's own form. Raises naming the first misfit's path."""
    changes: dict[str, Any] = {}
    not_null = type(model)._karbon_not_null
    for slot in _slots(type(model)):
        value = getattr(model, slot.name)
        where = f"{path}.{slot.key}"
        args = _union_args(slot.type)
        if value is UNSET:
            if Unset not in args:
                raise ValueError(f"{where} is required: it cannot be UNSET")
            continue
        if value is None:
            if slot.key in not_null or type(None) not in args:
                raise ValueError(f"{where} may not be null")
            continue
        kinds = [arg for arg in args if arg is not type(None) and arg is not Unset]
        try:
            checked = _check_union(value, kinds, where)
        except (TypeError, ValueError) as exc:
            if slot.name in _secret_fields(type(model)):  # the message would show the secret
                raise type(exc)(
                    f"{where} is not valid (a secret: its value is not shown)"
                ) from None
            raise
        if checked is not value:
            changes[slot.name] = checked
    known = _keys(type(model)).known
    owned = sorted(key for key in model.extra if key in known)
    if owned:
        raise ValueError(
            f"{path}.extra: {', '.join(owned)} belong to fields of {type(model).__name__}; "
            "set the field instead"
        )
    return attrs.evolve(model, **changes) if changes else model


def _secret_fields(cls: type[KarbonModel]) -> frozenset[str]:
    """The fields whose repr hides their value (a webhook's SigningKey)."""
    return frozenset(field.name for field in attrs.fields(cls) if field.repr is not True)


def _check_union(value: Any, kinds: list[Any], where: str) -> Any:
    if not kinds:
        return value
    if len(kinds) == 1:
        return _check(value, kinds[0], where)
    errors: list[Exception] = []
    for kind in kinds:
        try:
            return _check(value, kind, where)
        except (TypeError, ValueError) as exc:
            errors.append(exc)
    raise errors[0]


def _wrong(where: str, expected: str, value: Any) -> TypeError:
    return TypeError(f"{where} must be {expected}, got {type(value).__name__} {value!r:.80}")


def _check(value: Any, tp: Any, where: str) -> Any:
    """``value`` (or its parsed form) if it fits ``tp``; else TypeError/ValueError naming
    ``where``."""
    check = _CHECKS.get(tp)
    if check is not None:
        return check(value, where)
    if isinstance(tp, type) and issubclass(tp, KarbonEnum):
        if not isinstance(value, str):
            raise _wrong(where, f"a {tp.__name__} (or its text)", value)
        return value
    if _is_model(tp):
        if not isinstance(value, tp):
            raise _wrong(where, f"a {tp.__name__}", value)
        return check_request(value, where)
    origin = get_origin(tp)
    if origin is list:
        if not isinstance(value, list):
            raise _wrong(where, "a list", value)
        (item_type,) = get_args(tp)
        item_args = _union_args(item_type)
        kinds = [arg for arg in item_args if arg is not type(None)]
        items: list[Any] = []
        for index, item in enumerate(value):
            if item is None:
                if type(None) not in item_args:
                    raise ValueError(f"{where}[{index}] may not be null")
                items.append(item)
            else:
                items.append(_check_union(item, kinds, f"{where}[{index}]"))
        changed = any(new is not old for new, old in zip(items, value, strict=True))
        return items if changed else value
    if origin is dict or tp is dict:
        if not isinstance(value, Mapping):
            raise _wrong(where, "a mapping", value)
        return value
    return value  # Any, and types no request model declares


def _str(value: Any, where: str) -> Any:
    if not isinstance(value, str):
        raise _wrong(where, "a str", value)
    return value


def _int(value: Any, where: str) -> Any:
    if isinstance(value, bool) or not isinstance(value, int):
        raise _wrong(where, "an int", value)
    return value


def _bool(value: Any, where: str) -> Any:
    if not isinstance(value, bool):
        raise _wrong(where, "a bool", value)
    return value


def _number(value: Any, where: str) -> Any:
    if isinstance(value, bool) or not isinstance(value, Decimal | int | float):
        raise _wrong(where, "a number (Decimal, int or float)", value)
    if isinstance(value, Decimal) and not value.is_finite():
        raise ValueError(f"{where} is {value}: JSON has no NaN or infinity")
    if isinstance(value, float) and not math.isfinite(value):
        raise ValueError(f"{where} is {value}: JSON has no NaN or infinity")
    return value


def _datetime(value: Any, where: str) -> Any:
    if isinstance(value, dt.datetime):
        return value
    if isinstance(value, dt.date):
        return dt.datetime.combine(value, dt.time(), tzinfo=dt.timezone.utc)
    if not isinstance(value, str):
        raise _wrong(where, "a datetime, a date or an ISO 8601 string", value)
    try:
        return parse_datetime(value)
    except (ValueError, OverflowError):
        raise ValueError(
            f"{where} must be an ISO 8601 date or date-time such as 2026-04-01T00:00:00Z, "
            f"got {value!r:.80}"
        ) from None


def _date(value: Any, where: str) -> Any:
    if isinstance(value, dt.datetime):
        raise _wrong(where, "a date (not a datetime)", value)
    if isinstance(value, dt.date):
        return value
    if not isinstance(value, str):
        raise _wrong(where, "a date or a YYYY-MM-DD string", value)
    try:
        if len(value) != 10:
            raise ValueError
        return dt.date.fromisoformat(value)
    except ValueError:
        raise ValueError(f"{where} must be a date such as 2026-04-01, got {value!r:.80}") from None


def _bytes(value: Any, where: str) -> Any:
    if not isinstance(value, bytes | bytearray | memoryview):
        raise _wrong(where, "bytes", value)
    return value


_CHECKS: dict[Any, Callable[[Any, str], Any]] = {
    str: _str,
    int: _int,
    bool: _bool,
    Decimal: _number,
    float: _number,
    dt.datetime: _datetime,
    dt.date: _date,
    bytes: _bytes,
}


def _check_finite(value: Any, path: str) -> None:
    """No NaN or infinity anywhere in the document, ``extra`` values included."""
    if isinstance(value, float | Decimal):
        finite = math.isfinite(value) if isinstance(value, float) else value.is_finite()
        if not finite:
            raise ValueError(f"{path} is {value}: JSON has no NaN or infinity")
    elif isinstance(value, Mapping):
        for key, item in value.items():
            _check_finite(item, f"{path}.{key}")
    elif isinstance(value, list):
        for index, item in enumerate(value):
            _check_finite(item, f"{path}[{index}]")
