"""Compiled per-model decoders: the fast path from parsed JSON to a model.

The converter (``_converter.py``) is the single authority on what a JSON value decodes to; this
module only makes that cheaper. For each model class it writes a Python function once, with
each field's hook chosen ahead of time and inlined, so decoding a record costs a dict lookup
and a type test per field rather than a walk through cattrs' dispatch.

The contract, which callers rely on:

- ``Decoders(rules).lookup(cls)`` is None for anything that is not a model class; for a model
  class it is ``decode(data)``, made on first use and then kept.
- ``decode(data)`` either returns exactly what the converter would return for ``(data, cls)``
  (an equal instance, built the same way), or raises. It never returns a different value.
- It raises for anything it does not handle itself: a null where none is allowed, a string
  where a list belongs, a ``Mapping`` that is not a dict, a missing required field, a value a
  parser refuses. What it raises is unspecified (often the private ``Fallback``); the caller
  must then hand the same data to the converter, which decides and words the
  ``ModelDecodeError``. So a decoder can only make decoding faster, never change its result.
- ``data`` is never mutated.

The compiler knows nothing of cattrs: the converter hands it the parsers and hooks it uses, as
``DecodeRules``, so this module imports only the model base (no import circle).
"""

from __future__ import annotations

import datetime as dt
import types
from collections.abc import Callable, Mapping
from typing import Any, Union, get_args, get_origin

import attrs

from ._model_base import KarbonEnum, KarbonModel, Unset

__all__ = ["DecodeRules", "Decoders", "Fallback", "is_model", "union_args"]


def is_model(cls: Any) -> bool:
    return isinstance(cls, type) and issubclass(cls, KarbonModel) and attrs.has(cls)


def union_args(tp: Any) -> tuple[Any, ...]:
    return get_args(tp) if get_origin(tp) in (Union, types.UnionType) else (tp,)


class Fallback(Exception):
    """A compiled decoder met a value it leaves to the converter's hooks."""


def _fallback() -> Any:
    raise Fallback


Splitter = Callable[[Mapping[str, Any]], tuple[Mapping[str, Any], dict[str, Any]]]


@attrs.frozen
class DecodeRules:
    """What the converter decides and the compiled decoders therefore use."""

    scalars: Mapping[Any, tuple[str, Callable[[Any], Any]]]
    """``str``/``int``/``bool`` -> (the builtin's name, for an exact type test inlined in the
    decoder; the parser the converter uses for anything else)."""
    parsers: Mapping[Any, Callable[[Any], Any]]
    """Types always decoded by a parser (datetimes, dates, decimals)."""
    enum: Callable[[object, type[KarbonEnum]], KarbonEnum]
    """How the converter decodes a string into an enum (tolerant of spellings)."""
    hook: Callable[[Any], Callable[[Any, Any], Any]]
    """The converter's structure hook for a type the compiler does not inline."""
    json_name: Callable[[attrs.Attribute[Any]], str]
    """A field's JSON key."""
    splitter: Callable[[type[KarbonModel]], Splitter]
    """For a model: ``split(data)`` -> (data with keys respelled as the model spells them, the
    keys it does not know); only called when a record has a key the model does not know."""
    iso_datetime: Callable[[str], dt.datetime] | None = None
    """A parser the decoder may call inline for a ``datetime`` field's string of more than 10
    characters, adding UTC to a zone-less result: the converter's own first step for such a
    string (``parsers[datetime]`` still takes everything else). A string it refuses sends the
    record to the converter, whose parser then tries the API's other forms."""


_MISSING = object()
_ENUM_TABLE_LIMIT = 1024  # spellings remembered per enum beyond its members' own values


class Decoders:
    """The compiled decoders of one converter's rules, by model class (see the module
    docstring for the contract)."""

    def __init__(self, rules: DecodeRules) -> None:
        self.rules = rules
        self._found: dict[Any, Callable[[Any], Any] | None] = {}
        self._enum_tables: dict[type[KarbonEnum], dict[str, KarbonEnum]] = {}

    def lookup(self, cls: Any) -> Callable[[Any], Any] | None:
        try:
            return self._found[cls]
        except KeyError:
            if not is_model(cls):
                self._found[cls] = None
                return None
            return self.for_model(cls)
        except TypeError:  # an unhashable type form: the converter handles it
            return None

    def for_model(self, cls: type[KarbonModel]) -> Callable[[Any], Any]:
        """The compiled decoder of a model class, made on first use; a model that contains
        itself reaches its own decoder through this lookup while that decoder is written."""
        found = self._found.get(cls)
        if found is not None:
            return found
        self._found[cls] = lambda data: self._found[cls](data)  # type: ignore[misc]
        try:
            decoder = self._found[cls] = _Compiler(self).model(cls)
        except BaseException:
            del self._found[cls]
            raise
        return decoder

    def enum_table(self, cls: type[KarbonEnum]) -> dict[str, KarbonEnum]:
        """JSON string -> what the converter gives for it, filled as strings are met: an alias
        or an unknown value then costs one dict lookup rather than the enum's ``_missing_``."""
        table = self._enum_tables.get(cls)
        if table is None:
            table = self._enum_tables[cls] = dict(cls._value2member_map_)
        return table

    def remember_enum(
        self, value: object, cls: type[KarbonEnum], table: dict[str, KarbonEnum]
    ) -> Any:
        decoded = self.rules.enum(value, cls)
        if type(value) is str and len(table) < len(cls.__members__) + _ENUM_TABLE_LIMIT:
            table[value] = decoded
        return decoded


