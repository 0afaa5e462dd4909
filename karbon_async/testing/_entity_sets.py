"""The generic GETs of the entity sets: lists with OData options, single records, UDI lookups and
TenantSettings. Everything else is a row of ``_common.ROUTES``.

Which query options, ``$filter`` fields, operators and functions, ``$expand`` names, ``$orderby``
fields and ``$top`` limit each GET takes come from the SDK's generated operation table (one
source of truth with the SDK's own checks); the collection's definition is the fallback where
the table knows nothing. Query options are judged before the key is looked up, as live does.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import quote

from aiohttp import web

from karbon_async._generated._spec_types import OperationSpec
from karbon_async._generated.operations import OPERATIONS

from ._account import FakeAccount
from ._common import Reply, error, json_response
from ._data import COLLECTIONS
from ._live_behaviours import FILTER_COMBINATORS, UDI_NAMESPACE
from ._odata import (
    OPERATOR_NAMES,
    FilterPolicy,
    ODataError,
    compile_filter,
    parse_orderby,
    sort_records,
)
from ._store import CollectionDef, CollectionStore, Record

__all__ = ["check_options", "get_entity_set", "no_resource", "require_get"]


_LIST_OPTIONS = frozenset({"$top", "$skip", "$filter", "$orderby", "$count"})


_SINGLE_OPTIONS = frozenset({"$expand"})


_OPTION_NAMES = {"orderby": "OrderBy", "skiptoken": "SkipToken", "deltatoken": "DeltaToken"}


Operation = OperationSpec[Any, Any]

_ALL_FUNCTIONS = frozenset(
    {"contains", "startswith", "endswith", "tolower", "toupper", "any"}
    | {"year", "month", "day", "hour", "minute", "second"}
)


def _get_operations() -> dict[tuple[str, str], Operation]:
    """The GET operations by (entity set, "list" | "single" | "udi")."""
    out: dict[tuple[str, str], Operation] = {}
    for op in OPERATIONS.values():
        if op.method != "GET":
            continue
        parts = op.path.split("/")
        name = parts[2].split("(")[0].lower()
        if len(parts) == 3:
            kind = "single" if "(" in parts[2] else "list"
        elif len(parts) == 4 and "ByUserDefinedIdentifier(" in parts[3]:
            kind = "udi"
        elif len(parts) == 4 and parts[3].startswith("{"):
            kind = "single"
        else:
            continue
        out[(name, kind)] = op
    return out


_OPERATIONS = _get_operations()


def _operation(definition: CollectionDef, kind: str) -> Operation | None:
    return _OPERATIONS.get((definition.name.lower(), kind))


def _query_options(op: Operation | None, fallback: frozenset[str]) -> frozenset[str]:
    if op is None:
        return fallback
    return frozenset(p.lower() for p in op.query_params if p.startswith("$"))


def _filter_policy(op: Operation | None, fallback_fields: frozenset[str] | None) -> FilterPolicy:
    if op is None or op.filters is None:
        return FilterPolicy(frozenset(OPERATOR_NAMES), _ALL_FUNCTIONS, fallback_fields)
    operators = {o for rule in op.filters for o in rule.operators if o in OPERATOR_NAMES}
    functions = {f for rule in op.filters for f in rule.functions}
    if any("any" in rule.operators for rule in op.filters):
        functions.add("any")
    return FilterPolicy(
        frozenset(operators | FILTER_COMBINATORS),
        frozenset(functions),
        frozenset(rule.field for rule in op.filters),
    )


def _option_error(name: str) -> Reply:
    bare = name.lstrip("$")
    pretty = _OPTION_NAMES.get(bare.lower(), bare[:1].upper() + bare[1:])
    return Reply(
        400,
        error(
            "4002",
            f"Query option '{pretty}' is not allowed. To allow it, set the "
            "'AllowedQueryOptions' property on EnableQueryAttribute or QueryValidationSettings.",
        ),
    )


def _expand_names(
    request: web.Request, allowed: frozenset[str] | tuple[str, ...], type_name: str
) -> list[str]:
    """The ``$expand`` items, each exactly one of ``allowed`` (no singular/plural leniency:
    Contacts take ``BusinessCards``, ClientGroups ``BusinessCard``)."""
    raw = request.query.get("$expand")
    if raw is None:
        return []
    names = []
    for item in raw.split(","):
        name = item.strip()
        if name not in allowed:
            raise Reply(
                400,
                error(
                    "4002",
                    f"Could not find a property named '{name}' on type "
                    f"'KarbonService.{type_name}'.",
                ),
            )
        names.append(name)
    return names


def _non_negative(name: str, raw: str) -> int:
    if not raw.isdigit():
        raise Reply(
            400,
            error(
                "4002",
                f"Invalid value '{raw}' for {name} query option found. The {name} query option "
                "requires a non-negative integer value.",
            ),
        )
    return int(raw)


def get_entity_set(
    request: web.Request, account: FakeAccount, rest: str, base_url: str
) -> web.StreamResponse:
    """Answer a request for ``/v3/<rest>`` that no route matched."""
    head, _, tail = rest.partition("/")
    key: str | None = None
    if not tail and head.endswith("')") and "('" in head:
        head, _, quoted = head.partition("('")
        key = quoted[:-2].replace("''", "'")
    if head.lower() == "tenantsettings" and not tail and key is None:
        require_get(request)
        check_options(request, frozenset())
        body = {"@odata.context": f"{base_url}/v3/$metadata#TenantSettings/$entity"}
        body.update(account.data.tenant_settings())
        return json_response(200, body, odata=True)
    definition = next((d for d in COLLECTIONS.values() if d.name.lower() == head.lower()), None)
    if definition is None or "/" in tail:
        raise no_resource(request)
    require_get(request)
    store = account.data.store(definition.name)
    function = definition.udi_function
    if tail and function:
        for prefix in (function + "(", UDI_NAMESPACE + function + "("):
            if tail.startswith(prefix):
                return _get_by_udi(request, store, tail[len(prefix) - 1 :], base_url)
    if tail:
        key = tail
    if key is not None:
        expand = _single_expand(request, definition, _operation(definition, "single"))
        if not store.is_key_shaped(key):
            raise Reply(400, error("4002", "Provided key must be a valid GUID."))
        return _get_single(request, store, key, expand, base_url)
    if not definition.listable:
        raise no_resource(request)
    return _get_list(request, store, base_url)


def no_resource(request: web.Request) -> Reply:
    return Reply(
        404,
        error(
            "4002",
            f"No HTTP resource was found that matches the request URI '{request.url}'.",
        ),
    )


def require_get(request: web.Request) -> None:
    if request.method not in ("GET", "HEAD"):
        raise Reply(
            405,
            error(
                "4002",
                f"The requested resource does not support http method '{request.method}'.",
            ),
        )


def check_options(request: web.Request, allowed: frozenset[str]) -> None:
    for name in request.query:
        if name.startswith("$") and name.lower() not in allowed:
            raise _option_error(name)


def _single_type_name(definition: CollectionDef) -> str:
    return (definition.single_type or ".").split(".", 1)[1]


def _single_expand(
    request: web.Request, definition: CollectionDef, op: Operation | None
) -> set[str]:
    """Check a single GET's query options; the navigation properties to include."""
    check_options(request, _query_options(op, _SINGLE_OPTIONS))
    allowed = op.expand if op is not None and op.expand is not None else definition.expand
    return set(_expand_names(request, allowed, _single_type_name(definition)))


