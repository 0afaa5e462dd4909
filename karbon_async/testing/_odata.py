"""A small OData ``$filter``/``$orderby`` engine for the fake server.

Karbon's lists take OData v2-style query options. The fake has to answer them the way the real
service does so client code (paging, incremental sync, lookups by name) can be tested end to end.
It is a real tokenizer plus a recursive-descent parser that compiles the expression into a Python
predicate: never ``eval``, so a hostile or malformed filter can only ever produce a 400.

Supported: ``eq ne gt ge lt le``, ``and or not``, parentheses, ``Field in ('a','b')``,
``Collection/any(x: x in ('a','b'))`` (and any other predicate on ``x``),
``contains/startswith/endswith(Field,'v')``, ``tolower/toupper(Field)``,
``day/month/year/hour/minute/second(Field)`` (UTC), string literals with
``''`` escaping, integers and decimals, ``true``/``false``/``null`` and unquoted ISO dates and
datetimes (``2024-01-01``, ``2024-01-01T00:00:00Z``, fractional seconds to any precision).
Datetime comparisons and ordering use parsed instants, not strings, so ``.7188114Z`` values and
``+00:00`` offsets compare correctly.

The grammar is wider than any one Karbon endpoint: a :class:`FilterPolicy` says which logical
operators and functions an endpoint accepts, and is applied after parsing (as ASP.NET OData
validates a parsed tree), with the live service's "... is not allowed" messages.
"""

from __future__ import annotations

import calendar
import re
import time
from collections.abc import Callable, Collection, Mapping
from typing import Any

import attrs

__all__ = [
    "FilterPolicy",
    "ODataError",
    "OrderClause",
    "compile_filter",
    "parse_datetime",
    "parse_orderby",
    "sort_records",
]

Record = Mapping[str, Any]
Predicate = Callable[[Record], bool]
_Getter = Callable[[Record], Any]


class ODataError(ValueError):
    """A query option the fake (and Karbon) rejects with 400 and code 4002."""


_DATETIME_RE = re.compile(
    r"(\d{4})-(\d{2})-(\d{2})"
    r"(?:T(\d{2}):(\d{2})(?::(\d{2})(?:\.(\d+))?)?)?"
    r"(Z|[+-]\d{2}:\d{2})?"
)


@attrs.frozen(order=True)
class Instant:
    """A UTC instant with nanosecond precision.

    ``datetime`` cannot hold .NET's 7-digit ticks, and Python 3.10's ``fromisoformat`` rejects
    them outright, so the fake keeps its own exact, totally ordered representation.
    """

    nanos: int


def parse_datetime(text: str) -> Instant | None:
    """Parse an ISO 8601 date or datetime as Karbon writes them; None when it is not one."""
    m = _DATETIME_RE.fullmatch(text)
    if m is None:
        return None
    year, month, day, hour, minute, second, frac, zone = m.groups()
    try:
        seconds = calendar.timegm(
            (int(year), int(month), int(day), int(hour or 0), int(minute or 0), int(second or 0))
        )
    except (ValueError, OverflowError):
        return None
    if not (1 <= int(month) <= 12 and 1 <= int(day) <= 31):
        return None
    if zone and zone != "Z":
        sign = 1 if zone[0] == "+" else -1
        seconds -= sign * (int(zone[1:3]) * 3600 + int(zone[4:6]) * 60)
    nanos = int((frac or "0")[:9].ljust(9, "0"))
    return Instant(seconds * 1_000_000_000 + nanos)


# --------------------------------------------------------------------------- tokenizer

_TOKEN_RE = re.compile(
    r"""
    (?P<ws>\s+)
  | (?P<string>'(?:[^']|'')*')
  | (?P<datetime>\d{4}-\d{2}-\d{2}(?:T\d{2}:\d{2}(?::\d{2}(?:\.\d+)?)?)?(?:Z|[+-]\d{2}:\d{2})?)
  | (?P<number>-?\d+(?:\.\d+)?)
  | (?P<ident>[A-Za-z_][A-Za-z0-9_]*(?:/[A-Za-z_][A-Za-z0-9_]*)*)
  | (?P<punct>[(),:])
    """,
    re.VERBOSE,
)