class _Compiler:
    """Writes one model's decoder as Python source; ``names`` are the objects the source
    refers to (hooks, classes, slot setters), bound under generated names."""

    def __init__(self, decoders: Decoders) -> None:
        self.decoders = decoders
        self.rules = decoders.rules
        self.names: dict[str, Any] = {"_fallback": _fallback, "_MISSING": _MISSING}
        self.counter = 0

    def bind(self, value: Any) -> str:
        self.counter += 1
        name = f"_{self.counter}"
        self.names[name] = value
        return name

    def expr(self, tp: Any, var: str) -> str:
        """An expression that decodes the JSON value named ``var`` into ``tp``."""
        args = union_args(tp)
        if len(args) > 1:
            # UNSET never comes from JSON; a None where the union has no None falls back.
            rest = [arg for arg in args if arg is not type(None) and arg is not Unset]
            if len(rest) != 1:
                return self.generic(tp, var)
            inner = self.expr(rest[0], var)
            return f"(None if {var} is None else {inner})" if type(None) in args else inner
        scalars, parsers = self.rules.scalars, self.rules.parsers
        if tp in scalars:
            type_name, parse = scalars[tp]
            return f"({var} if type({var}) is {type_name} else {self.bind(parse)}({var}))"
        if tp is dt.datetime and self.rules.iso_datetime is not None:
            # The common case without a call of the parser's own: a third of a datetime's cost.
            parser, iso = self.bind(parsers[tp]), self.bind(self.rules.iso_datetime)
            utc, moment = self.bind(dt.timezone.utc), f"_d{self.counter}"
            return (
                f"({parser}({var}) if type({var}) is not str or len({var}) <= 10 else"
                f" ({moment} if ({moment} := {iso}({var})).tzinfo is not None"
                f" else {moment}.replace(tzinfo={utc})))"
            )
        if tp in parsers:
            return f"{self.bind(parsers[tp])}({var})"
        if isinstance(tp, type) and issubclass(tp, KarbonEnum):
            table, found = self.bind(self.decoders.enum_table(tp)), f"_w{self.counter}"
            remember = self.bind(self.decoders.remember_enum)
            return (
                f"({found} if ({found} := {table}.get({var})) is not None"
                f" else {remember}({var}, {self.bind(tp)}, {table}))"
            )
        if is_model(tp):
            return f"{self.bind(self.decoders.for_model(tp))}({var})"
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
        return f"{self.bind(self.rules.hook(tp))}({var}, {self.bind(tp)})"

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
        """Two decoders. ``decode``, the common case: a record with exactly the model's keys,
        each read by subscript (a ``KeyError`` or a count that differs hands the record on).
        ``decode_any``: reads each field's key once and counts the keys it did not find: a
        record with as many keys as it found has none the model does not know. Otherwise the
        record's keys are split and it is decoded once more, with the known keys as the model
        spells them and the rest in ``extra``."""
        attrs.resolve_types(cls)
        rules = self.rules
        split = self.bind(rules.splitter(cls))
        lines = [
            "def decode_any(data, extra=None):",
            "    if type(data) is not dict:",
            "        _fallback()",
            "    missed = 0",
        ]
        arguments: list[tuple[attrs.Attribute[Any], str]] = []
        reads: list[str] = []
        decodes: list[str] = []
        for index, field in enumerate(attrs.fields(cls)):
            if not field.init:
                continue
            if field.name == "extra":
                arguments.append((field, "extra"))
                continue
            default = field.default
            if default is attrs.NOTHING:
                # Perhaps spelled in another case (split respells it); else the converter
                # says "required, but missing".
                missing = f"_fallback() if extra is not None else decode_any(*{split}(data))"
            elif isinstance(default, attrs.Factory):  # type: ignore[arg-type]
                if default.takes_self:
                    raise TypeError(f"{cls.__name__}.{field.name}: a default that takes self")
                missing = f"{self.bind(default.factory)}()"
            else:
                missing = self.bind(default)
            value = f"_f{index}"
            assign = "return" if default is attrs.NOTHING else f"{value} ="
            decoded = f"{value} = {self.expr(field.type, value)}"
            lines += [
                f"    {value} = data.get({rules.json_name(field)!r}, _MISSING)",
                f"    if {value} is _MISSING:",
                "        missed += 1",
                f"        {assign} {missing}",
                "    else:",
                f"        {decoded}",
            ]
            reads.append(f"        {value} = data[{rules.json_name(field)!r}]")
            decodes.append(f"    {decoded}")
            arguments.append((field, value))
        fields = sum(1 for field, value in arguments if value != "extra")
        lines += [
            "    if extra is None:",
            f"        if len(data) != {fields} - missed:",
            f"            return decode_any(*{split}(data))",
            "        extra = {}",
        ]
        construction = self.construct(cls, arguments)  # the same lines end both decoders
        lines.extend(construction)
        lines += [
            "def decode(data, extra=None):",
            f"    if extra is not None or type(data) is not dict or len(data) != {fields}:",
            "        return decode_any(data, extra)",
            "    try:",
            *reads,
            "    except KeyError:",
            "        return decode_any(data)",
            *decodes,
            "    extra = {}",
        ]
        lines.extend(construction)
        namespace = dict(self.names)
        exec("\n".join(lines), namespace)  # source written above from field types
        decode: Callable[[Any], Any] = namespace["decode"]
        return decode