def _single_body(store: CollectionStore, record: Record, expand: set[str], base_url: str) -> Any:
    definition = store.definition
    body: dict[str, Any] = {"@odata.context": f"{base_url}/v3/{definition.single_context}"}
    if definition.single_type:
        body["@odata.type"] = definition.single_type
    for name, value in record.items():
        if name in definition.expand and name not in expand:
            continue
        body[name] = value
    return body


def _get_single(
    request: web.Request, store: CollectionStore, key: str, expand: set[str], base_url: str
) -> web.Response:
    index = store.index_of(key)
    if index is None:
        raise Reply(404, error("4004", store.definition.not_found(key)))
    return json_response(
        200, _single_body(store, store.record_at(index), expand, base_url), odata=True
    )


def _get_by_udi(
    request: web.Request, store: CollectionStore, call_text: str, base_url: str
) -> web.Response:
    """``call_text`` is the function call after its name: ``(UserDefinedIdentifier='...')``."""
    definition = store.definition
    expand = _single_expand(request, definition, _operation(definition, "udi"))
    prefix = "(UserDefinedIdentifier='"
    if not call_text.endswith("')") or not call_text.startswith(prefix):
        raise no_resource(request)
    udi = call_text[len(prefix) : -2].replace("''", "'")
    if not udi.strip():
        raise Reply(400, error("4002", "UserDefinedIdentifier is missing or empty"))
    record = store.find_udi(udi)
    if record is None:
        raise Reply(
            404,
            error("4004", f"No {definition.udi_entity} found for provided UserDefinedIdentifer"),
        )
    return json_response(200, _single_body(store, record, expand, base_url), odata=True)


