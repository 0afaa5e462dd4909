"""Resources are declared, not written out: each operation is one endpoint descriptor.

::

    class Contacts(Resource):
        list = ListEndpoint("/v3/Contacts", ContactSummary, operation_id="getContacts")
        get = GetEndpoint("/v3/Contacts/{key}", Contact, operation_id="getContactByID")

Accessing ``client.contacts.list`` returns a typed bound method; the descriptor owns how the
request is built (path keys escaped, OData options rendered, page sizes checked) and the
``RequestSender`` below owns retries, the budget and errors.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any, Generic, TypeVar, overload

import attrs

from ._converter import (
    api_name,
    request_document,
    structure,
    unstructure,
    without_nulls,
)
from ._exceptions import ConflictError
from ._limits import Lane
from ._odata import Filter, render_expand, render_filter, render_orderby
from ._pagination import Paginator
from ._sender import RequestSender
from ._urls import odata_key_literal, path_segment

M = TypeVar("M")
B = TypeVar("B")
R = TypeVar("R")
F = TypeVar("F", bound=Callable[..., Any])

DEFAULT_PAGE_SIZE = 100


class Resource:
    """A group of operations sharing the client's request path."""

    def __init__(self, sender: RequestSender, *, lane: Lane | None = None) -> None:
        self._sender = sender
        self._lane = lane

    def _lane_or(self, default: Lane, given: Lane | None) -> Lane:
        if given is not None:
            return given
        return self._lane if self._lane is not None else default


class _Endpoint:
    """What every descriptor has: the spec's operationId, the HTTP method and the path template
    (``{key}`` is where the caller's key goes)."""

    operation_id: str
    method: str = "GET"
    path: str
    literal_key: bool = False

    def __set_name__(self, owner: type, name: str) -> None:
        self.name = name

    def operation_ids(self) -> tuple[str, ...]:
        return (self.operation_id,)

    def url(self, resource: Resource, key: str | None, params: dict[str, str] | None = None) -> str:
        path = self.path
        if key is not None:
            filled = odata_key_literal(key) if self.literal_key else path_segment(key)
            path = path.replace("{key}", filled)
        return resource._sender.url_for(path, params)


def operation(*operation_ids: str) -> Callable[[F], F]:
    """Mark a hand-written resource method as implementing these operationIds (for coverage)."""

    def mark(method: F) -> F:
        method.__karbon_operation_ids__ = operation_ids  # type: ignore[attr-defined]
        return method

    return mark


@attrs.frozen
class DeclaredOperation:
    """One public method of a resource and the spec operation it sends."""

    method_name: str
    operation_id: str
    http_method: str | None
    """For descriptors: the HTTP method and path template they send (hand-written methods:
    None)."""
    path: str | None


def declared_operations(resource_class: type) -> list[DeclaredOperation]:
    """The operations one resource class declares: its descriptors and ``@operation`` methods
    (private descriptors that a public method wraps are left out)."""
    found: dict[str, list[DeclaredOperation]] = {}
    for klass in reversed(resource_class.__mro__):
        for name, value in vars(klass).items():
            if name.startswith("_"):
                continue
            if isinstance(value, _Endpoint):
                found[name] = [
                    DeclaredOperation(name, op_id, value.method, value.path)
                    for op_id in value.operation_ids()
                ]
            elif hasattr(value, "__karbon_operation_ids__"):
                found[name] = [
                    DeclaredOperation(name, op_id, None, None)
                    for op_id in value.__karbon_operation_ids__
                ]
    return [entry for entries in found.values() for entry in entries]


def _check_expand(
    endpoint: _Endpoint, allowed: tuple[str, ...] | None, expand: str | Sequence[str] | None
) -> None:
    if expand is None or allowed is None:
        return
    names = [expand] if isinstance(expand, str) else list(expand)
    names = [part.strip() for name in names for part in name.split(",")]
    bad = [name for name in names if name not in allowed]
    if bad:
        where = f"{endpoint.operation_id} ({endpoint.path})"
        options = ", ".join(allowed) if allowed else "none"
        raise ValueError(f"cannot $expand {', '.join(bad)} on {where}; options: {options}")


