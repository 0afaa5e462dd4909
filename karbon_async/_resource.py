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

from collections.abc import Sequence
from typing import Any, Generic, TypeVar, overload

from ._converter import structure
from ._limits import Lane
from ._odata import Filter, render_expand, render_filter, render_orderby
from ._pagination import Paginator
from ._sender import RequestSender
from ._urls import path_segment

M = TypeVar("M")

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
    operation_id: str

    def __set_name__(self, owner: type, name: str) -> None:
        self.name = name


def _fill_path(template: str, key: str) -> str:
    return template.replace("{key}", path_segment(key))


class ListEndpoint(_Endpoint, Generic[M]):
    def __init__(
        self, path: str, model: type[M], *, operation_id: str, max_page_size: int = 100
    ) -> None:
        self.path = path
        self.model = model
        self.operation_id = operation_id
        self.max_page_size = max_page_size

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
        page_size: int = DEFAULT_PAGE_SIZE,
        max_items: int | None = None,
        prefetch: bool = True,
        resume_from: str | None = None,
        lane: Lane | None = None,
    ) -> Paginator[M]:
        """Stream the collection.

        ``filter``: a ``Filter`` built with ``F`` (values escaped), or a raw OData string sent
        as written. ``top``: at most this many items in all. ``page_size``: items per request
        (``$top``; at most the endpoint's limit). ``resume_from``: a saved ``page.next_link``.
        """
        endpoint = self._endpoint
        limit = endpoint.max_page_size
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
        cap = min(x for x in (top, max_items) if x is not None) if (top or max_items) else None
        sender = self._resource._sender
        if resume_from is not None:
            first_url = sender.checked_link(resume_from)
        else:
            params: dict[str, str] = {"$top": str(min(page_size, cap) if cap else page_size)}
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
    def __init__(self, path: str, model: type[M], *, operation_id: str) -> None:
        self.path = path
        self.model = model
        self.operation_id = operation_id

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
        sender = self._resource._sender
        params = {"$expand": render_expand(expand)} if expand else None
        url = sender.url_for(_fill_path(self._endpoint.path, key), params)
        document = await sender.send_json(
            "GET", url, lane=self._resource._lane_or(Lane.INTERACTIVE, lane)
        )
        return structure(document, self._endpoint.model)