def _get_list(request: web.Request, store: CollectionStore, base_url: str) -> web.Response:
    definition = store.definition
    query = request.query
    op = _operation(definition, "list")
    fallback = _LIST_OPTIONS if definition.paged else frozenset({"$filter", "$orderby"})
    if definition.list_expand:
        fallback |= _SINGLE_OPTIONS
    allowed = _query_options(op, fallback)
    if op is not None and definition.paged:
        allowed |= {"$count"}  # not in the spec's parameters but harmless; kept for callers
    check_options(request, allowed)
    expand_allowed = op.expand if op is not None and op.expand is not None else definition.expand
    expand = _expand_names(request, expand_allowed, definition.filter_type)
    limit = (op.max_page_size if op is not None else None) or definition.max_top
    top = limit if definition.paged else max(1, store.count)
    if "$top" in query:
        top = _non_negative("$top", query["$top"])
        if top > limit:
            raise Reply(
                400,
                error(
                    "4002",
                    f"The limit of '{limit}' for Top query has been exceeded. "
                    f"The value from the incoming request is '{query['$top']}'.",
                ),
            )
    skip = _non_negative("$skip", query["$skip"]) if "$skip" in query else 0
    with_count = definition.count_default
    if "$count" in query:
        raw_count = query["$count"].lower()
        if raw_count not in ("true", "false"):
            raise Reply(400, error("4002", f"'{query['$count']}' is not a valid count option."))
        with_count = raw_count == "true"
    filter_text = query.get("$filter")
    orderby_text = query.get("$orderby")
    try:
        if filter_text is not None or orderby_text is not None:
            items = [store.summary_at(i) for i in store.iter_indexes()]
            if filter_text is not None:
                # Parsed against every property of the list item, then judged by the policy.
                policy = _filter_policy(op, definition.filter_fields)
                predicate = compile_filter(
                    filter_text,
                    store.fields | (policy.fields or frozenset()),
                    definition.filter_type,
                    definition.case_insensitive,
                    policy,
                )
                items = [i for i in items if predicate(i)]
            if orderby_text is not None:
                sortable = op.orderby if op is not None and op.orderby is not None else None
                clauses = parse_orderby(orderby_text, sortable or definition.orderby)
                items = sort_records(items, clauses, definition.key_field)
            total = len(items)
            page = items[skip : skip + top]
        else:
            total = store.count
            page = store.page(skip, top)
    except ODataError as exc:
        raise Reply(400, error("4002", str(exc))) from exc
    if expand:
        page = [
            dict(item) | {n: (store.get(item[definition.key_field]) or {}).get(n) for n in expand}
            for item in page
        ]
    if definition.list_item_type is not None:
        page = [{"@odata.type": definition.list_item_type, **item} for item in page]
    body: dict[str, Any] = {"@odata.context": f"{base_url}/v3/{definition.list_context}"}
    if with_count:
        body["@odata.count"] = total
    body[definition.envelope] = page
    if definition.paged and page and skip + top < total:
        body["@odata.nextLink"] = _next_link(request, definition, skip + top, top, base_url)
    return json_response(200, body, odata=True)


def _next_link(
    request: web.Request, definition: CollectionDef, skip: int, top: int, base_url: str
) -> str:
    params = [
        (name, value)
        for name, value in request.query.items()
        if name not in ("$skip", "$top") and name.startswith("$")
    ]
    params += [("$top", str(top)), ("$skip", str(skip))]
    qs = "&".join(f"{name}={quote(value, safe=chr(39) + '(),:')}" for name, value in params)
    return f"{base_url}/v3/{definition.name}?{qs}"
