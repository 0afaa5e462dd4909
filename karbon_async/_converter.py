"""The one cattrs Converter: API JSON <-> models.

A single hook factory serves every model: it maps snake_case fields to the API's PascalCase keys
(a key that differs only in case lands in its field too), keeps unknown keys in ``extra`` (and
writes them back), and leaves ``UNSET`` fields out of bodies. Datetimes are timezone-aware
(7-digit fractional seconds and date-only strings are accepted); money and other decimals are
``Decimal``. Scalars are strict: a number where a string belongs is an error, never ``str()``-ed;
the one leniency is a numeric string where a number is documented, which Karbon sends and takes.
A decoding failure is a ``ModelDecodeError`` naming the field path and carrying the raw JSON.
Decoding is fast through per-model compiled decoders (``_decoder_compiler.py``), which give
exactly what this converter gives or hand the record back to it.

Request bodies are checked against their models' types before they are written
(``_encode.request_document``).
"""

from __future__ import annotations

import datetime as dt
import math
import re
import sys
import types
from collections.abc import Callable, Iterator, Mapping
from decimal import Decimal, InvalidOperation
from typing import Any, TypeVar, Union, get_args, get_origin

import attrs
import cattrs
from cattrs.cols import list_structure_factory
from cattrs.errors import AttributeValidationNote, BaseValidationError, IterableValidationNote
from cattrs.gen import make_dict_structure_fn, make_dict_unstructure_fn, override

from ._decoder_compiler import Decoders, DecodeRules
from ._decoder_compiler import is_model as _is_model
from ._decoder_compiler import union_args as _union_args
from ._exceptions import ModelDecodeError
from ._model_base import API_NAME, UNSET, KarbonEnum, KarbonModel, Unset, _Unset

T = TypeVar("T")

_EXTRA_KEY = "\x00extra"
_FRACTION = re.compile(r"(\.\d{6})\d+")
_NUMERIC = re.compile(r"\s*[+-]?\d{1,30}(\.\d{0,30})?\s*")


def api_name(field: attrs.Attribute[Any]) -> str:
    """The JSON key of a model field."""
    explicit = field.metadata.get(API_NAME)
    if explicit is not None:
        return str(explicit)
    return "".join(part[:1].upper() + part[1:] for part in field.name.split("_"))


def parse_datetime(value: object) -> dt.datetime:
    """An aware datetime from the API's forms; a zone-less value is taken as UTC."""
    if type(value) is str and len(value) > 10:
        # The common case, parsed in C. Python 3.11+ reads "Z" and cuts a 7th fractional digit
        # exactly as the fallback does; what it refuses (3.10, "z", spaces) goes the long way.
        try:
            parsed = _fromisoformat(value)
        except ValueError:
            parsed = _parse_datetime_text(value)
    elif isinstance(value, dt.datetime):
        parsed = value
    elif isinstance(value, str):
        parsed = _parse_datetime_text(value)
    else:
        raise ValueError(f"not a datetime: {value!r}")
    return parsed if parsed.tzinfo is not None else parsed.replace(tzinfo=dt.timezone.utc)


_fromisoformat = dt.datetime.fromisoformat


def parse_datetime_or_none(value: object) -> dt.datetime | None:
    """``parse_datetime`` of a string, or None for anything that is not a readable date-time
    string (a watermark or version field that is missing, null or malformed)."""
    if not isinstance(value, str):
        return None
    try:
        return parse_datetime(value)
    except (TypeError, ValueError):
        return None


def _parse_datetime_text(value: str) -> dt.datetime:
    """The API's datetime forms that ``fromisoformat`` may refuse: 7 fractional digits, "Z",
    surrounding spaces, a date alone."""
    text = value.strip()
    if len(text) == 10:  # a date-only value where a datetime is documented
        return dt.datetime.combine(dt.date.fromisoformat(text), dt.time())
    text = _FRACTION.sub(r"\1", text.replace("Z", "+00:00").replace("z", "+00:00"))
    return dt.datetime.fromisoformat(text)


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
    """A finite Decimal from a JSON number (or a numeric string); NaN and infinities are errors."""
    if isinstance(value, Decimal):
        number = value
    elif isinstance(value, int | float | str) and not isinstance(value, bool):
        try:
            number = Decimal(str(value).strip() if isinstance(value, str) else str(value))
        except InvalidOperation:
            raise ValueError(f"not a number: {value!r}") from None
    else:
        raise ValueError(f"not a number: {value!r}")
    if not number.is_finite():
        raise ValueError(f"not a finite number: {value!r}")
    return number


