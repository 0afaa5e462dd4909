"""Descriptors that read: a paged collection, one record, a singleton, a keyed small list."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any, Generic, TypeVar, overload

from ._converter import structure
from ._endpoint import Endpoint, Resource, send
from ._exceptions import ModelDecodeError
from ._generated._spec_types import OperationSpec
from ._limits import Lane
from ._misfits import MisfitLog
from ._odata import Filter
from ._pagination import OnMisfit, Paginator, parse_page, report_misfits
from ._query import render_expand, render_filter, render_orderby

M = TypeVar("M")

DEFAULT_PAGE_SIZE = 100


def _positive(name: str, value: int | None) -> None:
    if value is not None and (isinstance(value, bool) or not isinstance(value, int) or value < 1):
        raise ValueError(f"{name} must be a positive integer, got {value!r}")


class ListEndpoint(Endpoint, Generic[M]):
    """GET a collection, streamed page by page; unpaged collections (no ``$top``/``$skip``) come
    whole. Page limit, ``$filter``/``$orderby``/``$expand`` rules: from the operation table."""

    def __init__(self, spec: OperationSpec[Any, M]) -> None:
        super().__init__(spec)
        self.model: type[M] = self.model_of("response_model")
        if not spec.is_list:
            raise TypeError(f"{spec.operation_id} does not answer a collection")

    @classmethod
    def of(cls, spec: OperationSpec[Any, M]) -> ListEndpoint[M]:
        return cls(spec)

    @property
    def paged(self) -> bool:
        return self.spec.paginated

    @property
    def max_page_size(self) -> int:
        """The operation's limit; 100 (the API's common one) where none is documented."""
        return self.spec.max_page_size or DEFAULT_PAGE_SIZE

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
        strict: bool = False,
        on_misfit: OnMisfit | None = None,
    ) -> Paginator[M]:
        """Stream the collection.

        ``filter``: a ``Filter`` built with ``F`` (checked against the fields, operators and
        functions the endpoint accepts; values escaped), or a raw OData string sent as written.
        ``orderby``/``expand``: checked where the endpoint's options are known; expansions are
        sent in the spec's order. ``top``: at most this many items in all. ``page_size``: items
        per request (``$top``; at most the endpoint's limit, which is also the default when it
        is below 100). ``resume_from``: a saved ``page.next_link``.

        A record that does not fit the model is set aside, the listing goes on: it is on
        ``page.misfits`` and ``paginator.misfits``, and passed to ``on_misfit``. ``strict``:
        raise ``ModelDecodeError`` at the first page holding one instead.
        """
        endpoint = self._endpoint
        spec = endpoint.spec
        limit = endpoint.max_page_size
        page_size_given = page_size is not None
        if page_size is None:
            page_size = min(DEFAULT_PAGE_SIZE, limit)
        for name, value in (("page_size", page_size), ("top", top), ("max_items", max_items)):
            _positive(name, value)
        if page_size > limit:
            raise ValueError(
                f"page_size {page_size} exceeds the limit of {limit} for {endpoint.path} "
                f"({endpoint.operation_id})"
            )
        if skip is not None and (isinstance(skip, bool) or not isinstance(skip, int) or skip < 0):
            raise ValueError(f"skip must be a non-negative integer, got {skip!r}")
        if count is not None and not isinstance(count, bool):
            raise TypeError(f"count must be True, False or None, got {count!r}")
        if not endpoint.paged and (skip or page_size_given):
            raise ValueError(f"{endpoint.operation_id} is not paged: no page_size or skip")
        # Every option is rendered (and so checked) before anything is sent, resumed or not.
        options: dict[str, str] = {}
        if filter is not None:
            options["$filter"] = render_filter(filter, spec)
        if orderby is not None:
            options["$orderby"] = render_orderby(orderby, spec)
        if expand is not None:
            options["$expand"] = render_expand(expand, spec)
        cap = min(x for x in (top, max_items) if x is not None) if (top or max_items) else None
        sender = self._resource._sender
        if resume_from is not None:
            first_url = sender.checked_link(resume_from)
        else:
            params: dict[str, str] = {}
            if endpoint.paged:
                params["$top"] = str(min(page_size, cap) if cap else page_size)
            params.update(options)
            if skip:
                params["$skip"] = str(skip)
            if count is not None:
                params["$count"] = "true" if count else "false"
            first_url = sender.url_for(endpoint.path, params)
        lane_ = self._resource._lane_or(Lane.BULK, lane)

        async def fetch(url: str, decode: Callable[[bytes], Any]) -> Any:
            return await sender.send_json("GET", url, lane=lane_, decode=decode)

        return Paginator(
            first_url=first_url,
            model=endpoint.model,
            fetch=fetch,
            checked_link=sender.checked_link,
            max_items=cap,
            prefetch=prefetch,
            strict=strict,
            on_misfit=on_misfit,
        )


class GetEndpoint(Endpoint, Generic[M]):
    """GET one record by key; ``expand`` is checked against the operation's ``$expand`` names."""

    def __init__(self, spec: OperationSpec[Any, M]) -> None:
        super().__init__(spec)
        self.model: type[M] = self.model_of("response_model")

    @classmethod
    def of(cls, spec: OperationSpec[Any, M]) -> GetEndpoint[M]:
        return cls(spec)

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
        document = await self.raw(key, expand=expand, lane=lane)
        try:
            return structure(document, endpoint.model)
        except ModelDecodeError as exc:  # the record does not fit: its JSON is on the error
            params = {"$expand": render_expand(expand, endpoint.spec)} if expand else None
            exc.method, exc.url = endpoint.method, endpoint.url(self._resource, key, params)
            raise

    async def raw(
        self, key: str, *, expand: str | Sequence[str] | None = None, lane: Lane | None = None
    ) -> Any:
        """The same request, its answer the API's JSON object as sent (a dict, no model built;
        numbers with a fraction as Decimal), as ``list(...).raw()`` gives list items."""
        endpoint = self._endpoint
        params = {"$expand": render_expand(expand, endpoint.spec)} if expand else None
        return await send(endpoint, self._resource, key=key, params=params, lane=lane, decode=True)