@attrs.frozen
class _Token:
    kind: str
    text: str
    pos: int


def _tokenize(text: str) -> list[_Token]:
    tokens: list[_Token] = []
    pos = 0
    while pos < len(text):
        m = _TOKEN_RE.match(text, pos)
        if m is None:
            raise ODataError(f"Syntax error at position {pos} in '{text}'.")
        kind = m.lastgroup or ""
        if kind != "ws":
            tokens.append(_Token(kind, m.group(), pos))
        pos = m.end()
    tokens.append(_Token("end", "", len(text)))
    return tokens


# --------------------------------------------------------------------------- parser

_COMPARISONS = frozenset({"eq", "ne", "gt", "ge", "lt", "le"})
_KEYWORDS = _COMPARISONS | {"and", "or", "not", "in", "true", "false", "null"}
_LAMBDA_PREFIX = "\x00lambda:"
_BOOL_FUNCS = {"contains": 2, "startswith": 2, "endswith": 2}
_STR_FUNCS = {"tolower": 1, "toupper": 1}
_DATE_PARTS = {"year": 0, "month": 1, "day": 2, "hour": 3, "minute": 4, "second": 5}

# How ASP.NET OData names the operators in "Logical operator '<Name>' is not allowed".
OPERATOR_NAMES = {
    "eq": "Equal",
    "ne": "NotEqual",
    "gt": "GreaterThan",
    "ge": "GreaterThanOrEqual",
    "lt": "LessThan",
    "le": "LessThanOrEqual",
    "and": "And",
    "or": "Or",
    "not": "Not",
}


def _no_property(name: str, type_name: str) -> str:
    return f"Could not find a property named '{name}' on type 'KarbonService.{type_name}'."


@attrs.frozen
class FilterPolicy:
    """What one endpoint's ``$filter`` may use: ``operators`` (keys of :data:`OPERATOR_NAMES`),
    ``functions`` (``contains``, ``day``, ``any``, ...) and ``fields`` (None: any the records
    have). ``in`` is not validated: ASP.NET OData has no allowed-operator flag for it.

    Operators and functions are judged before fields: live, ``day(LastModifiedDateTime)`` on
    Contacts is refused for ``day`` although the field is not filterable either."""

    operators: frozenset[str]
    functions: frozenset[str]
    fields: frozenset[str] | None = None

    def check(self, used: list[tuple[str, str]], type_name: str) -> None:
        for kind, name in used:
            if kind == "operator" and name not in self.operators:
                raise ODataError(
                    f"Logical operator '{OPERATOR_NAMES[name]}' is not allowed. To allow it, set "
                    "the 'AllowedLogicalOperators' property on EnableQueryAttribute or "
                    "QueryValidationSettings."
                )
            if kind == "function" and name not in self.functions:
                raise ODataError(
                    f"Function '{name}' is not allowed. To allow it, set the 'AllowedFunctions' "
                    "property on EnableQueryAttribute or QueryValidationSettings."
                )
        for kind, name in used:
            if kind == "field" and self.fields is not None and name not in self.fields:
                raise ODataError(_no_property(name, type_name))


@attrs.frozen
class _Operand:
    """A compiled value expression plus whether it yields a boolean (for validation)."""

    get: _Getter
    is_bool: bool = False
    field: str | None = None