def parse_str(value: object) -> str:
    if isinstance(value, str):
        return value
    raise ValueError(f"not a string: {value!r}")


def parse_int(value: object) -> int:
    """An int from a JSON integer; a whole number written as ``2.0`` is accepted, ``2.5`` not.

    So is a whole number written as a string (``"12"``): Karbon takes and gives numeric strings
    for documented numbers (``AccountingDetail.FinancialYearEndDay``)."""
    if isinstance(value, int) and not isinstance(value, bool):
        return value
    if isinstance(value, Decimal | float) and math.isfinite(value) and value == int(value):
        return int(value)
    if isinstance(value, str) and _NUMERIC.fullmatch(value):
        number = Decimal(value.strip())
        if number == number.to_integral_value():
            return int(number)
    raise ValueError(f"not an integer: {value!r}")


def parse_bool(value: object) -> bool:
    if isinstance(value, bool):
        return value
    raise ValueError(f"not a boolean: {value!r}")


def _structure_enum(value: object, cls: type[KarbonEnum]) -> KarbonEnum:
    if not isinstance(value, str):
        raise ValueError(f"not a string: {value!r}")
    return cls(value)


def _finite_decimal(value: Decimal) -> Decimal:
    if not value.is_finite():
        raise ValueError(f"{value} cannot be sent: JSON has no NaN or infinity")
    return value


def _admits_unset(cls: Any) -> bool:
    return get_origin(cls) in (Union, types.UnionType) and Unset in get_args(cls)


@attrs.frozen
class _Keys:
    """The JSON keys of a model's fields, and the same keys by their case-folded form."""

    known: frozenset[str]
    by_casefold: Mapping[str, str]


_KEYS: dict[type[KarbonModel], _Keys] = {}


def _keys(cls: type[KarbonModel]) -> _Keys:
    cached = _KEYS.get(cls)
    if cached is None:
        known = frozenset(api_name(field) for field in attrs.fields(cls) if field.name != "extra")
        cached = _KEYS[cls] = _Keys(known, {key.casefold(): key for key in known})
    return cached


def _split_unknown(
    data: Mapping[str, Any], keys: _Keys
) -> tuple[Mapping[str, Any], dict[str, Any]]:
    """``data`` with its keys as the model spells them, and the keys the model does not know."""
    extra = {key: value for key, value in data.items() if key not in keys.known}
    if extra:
        # The API sometimes capitalises a key its spec spells in lower case (TenantSettings
        # ``Primary``): such a key fills its field. Only this rare case copies the item.
        by_casefold = keys.by_casefold
        respelled = {
            key: by_casefold[folded]
            for key in extra
            if isinstance(key, str)
            and (folded := key.casefold()) in by_casefold
            and by_casefold[folded] not in data
        }
        if respelled:
            data = {respelled.get(key, key): value for key, value in data.items()}
            extra = {k: v for k, v in extra.items() if k not in respelled}
    return data, extra


def _is_list(tp: Any) -> bool:
    return get_origin(tp) is list


