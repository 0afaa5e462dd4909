"""What every endpoint descriptor shares: its row of the operation table, the URL, the send.

Resources are declared, not written out: each operation is one descriptor built from its row of
the generated table, so the method, path, models, page limit and query facts are stated once, in
``_generated/operations.py``::

    class Contacts(Resource):
        list = ListEndpoint.of(Ops.getAllContacts)
        get = GetEndpoint.of(Ops.getContactByID)

Accessing ``client.contacts.list`` returns a typed bound method; the descriptor owns how the
request is built (path keys escaped, OData options checked and rendered, page sizes checked) and
the ``RequestSender`` owns retries, the budget and errors. The kinds that read are in
``_read_endpoints``, those that write in ``_write_endpoints``.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any, TypeVar

import attrs

from ._encode import request_document
from ._generated._spec_types import OperationSpec
from ._limits import Lane, check_lane
from ._sender import RequestSender
from ._urls import odata_key_literal, path_segment

F = TypeVar("F", bound=Callable[..., Any])

_PLACEHOLDER = re.compile(r"'\{[^}]+\}'|\{[^}]+\}")


class Resource:
    """A group of operations sharing the client's request path."""

    def __init__(self, sender: RequestSender, *, lane: Lane | None = None) -> None:
        self._sender = sender
        self._lane = None if lane is None else check_lane(lane)

    def _lane_or(self, default: Lane, given: Lane | None) -> Lane:
        if given is not None:
            return check_lane(given)
        return self._lane if self._lane is not None else default


class Endpoint:
    """A descriptor for one operation (``spec``). The path's placeholder takes the caller's key:
    escaped as a path segment, or as a quoted OData literal where the spec quotes it
    (``Comments('{Commentkey}')``, ``...(UserDefinedIdentifier='{UserDefinedIdentifier}')``)."""

    def __init__(self, spec: OperationSpec[Any, Any]) -> None:
        if not isinstance(spec, OperationSpec):
            raise TypeError(f"an endpoint is built from an OperationSpec, not {spec!r}")
        self.spec = spec

    @property
    def operation_id(self) -> str:
        return self.spec.operation_id

    @property
    def method(self) -> str:
        return self.spec.method

    @property
    def path(self) -> str:
        return self.spec.path

    def __set_name__(self, owner: type, name: str) -> None:
        self.name = name

    def operation_ids(self) -> tuple[str, ...]:
        return (self.operation_id,)

    def url(self, resource: Resource, key: str | None, params: dict[str, str] | None = None) -> str:
        path = self.spec.path
        if (key is None) != (_PLACEHOLDER.search(path) is None):
            raise TypeError(
                f"{self.operation_id} ({path}) takes a key (a str)"
                if key is None
                else f"{self.operation_id} ({path}) takes no key, got {key!r}"
            )
        if key is not None:

            def fill(match: re.Match[str]) -> str:
                quoted = match.group(0).startswith("'")
                return odata_key_literal(key) if quoted else path_segment(key)

            path = _PLACEHOLDER.sub(fill, path)
        return resource._sender.url_for(path, params)

    def model_of(self, which: str) -> type[Any]:
        model = getattr(self.spec, which)
        if model is None:
            raise TypeError(f"{self.operation_id} has no {which.replace('_', ' ')}")
        return model  # type: ignore[no-any-return]


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


def declared_operations(resource_class: type) -> list[DeclaredOperation]:
    """The operations one resource class declares: its descriptors and ``@operation`` methods
    (private descriptors that a public method wraps are left out)."""
    found: dict[str, list[DeclaredOperation]] = {}
    for klass in reversed(resource_class.__mro__):
        for name, value in vars(klass).items():
            if name.startswith("_"):
                continue
            if isinstance(value, Endpoint):
                ids: tuple[str, ...] = value.operation_ids()
            else:
                ids = getattr(value, "__karbon_operation_ids__", ())
            if ids:
                found[name] = [DeclaredOperation(name, op_id) for op_id in ids]
    return [entry for entries in found.values() for entry in entries]


def request_body(endpoint: Endpoint, model: object, expected: type[Any]) -> Any:
    """The JSON form of a request model: only the fields that were set, at any depth (see
    ``request_document``)."""
    if not isinstance(model, expected):
        raise TypeError(
            f"{endpoint.operation_id} takes a {expected.__name__}, got {type(model).__name__}"
        )
    return request_document(model)


async def send(
    endpoint: Endpoint,
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
        "route": endpoint.path,
    }
    if decode:
        return await resource._sender.send_json(endpoint.method, url, **options)
    return await resource._sender.send(endpoint.method, url, **options)