class _Parser:
    """Recursive descent over the grammar::

    or   := and ('or' and)*
    and  := not ('and' not)*
    not  := 'not' not | cmp
    cmp  := value (COMPARISON value | 'in' '(' value (',' value)* ')')?
    value:= '(' or ')' | FUNC '(' args ')' | literal | property
    """

    def __init__(
        self,
        text: str,
        fields: Collection[str],
        type_name: str,
        case_insensitive: Collection[str],
    ) -> None:
        self.text = text
        self.tokens = _tokenize(text)
        self.i = 0
        self.fields = fields
        self.type_name = type_name
        self.case_insensitive = case_insensitive
        self.lambda_vars: set[str] = set()
        self.used: list[tuple[str, str]] = []  # ("operator"|"function"|"field", name)

    # -- helpers
    def peek(self) -> _Token:
        return self.tokens[self.i]

    def take(self) -> _Token:
        tok = self.tokens[self.i]
        self.i += 1
        return tok

    def error(self, tok: _Token | None = None) -> ODataError:
        tok = tok or self.peek()
        return ODataError(f"Syntax error at position {tok.pos} in '{self.text}'.")

    def expect(self, text: str) -> None:
        tok = self.take()
        if tok.text != text:
            raise self.error(tok)

    def is_keyword(self, word: str) -> bool:
        tok = self.peek()
        return tok.kind == "ident" and tok.text == word

    # -- grammar
    def parse(self) -> Predicate:
        expr = self.parse_or()
        if self.peek().kind != "end":
            raise self.error()
        if not (expr.is_bool or expr.field is not None):
            raise ODataError(
                f"The $filter expression must evaluate to a single boolean value: '{self.text}'."
            )
        get = expr.get
        return lambda record: get(record) is True

    def parse_or(self) -> _Operand:
        left = self.parse_and()
        while self.is_keyword("or"):
            self.take()
            self.used.append(("operator", "or"))
            right = self.parse_and()
            self._require_bool(left, right)
            left = _Operand(_or(left.get, right.get), True)
        return left

    def parse_and(self) -> _Operand:
        left = self.parse_not()
        while self.is_keyword("and"):
            self.take()
            self.used.append(("operator", "and"))
            right = self.parse_not()
            self._require_bool(left, right)
            left = _Operand(_and(left.get, right.get), True)
        return left

    def parse_not(self) -> _Operand:
        if self.is_keyword("not"):
            self.take()
            self.used.append(("operator", "not"))
            inner = self.parse_not()
            self._require_bool(inner)
            get = inner.get
            return _Operand(lambda r: get(r) is not True, True)
        return self.parse_comparison()

    def parse_comparison(self) -> _Operand:
        left = self.parse_value()
        tok = self.peek()
        if tok.kind == "ident" and tok.text in _COMPARISONS:
            self.take()
            self.used.append(("operator", tok.text))
            right = self.parse_value()
            return _Operand(_compare(tok.text, left.get, right.get, self._ci(left, right)), True)
        if tok.kind == "ident" and tok.text == "in":
            self.take()
            self.expect("(")
            options = [self.parse_value().get]
            while self.peek().text == ",":
                self.take()
                options.append(self.parse_value().get)
            self.expect(")")
            eq = [_compare("eq", left.get, o, self._ci(left)) for o in options]
            return _Operand(lambda r: any(f(r) for f in eq), True)
        return left

    def parse_value(self) -> _Operand:
        tok = self.take()
        if tok.kind == "punct" and tok.text == "(":
            inner = self.parse_or()
            self.expect(")")
            return inner
        if tok.kind == "string":
            s = tok.text[1:-1].replace("''", "'")
            return _Operand(lambda r: s)
        if tok.kind == "number":
            n: int | float = float(tok.text) if "." in tok.text else int(tok.text)
            return _Operand(lambda r: n)
        if tok.kind == "datetime":
            instant = parse_datetime(tok.text)
            if instant is None:
                raise self.error(tok)
            return _Operand(lambda r: instant)
        if tok.kind != "ident":
            raise self.error(tok)
        word = tok.text
        if word == "true":
            return _Operand(lambda r: True, True)
        if word == "false":
            return _Operand(lambda r: False, True)
        if word == "null":
            return _Operand(lambda r: None)
        if self.peek().text == "(" and (
            word in _BOOL_FUNCS or word in _STR_FUNCS or word in _DATE_PARTS
        ):
            return self.parse_function(word)
        if word in _KEYWORDS:
            raise self.error(tok)
        return self.parse_property(tok)

    def parse_function(self, name: str) -> _Operand:
        self.used.append(("function", name))
        self.expect("(")
        args = [self.parse_value()]
        while self.peek().text == ",":
            self.take()
            args.append(self.parse_value())
        self.expect(")")
        arity = _BOOL_FUNCS.get(name) or _STR_FUNCS.get(name) or 1
        if len(args) != arity:
            raise ODataError(
                f"No function signature for the function with name '{name}' matches the "
                f"specified arguments."
            )
        if name in _STR_FUNCS:
            upper = name == "toupper"
            arg = args[0].get

            def convert(r: Record) -> Any:
                v = arg(r)
                if not isinstance(v, str):
                    return v
                return v.upper() if upper else v.lower()

            return _Operand(convert)
        if name in _DATE_PARTS:
            return _Operand(_date_part(args[0].get, _DATE_PARTS[name]))
        hay, needle = args[0].get, args[1].get
        ci = self._ci(*args)
        test: Callable[[str, str], bool] = {
            "contains": lambda h, n: n in h,
            "startswith": lambda h, n: h.startswith(n),
            "endswith": lambda h, n: h.endswith(n),
        }[name]

        def call(r: Record) -> bool | None:
            h, n = hay(r), needle(r)
            if not isinstance(h, str) or not isinstance(n, str):
                return None
            if ci:
                h, n = h.casefold(), n.casefold()
            return test(h, n)

        return _Operand(call, True)

    def parse_property(self, tok: _Token) -> _Operand:
        path = tok.text.split("/")
        if path[0] in self.lambda_vars:
            slot = _LAMBDA_PREFIX + path[0]
            rest = path[1:]

            def get_var(r: Record) -> Any:
                value: Any = r.get(slot)
                for part in rest:
                    value = value.get(part) if isinstance(value, Mapping) else None
                return value

            return _Operand(get_var, field=None)
        if path[-1] == "any" and len(path) > 1 and self.peek().text == "(":
            return self.parse_any(tok, path[:-1])
        if path[0] not in self.fields:
            raise ODataError(_no_property(path[0], self.type_name))
        self.used.append(("field", path[0]))

        def get(r: Record) -> Any:
            value: Any = r
            for part in path:
                if not isinstance(value, Mapping):
                    return None
                value = value.get(part)
            return value

        return _Operand(get, field=path[0])

    def parse_any(self, tok: _Token, path: list[str]) -> _Operand:
        """``Items/any(x: <predicate on x>)``: true when some element satisfies it."""
        self.used.append(("function", "any"))
        collection = self.parse_property(_Token("ident", "/".join(path), tok.pos)).get
        self.expect("(")
        var = self.take()
        if var.kind != "ident" or "/" in var.text or var.text in _KEYWORDS:
            raise self.error(var)
        self.expect(":")
        self.lambda_vars.add(var.text)
        try:
            body = self.parse_or()
        finally:
            self.lambda_vars.discard(var.text)
        self.expect(")")
        slot = _LAMBDA_PREFIX + var.text
        predicate = body.get

        def run(r: Record) -> bool:
            items = collection(r)
            if not isinstance(items, list):
                return False
            return any(predicate({**r, slot: item}) is True for item in items)

        return _Operand(run, True)

    def _ci(self, *operands: _Operand) -> bool:
        return any(o.field in self.case_insensitive for o in operands)

    def _require_bool(self, *operands: _Operand) -> None:
        # A property may be boolean (Karbon has no schema here), so it is allowed too.
        if not all(o.is_bool or o.field is not None for o in operands):
            raise ODataError(f"A binary operator requires boolean operands in '{self.text}'.")