def _make_converter() -> cattrs.Converter:
    converter = cattrs.Converter()
    converter.register_structure_hook(dt.datetime, lambda value, _: parse_datetime(value))
    converter.register_unstructure_hook(dt.datetime, format_datetime)
    converter.register_structure_hook(dt.date, lambda value, _: parse_date(value))
    converter.register_unstructure_hook(dt.date, lambda value: value.isoformat())
    converter.register_structure_hook(Decimal, lambda value, _: parse_decimal(value))
    # Decimals stay Decimals; the wire encoder writes them as JSON numbers.
    converter.register_unstructure_hook(Decimal, _finite_decimal)
    # cattrs' defaults call str()/int()/bool() on anything: None would become 'None'.
    converter.register_structure_hook(str, lambda value, _: parse_str(value))
    converter.register_structure_hook(int, lambda value, _: parse_int(value))
    converter.register_structure_hook(bool, lambda value, _: parse_bool(value))
    converter.register_structure_hook(KarbonEnum, _structure_enum)  # more specific than str
    converter.register_unstructure_hook(_Unset, lambda value: value)  # dropped by the model hook
    converter.register_unstructure_hook(KarbonEnum, lambda member: member.value)

    def structure_factory(cls: type[KarbonModel]) -> Callable[[Any, Any], KarbonModel]:
        fields = attrs.fields(cls)
        overrides = {
            field.name: override(rename=_EXTRA_KEY if field.name == "extra" else api_name(field))
            for field in fields
        }
        keys = _keys(cls)
        build = make_dict_structure_fn(cls, converter, **overrides)  # type: ignore[arg-type]

        def structure(data: Any, _: Any) -> KarbonModel:
            if not isinstance(data, Mapping):
                raise ValueError(f"{cls.__name__} expects a JSON object, got {type(data).__name__}")
            data, extra = _split_unknown(data, keys)
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

    def list_factory(tp: Any) -> Callable[[Any, Any], Any]:
        # cattrs' list hook takes any iterable: a string where a list belongs would come out
        # as its characters, a dict as its keys. A JSON array is a list; anything else misfits.
        items = list_structure_factory(tp, converter)

        def structure(value: Any, _: Any) -> Any:
            if not isinstance(value, (list, tuple)):
                raise ValueError(f"expects a JSON array, got {type(value).__name__}")
            return items(value, tp)

        return structure

    converter.register_structure_hook_factory(_is_list, list_factory)
    converter.register_structure_hook_factory(_admits_unset, unset_union_factory)
    converter.register_structure_hook_factory(_is_model, structure_factory)
    converter.register_unstructure_hook_factory(_is_model, unstructure_factory)
    return converter


_converter = _make_converter()


def _splitter(cls: type[KarbonModel]) -> Callable[[Mapping[str, Any]], Any]:
    keys = _keys(cls)
    return lambda data: _split_unknown(data, keys)


_decoders = Decoders(
    DecodeRules(
        scalars={str: ("str", parse_str), int: ("int", parse_int), bool: ("bool", parse_bool)},
        parsers={dt.datetime: parse_datetime, dt.date: parse_date, Decimal: parse_decimal},
        enum=_structure_enum,
        hook=_converter.get_structure_hook,
        json_name=api_name,
        splitter=_splitter,
        # Python 3.11+ reads every form the API sends ("Z", 7 fractional digits); 3.10 would
        # refuse "Z" and send every record the long way, so it keeps the plain parser call.
        iso_datetime=_fromisoformat if sys.version_info >= (3, 11) else None,
    )
)
_decoder = _decoders.lookup


def structure(data: Any, cls: type[T]) -> T:
    """Decode the API's JSON (already parsed) into ``cls``; a failure is a ``ModelDecodeError``
    whose message and ``path`` name the field (``WorkItem.FeeSettings.FeeValue``) and whose
    ``raw`` is ``data``."""
    decode = _decoder(cls)
    if decode is not None:
        try:
            return decode(data)  # type: ignore[no-any-return]
        except Exception:  # the converter decides, and words the error
            pass
    try:
        return _converter.structure(data, cls)
    except (ValueError, TypeError, ArithmeticError, BaseValidationError) as exc:
        if isinstance(exc, ModelDecodeError):
            raise
        failures = list(_failures(exc, getattr(cls, "__name__", str(cls))))
        path, message = failures[0]
        if len(failures) > 1:
            message += f" (and {len(failures) - 1} more: " + "; ".join(
                f"{where}: {what}" for where, what in failures[1:4]
            )
            message += ", ...)" if len(failures) > 4 else ")"
        raise ModelDecodeError(message, path=path, raw=data) from exc


def decode_each(
    items: list[Any], cls: type[T]
) -> tuple[list[T], list[tuple[int, ModelDecodeError]]]:
    """Decode each item on its own: (the items that fit ``cls``, in order; the index and error
    of each that does not). One item that does not fit never costs the others.

    ``cls`` ``dict`` keeps the items as they came (the raw path); an item that is not a JSON
    object does not fit it.
    """
    if cls is dict:
        if all(type(item) is dict for item in items):
            return items, []
        kept, failed = [], []
        for index, item in enumerate(items):
            if type(item) is dict:
                kept.append(item)
            else:
                failed.append(
                    (
                        index,
                        ModelDecodeError(
                            f"expected a JSON object, got {type(item).__name__}",
                            path="",
                            raw=item,
                        ),
                    )
                )
        return kept, failed  # type: ignore[return-value]
    decode = _decoder(cls)
    if decode is not None:
        try:
            return [decode(item) for item in items], []
        except Exception:  # structure() decides, item by item
            pass
    decoded: list[T] = []
    failures: list[tuple[int, ModelDecodeError]] = []
    for index, item in enumerate(items):
        try:
            decoded.append(structure(item, cls))
        except ModelDecodeError as exc:
            failures.append((index, exc))
    return decoded, failures