def request_body(endpoint: _Endpoint, model: object, expected: type[Any]) -> Any:
    """The JSON form of a request model: only the fields that were set, at any depth (see
    ``request_document``)."""
    if not isinstance(model, expected):
        raise TypeError(
            f"{endpoint.operation_id} takes a {expected.__name__}, got {type(model).__name__}"
        )
    return request_document(model)


async def _send(
    endpoint: _Endpoint,
    resource: Resource,
    *,
    key: str | None = None,
    params: dict[str, str] | None = None,
    json_body: Any = None,
    lane: Lane | None = None,
    headers: dict[str, str] | None = None,
    decode: bool = False,
) -> Any:
    """Send the endpoint's request; with ``decode``, return its JSON body (decoded inside the
    retried attempt), else the response."""
    url = endpoint.url(resource, key, params)
    options: dict[str, Any] = {
        "json_body": json_body,
        "lane": resource._lane_or(Lane.INTERACTIVE, lane),
        "extra_headers": headers,
    }
    if decode:
        return await resource._sender.send_json(endpoint.method, url, **options)
    return await resource._sender.send(endpoint.method, url, **options)


class ListEndpoint(_Endpoint, Generic[M]):
    """GET a collection, streamed page by page. ``paged=False`` for the few collections the API
    returns whole (no ``$top``/``$skip``); ``expand`` lists the accepted ``$expand`` options
    (``None``: not checked)."""

    def __init__(
        self,
        path: str,
        model: type[M],
        *,
        operation_id: str,
        max_page_size: int = 100,
        paged: bool = True,
        expand: tuple[str, ...] | None = None,
    ) -> None:
        self.path = path
        self.model = model
        self.operation_id = operation_id
        self.max_page_size = max_page_size
        self.paged = paged
        self.expand_options = expand

    @overload
    def __get__(self, resource: None, owner: type) -> ListEndpoint[M]: ...
    @overload
    def __get__(self, resource: Resource, owner: type) -> ListMethod[M]: ...
    def __get__(self, resource: Resource | None, owner: type) -> ListEndpoint[M] | ListMethod[M]:
        return self if resource is None else ListMethod(self, resource)


class ListMethod(Generic[M]):
    def __init__(self, endpoint: ListEndpoint[M], resource: Resource) -> None:
        self._endpoint = endpoint
        self._resource = resource
        self.__doc__ = f"List ({endpoint.operation_id}); returns a Paginator."

    def __call__(
        self,
        *,
        filter: Filter | str | None = None,
        orderby: str | Sequence[str] | None = None,
        expand: str | Sequence[str] | None = None,
        top: int | None = None,
        skip: int | None = None,
        count: bool | None = None,
        page_size: int | None = None,
        max_items: int | None = None,
        prefetch: bool = True,
        resume_from: str | None = None,
        lane: Lane | None = None,
    ) -> Paginator[M]:
        """Stream the collection.

        ``filter``: a ``Filter`` built with ``F`` (values escaped), or a raw OData string sent
        as written. ``top``: at most this many items in all. ``page_size``: items per request
        (``$top``; at most the endpoint's limit, which is also the default when it is below 100).
        ``resume_from``: a saved ``page.next_link``.
        """
        endpoint = self._endpoint
        limit = endpoint.max_page_size
        page_size_given = page_size is not None
        if page_size is None:
            page_size = min(DEFAULT_PAGE_SIZE, limit)
        for name, value in (("page_size", page_size), ("top", top), ("max_items", max_items)):
            if value is not None and (
                isinstance(value, bool) or not isinstance(value, int) or value < 1
            ):
                raise ValueError(f"{name} must be a positive integer, got {value!r}")
        if page_size > limit:
            raise ValueError(
                f"page_size {page_size} exceeds the limit of {limit} for {endpoint.path} "
                f"({endpoint.operation_id})"
            )
        if skip is not None and (isinstance(skip, bool) or not isinstance(skip, int) or skip < 0):
            raise ValueError(f"skip must be a non-negative integer, got {skip!r}")
        if not endpoint.paged and (skip or page_size_given):
            raise ValueError(f"{endpoint.operation_id} is not paged: no page_size or skip")
        _check_expand(endpoint, endpoint.expand_options, expand)
        cap = min(x for x in (top, max_items) if x is not None) if (top or max_items) else None
        sender = self._resource._sender
        if resume_from is not None:
            first_url = sender.checked_link(resume_from)
        else:
            params: dict[str, str] = {}
            if endpoint.paged:
                params["$top"] = str(min(page_size, cap) if cap else page_size)
            if filter is not None:
                params["$filter"] = render_filter(filter)
            if orderby is not None:
                params["$orderby"] = render_orderby(orderby)
            if expand is not None:
                params["$expand"] = render_expand(expand)
            if skip:
                params["$skip"] = str(skip)
            if count is not None:
                params["$count"] = "true" if count else "false"
            first_url = sender.url_for(endpoint.path, params)
        lane_ = self._resource._lane_or(Lane.BULK, lane)

        async def fetch(url: str) -> Any:
            return await sender.send_json("GET", url, lane=lane_)

        return Paginator(
            first_url=first_url,
            model=endpoint.model,
            fetch=fetch,
            checked_link=sender.checked_link,
            max_items=cap,
            prefetch=prefetch,
        )


