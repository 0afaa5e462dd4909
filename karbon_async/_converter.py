"""The one cattrs Converter: API JSON <-> models.

A single hook factory serves every model: it maps snake_case fields to the API's PascalCase keys,
keeps unknown keys in ``extra`` (and writes them back), and leaves ``UNSET`` fields out of bodies.
Datetimes are timezone-aware (7-digit fractional seconds and date-only strings are accepted);
money and other decimals are ``Decimal``.
"""

from __future__ import annotations

import datetime as dt
import re
import types
from collections.abc import Callable, Mapping
from decimal import Decimal
from typing import Any, TypeVar, Union, get_args, get_origin

import attrs
import cattrs
from cattrs.gen import make_dict_structure_fn, make_dict_unstructure_fn, override

from ._model_base import API_NAME, UNSET, KarbonEnum, KarbonModel, Unset, _Unset

T = TypeVar("T")

_EXTRA_KEY = "\x00extra"
_FRACTION = re.compile(r"(\.\d{6})\d+")


def api_name(field: attrs.Attribute[Any]) -> str:
    """The JSON key of a model field."""
    explicit = field.metadata.get(API_NAME)
    if explicit is not None:
        return str(explicit)
    return "".join(part[:1].upper() + part[1:] for part in field.name.split("_"))


def parse_datetime(value: object) -> dt.datetime:
    """An aware datetime from the API's forms; a zone-less value is taken as UTC."""
    if isinstance(value, dt.datetime):
        parsed = value
    elif isinstance(value, str):
        text = value.strip()
        if len(text) == 10:  # a date-only value where a datetime is documented
            parsed = dt.datetime.combine(dt.date.fromisoformat(text), dt.time())
        else:
            text = _FRACTION.sub(r"\1", text.replace("Z", "+00:00").replace("z", "+00:00"))
            parsed = dt.datetime.fromisoformat(text)
    else:
        raise ValueError(f"not a datetime: {value!r}")
    return parsed if parsed.tzinfo is not None else parsed.replace(tzinfo=dt.timezone.utc)


def format_datetime(value: dt.datetime) -> str:
    if value.tzinfo is None:
        value = value.replace(tzinfo=dt.timezone.utc)
    text = value.isoformat()
    return text[:-6] + "Z" if text.endswith("+00:00") else text


def parse_date(value: object) -> dt.date:
    if isinstance(value, dt.datetime):
        return value.date()
    if isinstance(value, dt.date):
        return value
    if isinstance(value, str):
        return dt.date.fromisoformat(value.strip()[:10])
    raise ValueError(f"not a date: {value!r}")


def parse_decimal(value: object) -> Decimal:
    if isinstance(value, bool):
        raise ValueError(f"not a number: {value!r}")
    if isinstance(value, Decimal):
        return value
    if isinstance(value, int | float | str):
        return Decimal(str(value))
    raise ValueError(f"not a number: {value!r}")


def _is_model(cls: Any) -> bool:
    return isinstance(cls, type) and issubclass(cls, KarbonModel) and attrs.has(cls)


def _admits_unset(cls: Any) -> bool:
    return get_origin(cls) in (Union, types.UnionType) and Unset in get_args(cls)


def _make_converter() -> cattrs.Converter:
    converter = cattrs.Converter()
    converter.register_structure_hook(dt.datetime, lambda value, _: parse_datetime(value))
    converter.register_unstructure_hook(dt.datetime, format_datetime)
    converter.register_structure_hook(dt.date, lambda value, _: parse_date(value))
    converter.register_unstructure_hook(dt.date, lambda value: value.isoformat())
    converter.register_structure_hook(Decimal, lambda value, _: parse_decimal(value))
    # Decimals stay Decimals; the wire encoder writes them as JSON numbers.
    converter.register_unstructure_hook(Decimal, lambda value: value)
    converter.register_unstructure_hook(_Unset, lambda value: value)  # dropped by the model hook
    converter.register_unstructure_hook(KarbonEnum, lambda member: member.value)

    def structure_factory(cls: type[KarbonModel]) -> Callable[[Any, Any], KarbonModel]:
        fields = attrs.fields(cls)
        overrides = {
            field.name: override(rename=_EXTRA_KEY if field.name == "extra" else api_name(field))
            for field in fields
        }
        known = {api_name(field) for field in fields if field.name != "extra"}
        build = make_dict_structure_fn(cls, converter, **overrides)  # type: ignore[arg-type]

        def structure(data: Any, _: Any) -> KarbonModel:
            if not isinstance(data, Mapping):
                raise ValueError(f"{cls.__name__} expects a JSON object, got {type(data).__name__}")
            extra = {key: value for key, value in data.items() if key not in known}
            return build({**data, _EXTRA_KEY: extra}, cls)

        return structure

    def unstructure_factory(cls: type[KarbonModel]) -> Callable[[KarbonModel], dict[str, Any]]:
        overrides = {
            field.name: override(omit=True)
            if field.name == "extra"
            else override(rename=api_name(field))
            for field in attrs.fields(cls)
        }
        flatten = make_dict_unstructure_fn(cls, converter, **overrides)  # type: ignore[arg-type]

        def unstructure(model: KarbonModel) -> dict[str, Any]:
            document = {key: value for key, value in flatten(model).items() if value is not UNSET}
            for key, value in model.extra.items():
                document.setdefault(key, value)
            return document

        return unstructure

    def unset_union_factory(cls: Any) -> Callable[[Any, Any], Any]:
        # UNSET only ever comes from Python code; JSON values decode as the rest of the union.
        rest = tuple(arg for arg in get_args(cls) if arg is not Unset)
        inner: Any = rest[0] if len(rest) == 1 else Union[rest]  # noqa: UP007
        return lambda value, _: value if value is UNSET else converter.structure(value, inner)

    converter.register_structure_hook_factory(_admits_unset, unset_union_factory)
    converter.register_structure_hook_factory(_is_model, structure_factory)
    converter.register_unstructure_hook_factory(_is_model, unstructure_factory)
    return converter


_converter = _make_converter()


def structure(data: Any, cls: type[T]) -> T:
    """Decode the API's JSON (already parsed) into ``cls``."""
    return _converter.structure(data, cls)


def unstructure(model: Any) -> Any:
    """The API's JSON form of a model (PascalCase keys, ISO datetimes, unknown fields kept)."""
    return _converter.unstructure(model)