def structure_items(items: list[Any], cls: type[T]) -> list[T]:
    """``[structure(item, cls) for item in items]``, with the decoder looked up once; the first
    item that does not fit raises, its path starting with its index (``[3].Contact.ContactKey``
    reads "item 3, field ContactKey").

    ``cls`` ``dict`` keeps the items as they came (the raw path); each must be a JSON object.
    """
    decoded, failures = decode_each(items, cls)
    if failures:
        index, error = failures[0]
        where = f"[{index}]" + (f".{error.path}" if error.path else "")
        raise ModelDecodeError(error.reason, path=where, raw=error.raw) from error
    return decoded


def _failures(exc: BaseException, path: str) -> Iterator[tuple[str, str]]:
    """(field path, message) of every leaf error of a cattrs error tree, JSON keys in the path."""
    if not isinstance(exc, BaseValidationError):
        yield path, "required, but missing" if isinstance(exc, KeyError) else str(exc)
        return
    owner: Any = getattr(exc, "cl", None)
    for inner in exc.exceptions:
        step = ""
        for note in getattr(inner, "__notes__", ()):
            if isinstance(note, AttributeValidationNote):
                fields = attrs.fields_dict(owner) if attrs.has(owner) else {}
                field = fields.get(note.name)
                step = "." + (api_name(field) if field is not None else note.name)
            elif isinstance(note, IterableValidationNote):
                step = f"[{note.index}]"
        yield from _failures(inner, path + step)


def unstructure(model: Any) -> Any:
    """The API's JSON form of a model (PascalCase keys, ISO datetimes, unknown fields kept)."""
    return _converter.unstructure(model)


@attrs.frozen
class _Slot:
    """What the request checks need to know about one model field."""

    name: str
    key: str
    model: type[KarbonModel] | None  # the model class of the value, or of its list items
    items_nullable: bool
    type: Any  # the field's declared type


_SLOTS: dict[type[KarbonModel], tuple[_Slot, ...]] = {}


def _slots(cls: type[KarbonModel]) -> tuple[_Slot, ...]:
    cached = _SLOTS.get(cls)
    if cached is not None:
        return cached
    attrs.resolve_types(cls)
    slots = []
    for field in attrs.fields(cls):
        if field.name == "extra":
            continue
        model: type[KarbonModel] | None = None
        items_nullable = False
        for arg in _union_args(field.type):
            if get_origin(arg) is list:
                (item,) = get_args(arg)
                items_nullable = type(None) in _union_args(item)
                arg = next((a for a in _union_args(item) if a is not type(None)), item)
            if _is_model(arg):
                model = arg
        slots.append(_Slot(field.name, api_name(field), model, items_nullable, field.type))
    _SLOTS[cls] = tuple(slots)
    return _SLOTS[cls]


def without_nulls(document: Any, cls: type[Any]) -> Any:
    """``document`` (JSON for ``cls``) without the nulls of its known fields, at any depth.

    Writing a fetched record back (``modify``) must not send a null nobody set: the API answers
    null where its spec does not allow it, and for a field the GET left out the response model
    holds None too. Unknown keys are kept verbatim, and so are null items of a list whose items
    may be null.
    """
    if not isinstance(document, Mapping) or not _is_model(cls):
        return document
    slots = {slot.key: slot for slot in _slots(cls)}
    kept: dict[str, Any] = {}
    for key, value in document.items():
        slot = slots.get(key)
        if slot is not None:
            if value is None:
                continue
            if slot.model is not None and isinstance(value, list):
                value = [
                    without_nulls(item, slot.model)
                    for item in value
                    if item is not None or slot.items_nullable
                ]
            elif slot.model is not None:
                value = without_nulls(value, slot.model)
        kept[key] = value
    return kept
