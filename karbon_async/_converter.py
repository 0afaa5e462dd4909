"""The one cattrs Converter: API JSON <-> models.

A single hook factory serves every model: it maps snake_case fields to the API's PascalCase keys
(a key that differs only in case lands in its field too), keeps unknown keys in ``extra`` (and
writes them back), and leaves ``UNSET`` fields out of bodies. Datetimes are timezone-aware
(7-digit fractional seconds and date-only strings are accepted); money and other decimals are
``Decimal``. Scalars are strict: a number where a string belongs is an error, never ``str()``-ed.
A decoding failure is a ``ModelDecodeError`` naming the field path.

Request bodies are checked against their models' types before they are written
(``_encode.request_document``).
"""

from __future__ import annotations

import datetime as dt
import math
import re
import types
from collections.abc import Callable, Iterator, Mapping
from decimal import Decimal, InvalidOperation
from typing import Any, TypeVar, Union, get_args, get_origin

import attrs
import cattrs
from cattrs.errors import AttributeValidationNote, BaseValidationError, IterableValidationNote
from cattrs.gen import make_dict_structure_fn, make_dict_unstructure_fn, override

from ._exceptions import ModelDecodeError
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
    """An int from a JSON integer; a whole number written as ``2.0`` is accepted, ``2.5`` not."""
    if isinstance(value, int) and not isinstance(value, bool):
        return value
    if isinstance(value, Decimal | float) and math.isfinite(value) and value == int(value):
        return int(value)
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


def _is_model(cls: Any) -> bool:
    return isinstance(cls, type) and issubclass(cls, KarbonModel) and attrs.has(cls)


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

    converter.register_structure_hook_factory(_admits_unset, unset_union_factory)
    converter.register_structure_hook_factory(_is_model, structure_factory)
    converter.register_unstructure_hook_factory(_is_model, unstructure_factory)
    return converter


_converter = _make_converter()


class _Fallback(Exception):
    """A compiled decoder met a value it leaves to the converter's hooks."""


def _fallback() -> Any:
    raise _Fallback


_MISSING = object()
_SCALARS: dict[Any, tuple[str, Callable[[Any], Any]]] = {
    str: ("str", parse_str),
    int: ("int", parse_int),
    bool: ("bool", parse_bool),
}
_PARSERS: dict[Any, Callable[[Any], Any]] = {
    dt.datetime: parse_datetime,
    dt.date: parse_date,
    Decimal: parse_decimal,
}


_ENUM_TABLES: dict[type[KarbonEnum], dict[str, KarbonEnum]] = {}
_ENUM_TABLE_LIMIT = 1024  # spellings remembered per enum beyond its members' own values


def _enum_table(cls: type[KarbonEnum]) -> dict[str, KarbonEnum]:
    """JSON string -> what ``cls(string)`` gives, filled as strings are met: an alias or an
    unknown value then costs one dict lookup rather than the enum's ``_missing_``."""
    table = _ENUM_TABLES.get(cls)
    if table is None:
        table = _ENUM_TABLES[cls] = dict(cls._value2member_map_)
    return table


def _remember_enum(value: object, cls: type[KarbonEnum], table: dict[str, KarbonEnum]) -> Any:
    decoded = _structure_enum(value, cls)
    if type(value) is str and len(table) < len(cls.__members__) + _ENUM_TABLE_LIMIT:
        table[value] = decoded
    return decoded


