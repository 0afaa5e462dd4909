"""The generic GETs of the entity sets: lists with OData options, single records, UDI lookups and
TenantSettings. Everything else is a row of ``_common.ROUTES``."""

from __future__ import annotations

from typing import Any
from urllib.parse import quote

from aiohttp import web

from ._account import FakeAccount
from ._common import Reply, error, json_response
from ._data import COLLECTIONS
from ._odata import ODataError, compile_filter, parse_orderby, sort_records
from ._store import CollectionDef, CollectionStore, Record

__all__ = ["check_options", "get_entity_set", "no_resource", "require_get"]


_LIST_OPTIONS = frozenset({"$top", "$skip", "$filter", "$orderby", "$count"})


_SINGLE_OPTIONS = frozenset({"$expand"})


_OPTION_NAMES = {"orderby": "OrderBy", "skiptoken": "SkipToken", "deltatoken": "DeltaToken"}


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


def _expand_name(requested: str, allowed: frozenset[str]) -> str | None:
    """Resolve an ``$expand`` item; Karbon's own examples mix "BusinessCard" and
    "BusinessCards" across entities, so either spelling is accepted."""
    for name in (requested, requested + "s", requested.removesuffix("s")):
        if name in allowed:
            return name
    return None


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
    if tail and definition.udi_function and tail.startswith(definition.udi_function + "("):
        return _get_by_udi(request, store, tail, base_url)
    if tail:
        key = tail
    if key is not None:
        if not store.is_key_shaped(key):
            raise Reply(400, error("4002", "Provided key must be a valid GUID."))
        return _get_single(request, store, key, base_url)
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


def _single_body(
    request: web.Request, store: CollectionStore, record: Record, base_url: str
) -> Any:
    definition = store.definition
    check_options(request, _SINGLE_OPTIONS)
    expand: set[str] = set()
    raw = request.query.get("$expand")
    if raw is not None:
        for item in raw.split(","):
            requested = item.strip()
            name = _expand_name(requested, definition.expand)
            if name is None:
                raise Reply(
                    400,
                    error(
                        "4002",
                        f"Could not find a property named '{requested}' on type "
                        f"'KarbonService.{(definition.single_type or '.').split('.', 1)[1]}'.",
                    ),
                )
            expand.add(name)
    body: dict[str, Any] = {"@odata.context": f"{base_url}/v3/{definition.single_context}"}
    if definition.single_type:
        body["@odata.type"] = definition.single_type
    for name, value in record.items():
        if name in definition.expand and name not in expand:
            continue
        body[name] = value
    return body


def _get_single(
    request: web.Request, store: CollectionStore, key: str, base_url: str
) -> web.Response:
    index = store.index_of(key)
    if index is None:
        raise Reply(404, error("4004", store.definition.not_found(key)))
    return json_response(
        200, _single_body(request, store, store.record_at(index), base_url), odata=True
    )


def _get_by_udi(
    request: web.Request, store: CollectionStore, tail: str, base_url: str
) -> web.Response:
    definition = store.definition
    inner = tail[len(definition.udi_function or "") + 1 :]
    prefix = "UserDefinedIdentifier='"
    if not inner.endswith("')") or not inner.startswith(prefix):
        raise no_resource(request)
    udi = inner[len(prefix) : -2].replace("''", "'")
    if not udi.strip():
        raise Reply(400, error("4002", "UserDefinedIdentifier is missing or empty"))
    record = store.find_udi(udi)
    if record is None:
        raise Reply(
            404,
            error("4004", f"No {definition.udi_entity} found for provided UserDefinedIdentifer"),
        )
    return json_response(200, _single_body(request, store, record, base_url), odata=True)


def _get_list(request: web.Request, store: CollectionStore, base_url: str) -> web.Response:
    definition = store.definition
    query = request.query
    allowed = _LIST_OPTIONS if definition.paged else frozenset({"$filter", "$orderby"})
    if definition.list_expand:
        allowed |= _SINGLE_OPTIONS
    check_options(request, allowed)
    expand = _list_expand(request, definition)
    top = definition.max_top if definition.paged else max(1, store.count)
    if "$top" in query:
        top = _non_negative("$top", query["$top"])
        if top > definition.max_top:
            raise Reply(
                400,
                error(
                    "4002",
                    f"The limit of '{definition.max_top}' for Top query has been exceeded. "
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
                predicate = compile_filter(
                    filter_text,
                    definition.filter_fields or store.fields,
                    definition.filter_type,
                    definition.case_insensitive,
                )
                items = [i for i in items if predicate(i)]
            if orderby_text is not None:
                clauses = parse_orderby(orderby_text, definition.orderby)
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


def _list_expand(request: web.Request, definition: CollectionDef) -> list[str]:
    raw = request.query.get("$expand")
    if raw is None:
        return []
    names = []
    for item in raw.split(","):
        name = _expand_name(item.strip(), definition.expand)
        if name is None:
            raise Reply(
                400,
                error(
                    "4002",
                    f"Could not find a property named '{item.strip()}' on type "
                    f"'KarbonService.{definition.filter_type}'.",
                ),
            )
        names.append(name)
    return names


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