class GetEndpoint(_Endpoint, Generic[M]):
    """GET one record by key. ``literal_key``: the key goes into an OData function or key form
    (``Comments('k''ey')``, ``GetContactByUserDefinedIdentifier(UserDefinedIdentifier='...')``)
    quoted and escaped. ``expand``: accepted ``$expand`` options (``()``: none; ``None``: any)."""

    def __init__(
        self,
        path: str,
        model: type[M],
        *,
        operation_id: str,
        literal_key: bool = False,
        expand: tuple[str, ...] | None = None,
    ) -> None:
        self.path = path
        self.model = model
        self.operation_id = operation_id
        self.literal_key = literal_key
        self.expand_options = expand

    @overload
    def __get__(self, resource: None, owner: type) -> GetEndpoint[M]: ...
    @overload
    def __get__(self, resource: Resource, owner: type) -> GetMethod[M]: ...
    def __get__(self, resource: Resource | None, owner: type) -> GetEndpoint[M] | GetMethod[M]:
        return self if resource is None else GetMethod(self, resource)


class GetMethod(Generic[M]):
    def __init__(self, endpoint: GetEndpoint[M], resource: Resource) -> None:
        self._endpoint = endpoint
        self._resource = resource
        self.__doc__ = f"Get one record by key ({endpoint.operation_id})."

    async def __call__(
        self, key: str, *, expand: str | Sequence[str] | None = None, lane: Lane | None = None
    ) -> M:
        endpoint = self._endpoint
        _check_expand(endpoint, endpoint.expand_options, expand)
        params = {"$expand": render_expand(expand)} if expand else None
        document = await _send(
            endpoint, self._resource, key=key, params=params, lane=lane, decode=True
        )
        return structure(document, endpoint.model)


class SingletonEndpoint(_Endpoint, Generic[M]):
    """GET a resource that has no key (``/v3/TenantSettings``)."""

    def __init__(self, path: str, model: type[M], *, operation_id: str) -> None:
        self.path = path
        self.model = model
        self.operation_id = operation_id

    @overload
    def __get__(self, resource: None, owner: type) -> SingletonEndpoint[M]: ...
    @overload
    def __get__(self, resource: Resource, owner: type) -> SingletonMethod[M]: ...
    def __get__(
        self, resource: Resource | None, owner: type
    ) -> SingletonEndpoint[M] | SingletonMethod[M]:
        return self if resource is None else SingletonMethod(self, resource)


class SingletonMethod(Generic[M]):
    def __init__(self, endpoint: SingletonEndpoint[M], resource: Resource) -> None:
        self._endpoint = endpoint
        self._resource = resource
        self.__doc__ = f"Get ({endpoint.operation_id})."

    async def __call__(self, *, lane: Lane | None = None) -> M:
        document = await _send(self._endpoint, self._resource, lane=lane, decode=True)
        return structure(document, self._endpoint.model)