class _Compiler:
    """Writes one model's decoder as Python source: each field's hooks are chosen once, here,
    and inlined, so decoding an item costs a dict lookup and a type test per field.

    A compiled decoder gives exactly what the converter's hooks give, or raises: anything it
    does not handle itself (a null where none is allowed, a string where a list belongs, a
    ``Mapping`` that is not a dict) raises and the caller hands the item to the converter,
    which decides, and which words the ``ModelDecodeError``.
    """

    def __init__(self) -> None:
        self.names: dict[str, Any] = {"_fallback": _fallback, "_MISSING": _MISSING}
        self.counter = 0

    def bind(self, value: Any) -> str:
        self.counter += 1
        name = f"_{self.counter}"
        self.names[name] = value
        return name

    def expr(self, tp: Any, var: str) -> str:
        """An expression that decodes the JSON value named ``var`` into ``tp``."""
        args = _union_args(tp)
        if len(args) > 1:
            # UNSET never comes from JSON; a None where the union has no None falls back.
            rest = [arg for arg in args if arg is not type(None) and arg is not Unset]
            if len(rest) != 1:
                return self.generic(tp, var)
            inner = self.expr(rest[0], var)
            return f"(None if {var} is None else {inner})" if type(None) in args else inner
        if tp in _SCALARS:
            type_name, parse = _SCALARS[tp]
            return f"({var} if type({var}) is {type_name} else {self.bind(parse)}({var}))"
        if tp in _PARSERS:
            return f"{self.bind(_PARSERS[tp])}({var})"
        if isinstance(tp, type) and issubclass(tp, KarbonEnum):
            table, found = self.bind(_enum_table(tp)), f"_w{self.counter}"
            return (
                f"({found} if ({found} := {table}.get({var})) is not None"
                f" else {self.bind(_remember_enum)}({var}, {self.bind(tp)}, {table}))"
            )
        if _is_model(tp):
            return f"{self.bind(_decoder_for(tp))}({var})"
        if get_origin(tp) is list:
            (item_type,) = get_args(tp)
            self.counter += 1
            item = f"_item{self.counter}"
            return (
                f"([{self.expr(item_type, item)} for {item} in {var}]"
                f" if type({var}) is list else _fallback())"
            )
        if tp is Any:
            return var
        return self.generic(tp, var)

    def generic(self, tp: Any, var: str) -> str:
        return f"{self.bind(_converter.get_structure_hook(tp))}({var}, {self.bind(tp)})"

    def construct(
        self, cls: type[KarbonModel], arguments: list[tuple[attrs.Attribute[Any], str]]
    ) -> list[str]:
        """Source lines that build the instance from its decoded fields.

        A frozen attrs ``__init__`` sets each field through a bound ``object.__setattr__``;
        where that ``__init__`` would do nothing else (no validators, converters or init
        hooks), writing the slots directly gives the same instance for half the cost.
        """
        slots = [getattr(cls, field.name, None) for field, _ in arguments]
        plain = (
            len(arguments) == len(attrs.fields(cls))
            and all(isinstance(slot, types.MemberDescriptorType) for slot in slots)
            and all(field.validator is None and field.converter is None for field, _ in arguments)
            and not hasattr(cls, "__attrs_pre_init__")
            and not hasattr(cls, "__attrs_post_init__")
            and cls.__init__.__code__.co_filename.startswith("<attrs generated")
        )
        if not plain:
            keywords = ", ".join(f"{field.alias}={value}" for field, value in arguments)
            return [f"    return {self.bind(cls)}({keywords})"]
        lines = [f"    instance = {self.bind(object.__new__)}({self.bind(cls)})"]
        for slot, (_, value) in zip(slots, arguments, strict=True):
            lines.append(f"    {self.bind(slot.__set__)}(instance, {value})")  # type: ignore[union-attr]
        lines.append("    return instance")
        return lines

    def model(self, cls: type[KarbonModel]) -> Callable[[Any], Any]:
        attrs.resolve_types(cls)
        lines = [
            "def decode(data):",
            "    if type(data) is not dict:",
            "        _fallback()",
            f"    if not data.keys() <= {self.bind(_keys(cls).known)}:",
            f"        data, extra = {self.bind(_split_unknown)}(data, {self.bind(_keys(cls))})",
            "    else:",
            "        extra = {}",
        ]
        arguments: list[tuple[attrs.Attribute[Any], str]] = []
        for index, field in enumerate(attrs.fields(cls)):
            if not field.init:
                continue
            if field.name == "extra":
                arguments.append((field, "extra"))
                continue
            default = field.default
            if default is attrs.NOTHING:
                missing = "_fallback()"  # the converter says "required, but missing"
            elif isinstance(default, attrs.Factory):  # type: ignore[arg-type]
                if default.takes_self:
                    raise TypeError(f"{cls.__name__}.{field.name}: a default that takes self")
                missing = f"{self.bind(default.factory)}()"
            else:
                missing = self.bind(default)
            value = f"_f{index}"
            lines.append(f"    {value} = data.get({api_name(field)!r}, _MISSING)")
            decoded = self.expr(field.type, value)
            lines.append(f"    {value} = {missing} if {value} is _MISSING else {decoded}")
            arguments.append((field, value))
        lines.extend(self.construct(cls, arguments))
        namespace = dict(self.names)
        exec("\n".join(lines), namespace)  # source written above from field types
        decode: Callable[[Any], Any] = namespace["decode"]
        return decode


_DECODERS: dict[Any, Callable[[Any], Any] | None] = {}


def _decoder_for(cls: type[KarbonModel]) -> Callable[[Any], Any]:
    """The compiled decoder of a model class, made on first use; a model that contains itself
    reaches its own decoder through this lookup while that decoder is being written."""
    found = _DECODERS.get(cls)
    if found is not None:
        return found
    _DECODERS[cls] = lambda data: _DECODERS[cls](data)  # type: ignore[misc]
    try:
        decoder = _DECODERS[cls] = _Compiler().model(cls)
    except BaseException:
        del _DECODERS[cls]
        raise
    return decoder


def _decoder(cls: Any) -> Callable[[Any], Any] | None:
    try:
        return _DECODERS[cls]
    except KeyError:
        if not _is_model(cls):
            _DECODERS[cls] = None
            return None
        return _decoder_for(cls)
    except TypeError:  # an unhashable type form: the converter handles it
        return None


def structure(data: Any, cls: type[T]) -> T:
    """Decode the API's JSON (already parsed) into ``cls``; a failure is a ``ModelDecodeError``
    whose message and ``path`` name the field (``WorkItem.FeeSettings.FeeValue``)."""
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
        raise ModelDecodeError(message, path=path) from exc


def structure_items(items: list[Any], cls: type[T]) -> list[T]:
    """``[structure(item, cls) for item in items]``, with the decoder looked up once.

    ``cls`` ``dict`` keeps the items as they came (the raw path); each must be a JSON object.
    """
    if cls is dict:
        for index, item in enumerate(items):
            if type(item) is not dict:
                raise ModelDecodeError(
                    f"expected a JSON object, got {type(item).__name__}", path=f"[{index}]"
                )
        return items
    decode = _decoder(cls)
    if decode is not None:
        try:
            return [decode(item) for item in items]
        except Exception:  # structure() decides, item by item
            pass
    return [structure(item, cls) for item in items]


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


def _union_args(tp: Any) -> tuple[Any, ...]:
    return get_args(tp) if get_origin(tp) in (Union, types.UnionType) else (tp,)


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
