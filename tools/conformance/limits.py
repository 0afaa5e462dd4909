"""Everything the conformance check excuses, in one place, each with its reason.

1. The SDK's deliberate tightenings of the spec (``tighten``): the curated tables of
   ``tools/generate_models.py`` -- RECORD_KEYS (a record's own key is required when decoding),
   EXTRA_REQUIRED and EXTRA_LIMITS (request facts stated in prose). The property tests generate
   instances of the tightened schemas, and a Prism body that only breaks a tightening is a note.
2. Spec defects: a response body that breaks the operation's own response schema is a "spec"
   note when the SDK refuses it (``schema_errors``; e.g. the getPayments example omits the
   PaymentKey its schema requires, in a list it calls ``value`` where the schema says
   ``values``: ``as_spec_names``); a ``$orderby`` value the spec enumerates that is not a
   field (``orderby_typos``: the generator's own rule, ``operations_gen.orderby_fields``) is
   not sent.
3. Where Prism, not the SDK, cannot do what the check needs (``KNOWN_LIMITS``): one row per
   limit. A row excuses an operation's *response* in one mode ("static", "dynamic" or "*" for
   both) when every decode problem contains its symptom; the request must still be valid. Rows
   that excused nothing in a run are listed at the end of it, so a stale row is noticed.

Not excused, because the harness avoids it: Prism's ``@odata.nextLink`` is the spec's example
(production) or random text, never a link to Prism, so list calls read one page
(``max_items=1``; the SDK still decodes the whole page) and following links is not checked.
"""

from __future__ import annotations

import copy
from collections.abc import Sequence
from typing import Any

import attrs
import jsonschema  # type: ignore[import-untyped]  # the dev extras carry no stubs for it
from contract_gen import apply_extras
from generate_models import EXTRA_LIMITS, EXTRA_REQUIRED, RECORD_KEYS
from operations_gen import orderby_fields

from karbon_async._generated.operations import OPERATIONS

from .spec import Spec


@attrs.frozen
class Limit:
    operation_id: str
    """An operationId, or "*" for any."""
    mode: str
    symptom: str
    """Text that each of the operation's decode problems contains."""
    reason: str


KNOWN_LIMITS: tuple[Limit, ...] = (
    Limit(
        "downloadFile",
        "*",
        "ServerError: 500",
        "Prism cannot serve application/octet-stream: the spec gives the 200 body no schema or "
        "example (static: 'Cannot find serializer'; dynamic: 'schema is not defined')",
    ),
    Limit(
        "downloadFileDetailsByKey",
        "static",
        "ConnectError: not sent",
        "the 302's Location is the spec's example, a production URL the harness never contacts",
    ),
    Limit(
        "downloadFileDetailsByKey",
        "dynamic",
        "NotFoundError: 404",
        "the 302's Location is random text, which resolves to a path Prism does not serve",
    ),
    Limit(
        "*",
        "dynamic",
        "UnsafeURLError: not an absolute http(s) URL",
        "Prism sent an empty page whose @odata.nextLink is random text: the paginator has to "
        "follow it to go on, and rightly refuses",
    ),
)


def limit_for(operation_id: str, mode: str, problems: Sequence[str]) -> Limit | None:
    """The row that explains these decode problems of the operation, if one does."""
    decode = [p for p in problems if p.startswith("decode:")]
    for row in KNOWN_LIMITS:
        applies = row.operation_id in (operation_id, "*") and row.mode in (mode, "*")
        if applies and decode and all(row.symptom in p for p in decode):
            return row
    return None


# -- 1. the SDK's tightenings ------------------------------------------------------------------