class KeyedListEndpoint(_Endpoint, Generic[M]):
    """GET a small, unpaged collection that belongs to one record
    (``/v3/EstimateSummaries/{WorkItemKey}``); returns a list."""

    def __init__(self, path: str, model: type[M], *, operation_id: str) -> None:
        self.path = path
        self.model = model
        self.operation_id = operation_id

    @overload
    def __get__(self, resource: None, owner: type) -> KeyedListEndpoint[M]: ...
    @overload
    def __get__(self, resource: Resource, owner: type) -> KeyedListMethod[M]: ...
    def __get__(
        self, resource: Resource | None, owner: type
    ) -> KeyedListEndpoint[M] | KeyedListMethod[M]:
        return self if resource is None else KeyedListMethod(self, resource)


class KeyedListMethod(Generic[M]):
    def __init__(self, endpoint: KeyedListEndpoint[M], resource: Resource) -> None:
        self._endpoint = endpoint
        self._resource = resource
        self.__doc__ = f"List by key ({endpoint.operation_id})."

    async def __call__(self, key: str, *, lane: Lane | None = None) -> list[M]:
        document = await _send(self._endpoint, self._resource, key=key, lane=lane, decode=True)
        items = (
            document.get("value", document.get("values")) if isinstance(document, dict) else None
        )
        if not isinstance(items, list):
            raise ValueError(f"{self._endpoint.operation_id}: the response has no 'value' list")
        return [structure(item, self._endpoint.model) for item in items]


class _WriteEndpoint(_Endpoint, Generic[B, R]):
    """A write with a request model: POST, PUT or PATCH; ``response`` is the model of the
    answer's body, or None when the API answers 204 (or its body is of no use)."""

    def __init__(
        self,
        method: str,
        path: str,
        body: type[B],
        response: type[R] | None,
        *,
        operation_id: str,
        headers: dict[str, str] | None = None,
    ) -> None:
        self.method = method
        self.path = path
        self.body = body
        self.response = response
        self.operation_id = operation_id
        self.headers = headers

    async def _write(
        self, resource: Resource, key: str | None, body: B, lane: Lane | None
    ) -> R | None:
        document = request_body(self, body, self.body)
        reply = await _send(
            self,
            resource,
            key=key,
            json_body=document,
            lane=lane,
            headers=self.headers,
            decode=self.response is not None,
        )
        return None if self.response is None else structure(reply, self.response)


class CreateEndpoint(_WriteEndpoint[B, R]):
    """POST a request model to a collection (or an unkeyed action such as
    ``ReverseManualPayment``)."""

    @overload
    def __init__(
        self: CreateEndpoint[B, R],
        path: str,
        body: type[B],
        response: type[R],
        *,
        operation_id: str,
    ) -> None: ...
    @overload
    def __init__(
        self: CreateEndpoint[B, None],
        path: str,
        body: type[B],
        response: None,
        *,
        operation_id: str,
    ) -> None: ...
    def __init__(
        self, path: str, body: type[B], response: type[R] | None, *, operation_id: str
    ) -> None:
        super().__init__("POST", path, body, response, operation_id=operation_id)

    @overload
    def __get__(self, resource: None, owner: type) -> CreateEndpoint[B, R]: ...
    @overload
    def __get__(self, resource: Resource, owner: type) -> CreateMethod[B, R]: ...
    def __get__(
        self, resource: Resource | None, owner: type
    ) -> CreateEndpoint[B, R] | CreateMethod[B, R]:
        return self if resource is None else CreateMethod(self, resource)


class CreateMethod(Generic[B, R]):
    def __init__(self, endpoint: CreateEndpoint[B, R], resource: Resource) -> None:
        self._endpoint = endpoint
        self._resource = resource
        self.__doc__ = f"POST a {endpoint.body.__name__} ({endpoint.operation_id})."

    async def __call__(self, body: B, *, lane: Lane | None = None) -> R:
        result = await self._endpoint._write(self._resource, None, body, lane)
        return result  # type: ignore[return-value]  # None exactly when R is None


class ActionEndpoint(_WriteEndpoint[B, None]):
    """POST a request model to an action of one record (``Teams/{key}/AddMembers``); 204."""

    def __init__(self, path: str, body: type[B], *, operation_id: str) -> None:
        super().__init__("POST", path, body, None, operation_id=operation_id)

    @overload
    def __get__(self, resource: None, owner: type) -> ActionEndpoint[B]: ...
    @overload
    def __get__(self, resource: Resource, owner: type) -> KeyedWriteMethod[B, None]: ...
    def __get__(
        self, resource: Resource | None, owner: type
    ) -> ActionEndpoint[B] | KeyedWriteMethod[B, None]:
        return self if resource is None else KeyedWriteMethod(self, resource)