class SingletonEndpoint(Endpoint, Generic[M]):
    """GET a resource that has no key (``/v3/TenantSettings``)."""

    def __init__(self, spec: OperationSpec[Any, M]) -> None:
        super().__init__(spec)
        self.model: type[M] = self.model_of("response_model")

    @classmethod
    def of(cls, spec: OperationSpec[Any, M]) -> SingletonEndpoint[M]:
        return cls(spec)

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
        endpoint = self._endpoint
        document = await send(endpoint, self._resource, lane=lane, decode=True)
        try:
            return structure(document, endpoint.model)
        except ModelDecodeError as exc:
            exc.method, exc.url = endpoint.method, endpoint.url(self._resource, None)
            raise


class KeyedListEndpoint(Endpoint, Generic[M]):
    """GET a small, unpaged collection that belongs to one record
    (``/v3/EstimateSummaries/{WorkItemKey}``); returns a list."""

    def __init__(self, spec: OperationSpec[Any, M]) -> None:
        super().__init__(spec)
        self.model: type[M] = self.model_of("response_model")

    @classmethod
    def of(cls, spec: OperationSpec[Any, M]) -> KeyedListEndpoint[M]:
        return cls(spec)

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

    async def __call__(
        self,
        key: str,
        *,
        lane: Lane | None = None,
        strict: bool = False,
        on_misfit: OnMisfit | None = None,
    ) -> list[M]:
        """The records that fit the model; one that does not is logged and passed to
        ``on_misfit`` (``strict``: it raises ``ModelDecodeError``), as in a listing."""
        endpoint = self._endpoint
        document = await send(endpoint, self._resource, key=key, lane=lane, decode=True)
        # Read like a page: the spec does not require the list, so a body without one is empty.
        page = parse_page(
            document, endpoint.model, url=endpoint.url(self._resource, key), strict=strict
        )
        await report_misfits(page.misfits, MisfitLog(), on_misfit)
        return page.items