def _date_part(arg: _Getter, part: int) -> _Getter:
    """``day(Field)`` and friends: a component of the field's UTC datetime (None if not one)."""

    def run(r: Record) -> int | None:
        value = arg(r)
        instant = parse_datetime(value) if isinstance(value, str) else value
        if not isinstance(instant, Instant):
            return None
        return int(time.gmtime(instant.nanos // 1_000_000_000)[part])

    return run


def _and(a: _Getter, b: _Getter) -> _Getter:
    return lambda r: a(r) is True and b(r) is True


def _or(a: _Getter, b: _Getter) -> _Getter:
    return lambda r: a(r) is True or b(r) is True


def _coerce(a: Any, b: Any) -> tuple[Any, Any]:
    """Bring two operands to comparable types: datetimes parse strings, numbers stay numbers."""
    if isinstance(a, Instant) and isinstance(b, str):
        return a, parse_datetime(b)
    if isinstance(b, Instant) and isinstance(a, str):
        return parse_datetime(a), b
    return a, b


def _compare(op: str, left: _Getter, right: _Getter, case_insensitive: bool) -> _Getter:
    def run(r: Record) -> bool:
        a, b = _coerce(left(r), right(r))
        if case_insensitive:
            if isinstance(a, str):
                a = a.casefold()
            if isinstance(b, str):
                b = b.casefold()
        if op == "eq":
            return bool(a == b)
        if op == "ne":
            return bool(a != b)
        if a is None or b is None:
            return False
        if isinstance(a, bool) != isinstance(b, bool):
            return False
        try:
            if op == "gt":
                return bool(a > b)
            if op == "ge":
                return bool(a >= b)
            if op == "lt":
                return bool(a < b)
            return bool(a <= b)
        except TypeError:
            return False

    return run


def compile_filter(
    text: str,
    fields: Collection[str],
    type_name: str,
    case_insensitive: Collection[str] = (),
    policy: FilterPolicy | None = None,
) -> Predicate:
    """Compile ``$filter`` text into a predicate over list-shaped records.

    ``fields`` are the properties a filter may name (anything else is Karbon's "Could not find a
    property" 400); ``type_name`` appears in that message; ``case_insensitive`` lists properties
    Karbon compares without regard to case (FullName and EmailAddress on Contacts/Organizations).
    ``policy``: the operators and functions the endpoint allows (None: all the grammar has).
    """
    if not text.strip():
        raise ODataError("The $filter query option cannot be empty.")
    parser = _Parser(text, fields, type_name, case_insensitive)
    predicate = parser.parse()
    if policy is not None:
        policy.check(parser.used, type_name)
    return predicate


# --------------------------------------------------------------------------- $orderby


@attrs.frozen
class OrderClause:
    """One ``Field [asc|desc]`` item of ``$orderby``."""

    field: str
    descending: bool = False


def parse_orderby(text: str, allowed: Collection[str]) -> list[OrderClause]:
    """Parse ``$orderby``; properties outside ``allowed`` get Karbon's 4002 message."""
    clauses: list[OrderClause] = []
    for raw in text.split(","):
        parts = raw.split()
        if not parts or len(parts) > 2 or (len(parts) == 2 and parts[1] not in ("asc", "desc")):
            raise ODataError(f"Syntax error in $orderby '{text}'.")
        if parts[0] not in allowed:
            raise ODataError(
                f"The property '{parts[0]}' cannot be used in the $orderby query option."
            )
        clauses.append(OrderClause(parts[0], len(parts) == 2 and parts[1] == "desc"))
    return clauses


def _sort_value(value: Any) -> tuple[int, Any]:
    """A total order per field: nulls first, then datetimes, numbers, and casefolded strings."""
    if value is None:
        return (0, 0)
    if isinstance(value, bool | int | float):
        return (1, value)
    if isinstance(value, str):
        instant = parse_datetime(value)
        if instant is not None:
            return (2, instant)
        return (3, value.casefold())
    return (4, str(value))


def sort_records(
    records: list[dict[str, Any]], clauses: list[OrderClause], key_field: str
) -> list[dict[str, Any]]:
    """Sort by the clauses, ties broken by the entity key so paging is stable between calls."""
    ordered = sorted(records, key=lambda r: str(r.get(key_field)))
    for clause in reversed(clauses):
        ordered.sort(key=lambda r: _sort_value(r.get(clause.field)), reverse=clause.descending)
    return ordered
