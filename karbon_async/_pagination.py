"""Streaming OData lists: ``async for`` over items, or ``.pages()`` over pages.

A paginator follows ``@odata.nextLink`` verbatim (after checking it stays on the configured
origin) and holds at most two pages: the one the caller has and, while the caller works on it,
the next one being fetched. Breaking out early cancels that prefetch; a prefetch already sent
still counts against the account's budget.

A link that cannot be followed never costs the caller the items already fetched: the page that
carries it is yielded first, and the error is raised when the next page is asked for. A link
to another origin raises ``UnsafeURLError``; a link already followed, or an empty page that
still names a next one, raises ``PaginationError`` instead of paging forever. The links followed
are remembered in bounded memory (``LinkHistory``), so a list of any length streams in constant
memory: a loop back to any of the last 1,024 links is caught before it is fetched; a longer
one before the listing is three times as long as where the loop closed (its pages come again
till then).

A record that does not fit its model never stops a listing either: it is set aside as a
``Misfit`` (on ``page.misfits``, ``paginator.misfits``, passed to ``on_misfit``, logged once
per field) and the listing goes on; ``strict=True`` raises instead (see ``_misfits.py``).
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import copy
import inspect
from collections.abc import AsyncGenerator, AsyncIterator, Awaitable, Callable
from typing import Any, Generic, TypeVar

import attrs

from ._converter import decode_each
from ._exceptions import KarbonError, PaginationError
from ._gc import listing
from ._json_records import split_collection
from ._misfits import MISFITS_KEPT, Misfit, MisfitLog, misfit
from ._redact import shown_url
from ._sender import json_document

M = TypeVar("M")

FetchPage = Callable[[str, Callable[[bytes], Any]], Awaitable[Any]]
"""``fetch(url, decode)``: GET ``url`` (budget, retries) and return ``decode(body)``."""


@attrs.frozen
class Page(Generic[M]):
    items: list[M]
    next_link: str | None
    """Where the next page is; save it to resume later with ``list(resume_from=...)``."""
    count: int | None
    """``@odata.count``: the total number of matching records, when the API gives it."""
    misfits: tuple[Misfit, ...] = ()
    """The page's records that do not fit the model, set aside (``items`` holds the others)."""


OnMisfit = Callable[[Misfit], Awaitable[None] | None]
"""Called with each misfit as it is met; if it returns an awaitable, that is awaited. An
exception it raises ends the listing (raise ``misfit.error()`` to stop at the first one)."""


def parse_page(
    document: Any, model: type[M], *, url: str = "", page_number: int = 1, strict: bool = False
) -> Page[M]:
    """The page in ``document``: the records that fit ``model``, and the misfits (``strict``:
    the first misfit raises its ``ModelDecodeError``)."""
    if not isinstance(document, dict):
        raise ValueError(f"expected an OData collection object, got {type(document).__name__}")
    # The spec's Invoices/Payments schemas name the array "values"; the API sends "value".
    raw_items = document.get("value", document.get("values", []))
    if not isinstance(raw_items, list):
        raise ValueError("the collection's 'value' is not a list")
    count = document.get("@odata.count")
    items, failures = decode_each(raw_items, model)
    misfits = tuple(
        misfit(error, model, page_url=url, page_number=page_number, index=index)
        for index, error in failures
    )
    if strict and misfits:
        raise misfits[0].error()
    return Page(
        items=items,
        next_link=document.get("@odata.nextLink") or None,
        count=int(count) if count is not None else None,
        misfits=misfits,
    )


async def report_misfits(
    misfits: tuple[Misfit, ...], log: MisfitLog, on_misfit: OnMisfit | None
) -> None:
    for found in misfits:
        log.log(found)
        if on_misfit is not None:
            result = on_misfit(found)
            if inspect.isawaitable(result):
                await result


class LinkHistory:
    """Which links a listing already followed, in constant memory.

    The last ``recent`` links are kept exactly. Beyond them, Brent's cycle detection: one link
    is kept as a mark and moved to the current link whenever the count since the last move
    reaches a power of two, so a loop closing at the N-th link is reported by link 3N + 2 at the
    latest. Never wrong about a link it reports: a report is always a true repeat.
    """

    def __init__(self, first: str, recent: int = 1024) -> None:
        self._order: collections.deque[str] = collections.deque()
        self._recent: set[str] = set()
        self._size = recent
        self._mark = first
        self._stride = 1
        self._since_mark = 0
        self.add(first)

    def __contains__(self, url: str) -> bool:
        return url in self._recent or url == self._mark

    def add(self, url: str) -> None:
        if len(self._order) == self._size:
            self._recent.discard(self._order.popleft())
        self._order.append(url)
        self._recent.add(url)
        self._since_mark += 1
        if self._since_mark == self._stride:
            self._mark, self._stride, self._since_mark = url, self._stride * 2, 0

    def __len__(self) -> int:
        """Links held: never more than ``recent`` + 1."""
        return len(self._recent) + (self._mark not in self._recent)