def tighten(bundled: dict[str, Any], operation_id: str, *, request: bool) -> dict[str, Any]:
    """``bundled`` (a schema from ``Spec.bundled``) with the SDK's curated tables applied: for a
    request body, EXTRA_REQUIRED and EXTRA_LIMITS of the request class; for a response, the
    record key of the response class (of each item, for a list) made required."""
    operation = OPERATIONS[operation_id]
    result = copy.deepcopy(bundled)
    if request:
        model = operation.request_model
        if model is not None:
            node = _inline(result, result)
            _merge_property_branches(result, node)
            apply_extras(node, model.__name__, EXTRA_REQUIRED, EXTRA_LIMITS)
        return result
    key = RECORD_KEYS.get(operation.response_model.__name__) if operation.response_model else None
    if key is None:
        return result
    node = _inline(result, result)
    if operation.list_key is not None:
        properties = node.setdefault("properties", {})
        listed = _inline(result, properties.setdefault(operation.list_key, {}))
        node = _inline(result, listed.setdefault("items", {}))
    node["required"] = sorted({*node.get("required", []), key})
    return result


def _merge_property_branches(root: dict[str, Any], node: dict[str, Any]) -> None:
    """An ``anyOf`` whose branches each only list properties (UpdateWorkItem: one property per
    branch) read literally checks nothing: any branch admits any value for the other branches'
    properties. Read it as meant, the way FakeKarbon's contract does (``tools/contract_gen.py``):
    one object with every branch's properties."""
    branches = [_inline(root, branch) for branch in node.get("anyOf", [])]
    if not branches or not all(set(b) <= {"properties", "type"} for b in branches):
        return
    properties = node.setdefault("properties", {})
    for branch in branches:
        properties.update(branch.get("properties", {}))
    del node["anyOf"]


def _inline(root: dict[str, Any], node: dict[str, Any]) -> dict[str, Any]:
    """``node`` with its top-level ``$ref`` (into ``root``'s components) replaced by a copy of
    the target, so keywords added to it apply to this use only."""
    while isinstance(node.get("$ref"), str):
        ref = node.pop("$ref")
        target = root
        for part in ref.removeprefix("#/").split("/"):
            target = target[part]
        for keyword, value in copy.deepcopy(target).items():
            node.setdefault(keyword, value)
    return node


# -- 2. spec defects ---------------------------------------------------------------------------


def schema_errors(schema: dict[str, Any], instance: Any, limit: int = 3) -> list[str]:
    """Where ``instance`` breaks ``schema`` (a bundled schema; JSON Schema 2020-12, formats
    checked): at most ``limit`` errors, each ``path: message``."""
    validator = jsonschema.Draft202012Validator(
        schema, format_checker=jsonschema.Draft202012Validator.FORMAT_CHECKER
    )
    errors = sorted(validator.iter_errors(instance), key=lambda e: list(e.absolute_path))
    return [
        f"{'/'.join(str(p) for p in e.absolute_path) or '<body>'}: {e.message[:200]}"
        for e in errors[:limit]
    ]


def as_spec_names(operation_id: str, body: Any) -> Any:
    """``body`` with its list under the name the operation's schema gives it: the spec names the
    Invoices and Payments lists ``values``, while the API and the spec's own examples send
    ``value``; the SDK reads either, so the list is checked against the schema either way."""
    list_key = OPERATIONS[operation_id].list_key
    if not isinstance(body, dict) or list_key is None or list_key in body:
        return body
    other = next((name for name in ("value", "values") if name in body), None)
    if other is None:
        return body
    renamed = {k: v for k, v in body.items() if k != other}
    renamed[list_key] = body[other]
    return renamed


def orderby_typos(spec: Spec, operation_id: str) -> list[str]:
    """The ``$orderby`` values the spec enumerates for the operation that name no field by the
    generator's own reading (``DateLastWorkItemCreateddesc``, a lost space): the SDK rightly
    refuses to send them."""
    typos: list[str] = []
    for param in spec.parameters(operation_id):
        if param.get("in") != "query" or param.get("name") != "$orderby":
            continue
        fields = orderby_fields(param)
        for value in spec.deref(param.get("schema") or {}).get("enum") or []:
            # The generator's reading of this value alone: its field, direction dropped.
            if orderby_fields({"schema": {"enum": [value]}})[0] not in fields:
                typos.append(value)
    return typos