class ReplaceEndpoint(_WriteEndpoint[B, None]):
    """PUT: replace the whole record (fields left out may be cleared; see ``ModifyEndpoint``)."""

    def __init__(self, path: str, body: type[B], *, operation_id: str) -> None:
        super().__init__("PUT", path, body, None, operation_id=operation_id)

    @overload
    def __get__(self, resource: None, owner: type) -> ReplaceEndpoint[B]: ...
    @overload
    def __get__(self, resource: Resource, owner: type) -> KeyedWriteMethod[B, None]: ...
    def __get__(
        self, resource: Resource | None, owner: type
    ) -> ReplaceEndpoint[B] | KeyedWriteMethod[B, None]:
        return self if resource is None else KeyedWriteMethod(self, resource)


class PatchEndpoint(_WriteEndpoint[B, R]):
    """PATCH: only the fields set on the model are sent (``UNSET`` ones are left out, ``None``
    clears). Contacts and Organizations answer 200 with the record, the others 204."""

    @overload
    def __init__(
        self: PatchEndpoint[B, R],
        path: str,
        body: type[B],
        response: type[R],
        *,
        operation_id: str,
        headers: dict[str, str] | None = None,
    ) -> None: ...
    @overload
    def __init__(
        self: PatchEndpoint[B, None],
        path: str,
        body: type[B],
        response: None,
        *,
        operation_id: str,
        headers: dict[str, str] | None = None,
    ) -> None: ...
    def __init__(
        self,
        path: str,
        body: type[B],
        response: type[R] | None,
        *,
        operation_id: str,
        headers: dict[str, str] | None = None,
    ) -> None:
        super().__init__("PATCH", path, body, response, operation_id=operation_id, headers=headers)

    @overload
    def __get__(self, resource: None, owner: type) -> PatchEndpoint[B, R]: ...
    @overload
    def __get__(self, resource: Resource, owner: type) -> KeyedWriteMethod[B, R]: ...
    def __get__(
        self, resource: Resource | None, owner: type
    ) -> PatchEndpoint[B, R] | KeyedWriteMethod[B, R]:
        return self if resource is None else KeyedWriteMethod(self, resource)


class KeyedWriteMethod(Generic[B, R]):
    """``await method(key, body)``: a PUT, PATCH or record action."""

    def __init__(self, endpoint: _WriteEndpoint[B, R], resource: Resource) -> None:
        self._endpoint = endpoint
        self._resource = resource
        self.__doc__ = (
            f"{endpoint.method} a {endpoint.body.__name__} to one record ({endpoint.operation_id})."
        )

    async def __call__(self, key: str, body: B, *, lane: Lane | None = None) -> R:
        result = await self._endpoint._write(self._resource, key, body, lane)
        return result  # type: ignore[return-value]  # None exactly when R is None


class DeleteEndpoint(_Endpoint):
    """DELETE one record by key; 204."""

    method = "DELETE"

    def __init__(self, path: str, *, operation_id: str) -> None:
        self.path = path
        self.operation_id = operation_id

    @overload
    def __get__(self, resource: None, owner: type) -> DeleteEndpoint: ...
    @overload
    def __get__(self, resource: Resource, owner: type) -> DeleteMethod: ...
    def __get__(self, resource: Resource | None, owner: type) -> DeleteEndpoint | DeleteMethod:
        return self if resource is None else DeleteMethod(self, resource)


class DeleteMethod:
    def __init__(self, endpoint: DeleteEndpoint, resource: Resource) -> None:
        self._endpoint = endpoint
        self._resource = resource
        self.__doc__ = f"Delete one record ({endpoint.operation_id})."

    async def __call__(self, key: str, *, lane: Lane | None = None) -> None:
        await _send(self._endpoint, self._resource, key=key, lane=lane)