class Paginator(Generic[M]):
    """What ``list()`` returns. Nothing is sent until it is iterated; each iteration starts over.

    ``misfits``: the records of the latest iteration that did not fit the model (the first
    1,000; ``misfit_count`` counts them all), each with its raw JSON, position, key and reason.
    """

    def __init__(
        self,
        *,
        first_url: str,
        model: type[M],
        fetch: FetchPage,
        checked_link: Callable[[str], str],
        max_items: int | None,
        prefetch: bool,
        strict: bool = False,
        on_misfit: OnMisfit | None = None,
    ) -> None:
        self._first_url = first_url
        self._model = model
        self._fetch = fetch
        self._checked_link = checked_link
        self._max_items = max_items
        self._prefetch = prefetch
        self._strict = strict
        self._on_misfit = on_misfit
        self.misfits: list[Misfit] = []
        self.misfit_count = 0

    def raw(self) -> Paginator[dict[str, Any]]:
        """The same list (same pages, limits, retries), its items the API's JSON objects as
        sent: dicts, no models built."""
        view: Paginator[Any] = copy.copy(self)
        view._model = dict
        return view

    def json(self) -> Paginator[bytes]:
        """The same list, its items each record's JSON exactly as the API sent it: UTF-8
        bytes on one line, numbers with all their digits. Nothing is decoded, which makes it
        the cheapest way to store records unchanged (the exporter writes these)."""
        view: Paginator[Any] = copy.copy(self)
        view._model = bytes
        return view

    def __aiter__(self) -> AsyncIterator[M]:
        return self._items()

    async def _items(self) -> AsyncGenerator[M, None]:
        async with contextlib.aclosing(self.pages()) as pages:
            async for page in pages:
                for item in page.items:
                    yield item

    async def _get_page(self, url: str, number: int) -> Page[M]:
        if self._model is bytes:
            texts, next_link, count = await self._fetch(url, split_collection)
            return Page(items=texts, next_link=next_link, count=count)
        document = await self._fetch(url, json_document)
        return parse_page(document, self._model, url=url, page_number=number, strict=self._strict)

    async def _report(self, page: Page[M], log: MisfitLog) -> None:
        self.misfit_count += len(page.misfits)
        room = MISFITS_KEPT - len(self.misfits)
        self.misfits.extend(page.misfits[: max(room, 0)])
        await report_misfits(page.misfits, log, self._on_misfit)

    def _next_url(
        self, page: Page[M], followed: LinkHistory
    ) -> tuple[str | None, KarbonError | None]:
        """Where to go after ``page``, or why not to go anywhere (raised after it is yielded)."""
        if page.next_link is None:
            return None, None
        try:
            url = self._checked_link(page.next_link)
        except KarbonError as exc:
            return None, exc
        if url in followed:
            return None, PaginationError(
                f"the API repeated a page link already followed: {shown_url(url)!r}", url=url
            )
        if not page.items and not page.misfits:
            return None, PaginationError(
                f"the API sent an empty page that links to another one: {shown_url(url)!r}",
                url=url,
            )
        followed.add(url)
        return url, None

    async def pages(self) -> AsyncGenerator[Page[M], None]:
        """Pages in order; ``page.next_link`` of the last one is None."""
        with listing():  # many at once in the process: the collector is tuned (_gc.py)
            async with contextlib.aclosing(self._pages()) as pages:
                async for page in pages:
                    yield page

    async def _pages(self) -> AsyncGenerator[Page[M], None]:
        remaining = self._max_items
        followed = LinkHistory(self._first_url)
        self.misfits, self.misfit_count = (
            [],
            0,
        )  # a new list: views copied from this one keep theirs
        log = MisfitLog()
        number = 1
        pending: asyncio.Task[Page[M]] | None = asyncio.ensure_future(
            self._get_page(self._first_url, number)
        )
        try:
            while pending is not None:
                page = await pending
                pending = None
                if page.misfits:
                    await self._report(page, log)
                if remaining is not None:
                    if len(page.items) >= remaining:
                        yield attrs.evolve(page, items=page.items[:remaining], next_link=None)
                        return
                    remaining -= len(page.items)
                next_url, problem = self._next_url(page, followed)
                if next_url is not None:
                    number += 1
                if next_url is not None and self._prefetch:
                    pending = asyncio.ensure_future(self._get_page(next_url, number))
                yield page
                if problem is not None:
                    raise problem
                if next_url is not None and pending is None:
                    pending = asyncio.ensure_future(self._get_page(next_url, number))
        finally:
            if pending is not None:
                pending.cancel()
                await asyncio.wait([pending])  # the caller's own cancellation still propagates
                if not pending.cancelled():
                    pending.exception()  # a page nobody asked for: its failure is not an error

    async def to_list(self) -> list[M]:
        """Every item in memory at once: for lists known to be small."""
        return [item async for item in self]

    async def first(self) -> M | None:
        async with contextlib.aclosing(self._items()) as items:
            async for item in items:
                return item
        return None
