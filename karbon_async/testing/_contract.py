"""Strict mode: requests checked against the spec's request contract before a handler runs.

The contract (``_generated_contract``, generated from the spec by ``tools/contract_gen.py``)
holds, per operation, the JSON body schema and the path/header parameter schemas. A request
that breaks it is answered 400 in Karbon's error shape, the way the live API refuses it, so a
client that passes against the strict fake sends what the spec allows.

Checked: JSON types (an integral float counts as an integer, a bool never as a number), ``null``
only where the schema allows it, required properties, enum values (compared exactly: the
spec's spelling, case and spaces included), max/min string length, ``pattern``, ``date`` and
``date-time`` strings, numeric minimum/maximum/exclusiveMinimum, ``additionalProperties:
false``, array items, and path/header parameters (enum, length).

Where live Karbon was seen to accept what the schema forbids, the check follows live (each case
a row of ``_live_behaviours``): an explicit ``null`` for a property the schema does not require
counts as omitted; free-text address and phone ``Label`` values and a few AccountingDetail
values pass (FREE_TEXT_ENUMS, EXTRA_ENUM_VALUES); a plain date passes as a date-time; the
AccountingDetail integers accept numeric strings. FakeKarbon's ``spec_pedantic=True`` turns
these allowances off and checks the spec to the letter.

Not checked: unknown extra properties (the live API tolerates them, e.g. on PUT WorkItems);
other ``format`` values (uri, email, decimal, int32); bodies that are empty, not JSON or not an
object (the handlers answer those with Karbon's 4005 as before); multipart uploads; query
options (``_entity_sets``/``_odata`` check those); anything that needs the account's data
(unknown keys, work types, emails), which stays with the handlers.

Errors: operations whose spec documents Karbon's 4003 "Invalid Model." (POST/PUT WorkItems)
answer that, with ``details.target`` such as ``workItem.FeeSettings.FeeType``; the others
answer 4005 "Required payload data is missing: <entity>" for a missing required property and
4002 with a message naming the property for a bad value. A bad path parameter gets the answer
the spec documents for it where there is one.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from datetime import date, datetime
from typing import Any

from ._common import Reply, error, invalid_model
from ._generated_contract import CONTRACT
from ._live_behaviours import ACCOUNTING_INTEGERS, EXTRA_ENUM_VALUES, FREE_TEXT_ENUMS

__all__ = ["ContractViolation", "check_request", "operation_for"]

_DATE = re.compile(r"\d{4}-\d{2}-\d{2}")
_DATE_TIME = re.compile(
    r"(?P<date>\d{4}-\d{2}-\d{2})T(?P<time>\d{2}:\d{2}(?::\d{2}(?:\.\d{1,7})?)?)"
    r"(?P<zone>Z|[+-]\d{2}:\d{2})?",
    re.IGNORECASE,
)
_TYPE_NAMES = {
    "string": "a string",
    "integer": "an integer",
    "number": "a number",
    "boolean": "a boolean",
    "array": "an array",
    "object": "an object",
    "null": "null",
}


class ContractViolation(Exception):
    """One way a value breaks its schema: where (dotted path) and what."""

    def __init__(self, path: str, message: str, *, missing: bool = False) -> None:
        super().__init__(message)
        self.path = path
        self.message = message
        self.missing = missing


def _compile(key: str) -> tuple[str, re.Pattern[str], int]:
    method, path = key.split(" ", 1)
    parts = re.split(r"\{([^}]+)\}", path[len("/v3/") :])
    pattern = "".join(
        re.escape(part) if i % 2 == 0 else f"(?P<{part}>[^/]+?)" for i, part in enumerate(parts)
    )
    literal = sum(len(part) for part in parts[::2])
    return method, re.compile(pattern + "/?", re.IGNORECASE), literal


# Literal-rich templates first, so ".../GetContactByUserDefinedIdentifier(...)" beats "{key}".
_TEMPLATES = sorted(((*_compile(key), key) for key in CONTRACT), key=lambda t: (-t[2], t[3]))


def operation_for(method: str, path: str) -> tuple[str, dict[str, str]] | None:
    """The contract key ("PUT /v3/WorkItems/{WorkItemKey}") and path parameters of a request.

    ``path`` is the part after "/v3/"; HEAD is checked as GET.
    """
    method = "GET" if method == "HEAD" else method
    for op_method, pattern, _literal, key in _TEMPLATES:
        if op_method != method:
            continue
        m = pattern.fullmatch(path)
        if m is not None:
            return key, m.groupdict()
    return None


def validate(value: Any, schema: Mapping[str, Any], path: str, *, live: bool = True) -> None:
    """Raise :class:`ContractViolation` for the first way ``value`` breaks ``schema``.

    ``live``: accept what the live API was seen to accept though the schema forbids it (the
    "accepted" rows of ``_live_behaviours``); False checks the spec to the letter."""
    if "anyOf" in schema:
        failures = []
        for branch in schema["anyOf"]:
            try:
                validate(value, branch, path, live=live)
            except ContractViolation as exc:
                failures.append(exc)
            else:
                break
        else:
            raise failures[0]
    if live and isinstance(value, str) and path.rsplit(".", 1)[-1] in ACCOUNTING_INTEGERS:
        # Live coerces these numeric strings ("11") to integers (see _live_behaviours).
        value = int(value) if re.fullmatch(r"-?\d+", value.strip()) else value
    types = schema.get("type")
    if types is not None and not any(_is_type(value, t) for t in types):
        wanted = " or ".join(_TYPE_NAMES[t] for t in types)
        raise ContractViolation(path, f"{_name(path)} must be {wanted}")
    if value is None:
        return
    if "enum" in schema and value not in schema["enum"] and not (live and _live_enum(path, value)):
        raise ContractViolation(path, f"{_name(path)} must be {_choices(schema['enum'])}")
    if isinstance(value, str):
        _check_string(value, schema, path, live=live)
    elif isinstance(value, (int, float)) and not isinstance(value, bool):
        _check_number(value, schema, path)
    elif isinstance(value, list) and "items" in schema:
        for i, item in enumerate(value):
            validate(item, schema["items"], f"{path}[{i}]", live=live)
    elif isinstance(value, dict):
        _check_object(value, schema, path, live=live)


def _live_enum(path: str, value: Any) -> bool:
    """Whether live took ``value`` outside the spec's enum here: any text for a free-text
    property, or a value seen accepted (keyed ``Addresses[0].Label`` -> "Addresses.Label")."""
    where = ".".join(re.sub(r"\[\d+\]", "", path).split(".")[-2:])
    return where in FREE_TEXT_ENUMS or value in EXTRA_ENUM_VALUES.get(where, ())


def _check_object(
    value: Mapping[str, Any], schema: Mapping[str, Any], path: str, *, live: bool
) -> None:
    props = schema.get("properties", {})
    required = schema.get("required", ())
    for name in required:
        if name not in value:
            raise ContractViolation(
                _join(path, name), f"The {name} field is required.", missing=True
            )
    for name, item in value.items():
        if name in props:
            if live and item is None and name not in required:
                # Live treats an explicit null for a property it does not require as omitted
                # (the "optional-null" row of _live_behaviours).
                continue
            validate(item, props[name], _join(path, name), live=live)
        elif schema.get("additionalProperties") is False:
            raise ContractViolation(_join(path, name), f"{_name(_join(path, name))} is not allowed")


def _check_string(value: str, schema: Mapping[str, Any], path: str, *, live: bool) -> None:
    name = _name(path)
    if "maxLength" in schema and len(value) > schema["maxLength"]:
        raise ContractViolation(
            path,
            f"The field {name} must be a string with a maximum length of {schema['maxLength']}.",
        )
    if "minLength" in schema and len(value) < schema["minLength"]:
        raise ContractViolation(
            path,
            f"The field {name} must be a string with a minimum length of {schema['minLength']}.",
        )
    if "pattern" in schema and re.search(schema["pattern"], value) is None:
        raise ContractViolation(
            path, f"The field {name} must match the regular expression '{schema['pattern']}'."
        )
    fmt = schema.get("format")
    if fmt is not None and not _is_format(value, fmt, live=live):
        raise ContractViolation(path, f"The value '{value}' is not a valid {fmt} for {name}.")


def _check_number(value: float, schema: Mapping[str, Any], path: str) -> None:
    name = _name(path)
    if "minimum" in schema and value < schema["minimum"]:
        raise ContractViolation(path, f"{name} should be at least {schema['minimum']}")
    if "exclusiveMinimum" in schema and value <= schema["exclusiveMinimum"]:
        raise ContractViolation(path, f"{name} should be greater than {schema['exclusiveMinimum']}")
    if "maximum" in schema and value > schema["maximum"]:
        raise ContractViolation(path, f"{name} should be at most {schema['maximum']}")


def _is_type(value: Any, name: str) -> bool:
    if name == "null":
        return value is None
    if name == "boolean":
        return isinstance(value, bool)
    if name == "integer":
        return (isinstance(value, int) and not isinstance(value, bool)) or (
            isinstance(value, float) and value.is_integer()
        )
    if name == "number":
        return isinstance(value, (int, float)) and not isinstance(value, bool)
    if name == "string":
        return isinstance(value, str)
    if name == "array":
        return isinstance(value, list)
    if name == "object":
        return isinstance(value, dict)
    return True


def _is_format(value: str, fmt: str, *, live: bool) -> bool:
    try:
        if fmt == "date":
            return _DATE.fullmatch(value) is not None and bool(date.fromisoformat(value))
        if live and _DATE.fullmatch(value):
            # A date where a date-time is documented: live accepts it (StartDate "2021-07-11",
            # Postman #118; DeadlineDate per FACTS.md §1).
            return bool(date.fromisoformat(value))
        m = _DATE_TIME.fullmatch(value)
        if m is None:
            return False
        datetime.fromisoformat(f"{m['date']}T{m['time'].split('.')[0]}")
    except ValueError:
        return False
    return True


def _choices(values: list[Any]) -> str:
    names = ["null" if v is None else str(v) for v in values]
    return names[0] if len(names) == 1 else f"{', '.join(names[:-1])}, or {names[-1]}"


def _join(path: str, name: str) -> str:
    return f"{path}.{name}" if path else name


def _name(path: str) -> str:
    return path or "The request body"


def _reply(contract: Mapping[str, Any], violation: ContractViolation) -> Reply:
    entity = contract["entity"]
    if contract["style"] == "model":
        return invalid_model(_join(entity, violation.path), violation.message)
    if violation.missing:
        return Reply(400, error("4005", f"Required payload data is missing: {entity}"))
    return Reply(400, error("4002", violation.message))


def _param_reply(schema: Mapping[str, Any], name: str, value: str, url: str) -> Reply:
    documented = schema.get("error")
    if documented is None:
        return Reply(400, error("4002", f"The value '{value}' is not valid for {name}."))
    body = json.loads(json.dumps(documented["body"]))
    message = body["error"]["message"]
    # The spec's examples carry placeholders where the request's own text goes.
    message = re.sub(r"'[^']*<endpoint>'?", f"'{url}'.", message)
    body["error"]["message"] = re.sub(r"<[^>]+>", value, message)
    return Reply(documented["status"], body)


def check_request(
    method: str,
    path: str,
    url: str,
    headers: Mapping[str, str],
    raw: bytes | None,
    *,
    live: bool = True,
) -> Reply | None:
    """The 4xx answer for a request that breaks the contract, or None when it keeps it.

    ``path`` is the part after "/v3/"; ``raw`` is the body (None: not read, e.g. multipart);
    ``live``: as in :func:`validate`.
    """
    found = operation_for(method, path)
    if found is None:
        return None
    key, params = found
    contract = CONTRACT[key]
    for name, schema in contract.get("path", {}).items():
        try:
            validate(params.get(name, ""), schema, name)
        except ContractViolation:
            return _param_reply(schema, name, params.get(name, ""), url)
    for name, schema in contract.get("header", {}).items():
        if name in headers:
            try:
                validate(headers[name], schema, name)
            except ContractViolation:
                return _param_reply(schema, name, headers[name], url)
    if "body" not in contract or raw is None:
        return None
    try:
        body = json.loads(raw)
    except ValueError:
        return None
    if not isinstance(body, dict):
        return None
    try:
        validate(body, contract["body"], "", live=live)
    except ContractViolation as violation:
        return _reply(contract, violation)
    return None