class DeleteAllEndpoint(_Endpoint):
    """DELETE a whole collection (``/v3/WebhookSubscriptions``); 204."""

    method = "DELETE"

    def __init__(self, path: str, *, operation_id: str) -> None:
        self.path = path
        self.operation_id = operation_id

    @overload
    def __get__(self, resource: None, owner: type) -> DeleteAllEndpoint: ...
    @overload
    def __get__(self, resource: Resource, owner: type) -> DeleteAllMethod: ...
    def __get__(
        self, resource: Resource | None, owner: type
    ) -> DeleteAllEndpoint | DeleteAllMethod:
        return self if resource is None else DeleteAllMethod(self, resource)


class DeleteAllMethod:
    def __init__(self, endpoint: DeleteAllEndpoint, resource: Resource) -> None:
        self._endpoint = endpoint
        self._resource = resource
        self.__doc__ = f"Delete every record ({endpoint.operation_id})."

    async def __call__(self, *, lane: Lane | None = None) -> None:
        await _send(self._endpoint, self._resource, lane=lane)


DEFAULT_MODIFY_ATTEMPTS = 3


class ModifyEndpoint(Generic[M, B]):
    """``modify(key, fn)``: GET the record, turn it into the PUT body, apply ``fn`` to it (an
    attrs model: use ``attrs.evolve``), PUT it; on 409 (code 4020, someone else wrote first)
    refetch and reapply, at most ``attempts`` times in all. Not an operation of its own: it is
    made of the resource's ``get`` and ``update``.

    The record's fields that the PUT body does not have (keys, timestamps) are left out; fields
    this SDK does not know are sent back as they came, so a PUT does not clear them."""

    def __init__(
        self,
        get: GetEndpoint[M],
        update: ReplaceEndpoint[B],
        *,
        attempts: int = DEFAULT_MODIFY_ATTEMPTS,
    ) -> None:
        self.get = get
        self.update = update
        self.attempts = attempts

    @overload
    def __get__(self, resource: None, owner: type) -> ModifyEndpoint[M, B]: ...
    @overload
    def __get__(self, resource: Resource, owner: type) -> ModifyMethod[M, B]: ...
    def __get__(
        self, resource: Resource | None, owner: type
    ) -> ModifyEndpoint[M, B] | ModifyMethod[M, B]:
        return self if resource is None else ModifyMethod(self, resource)


def as_request(record: object, body_model: type[B]) -> B:
    """The PUT body that would write ``record`` back unchanged."""
    document = unstructure(record)
    body_keys = {api_name(field) for field in attrs.fields(body_model)}  # type: ignore[arg-type]
    record_keys = {api_name(field) for field in attrs.fields(type(record))}  # type: ignore[arg-type]
    kept = {
        key: value
        for key, value in document.items()
        if key in body_keys or key not in record_keys  # unknown to the SDK: kept
    }
    return structure(without_nulls(kept, body_model), body_model)


class ModifyMethod(Generic[M, B]):
    def __init__(self, endpoint: ModifyEndpoint[M, B], resource: Resource) -> None:
        self._endpoint = endpoint
        self._resource = resource
        self.__doc__ = (
            f"GET, apply fn, PUT ({endpoint.get.operation_id} + {endpoint.update.operation_id}), "
            "retried on 409."
        )

    async def __call__(self, key: str, fn: Callable[[B], B], *, attempts: int | None = None) -> B:
        endpoint = self._endpoint
        limit = endpoint.attempts if attempts is None else attempts
        if isinstance(limit, bool) or not isinstance(limit, int) or limit < 1:
            raise ValueError(f"attempts must be a positive integer, got {limit!r}")
        get = endpoint.get.__get__(self._resource, type(self._resource))
        update = endpoint.update.__get__(self._resource, type(self._resource))
        for attempt in range(1, limit + 1):
            current = as_request(await get(key), endpoint.update.body)
            changed = fn(current)
            if not isinstance(changed, endpoint.update.body):
                raise TypeError(
                    f"fn must return a {endpoint.update.body.__name__}, "
                    f"got {type(changed).__name__}"
                )
            try:
                await update(key, changed)
            except ConflictError as exc:
                if attempt == limit or exc.code not in (None, "4020"):
                    raise
                continue
            return changed
        raise AssertionError("unreachable")  # pragma: no cover
