"""How a list pages: the prefetch of the next page, ``max_items`` cutting the last page, the
raw view's items, and what a collection document must look like."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import pytest
from _loopback import Loopback, loopback
from aiohttp import web

import karbon_async as ka
from karbon_async._misfits import MISFITS_KEPT
from karbon_async._pagination import LinkHistory, Paginator, parse_page
from karbon_async.models import Contact

BASE = "http://127.0.0.1:9"
PAGES = 3
PAGE_SIZE = 2


def three_pages(server: list[Loopback]) -> Any:
    """$skip 0, 2, 4: two contacts each, each page linking to the next but the last."""

    async def handler(request: web.Request) -> web.Response:
        skip = int(request.query.get("$skip", "0"))
        document: dict[str, object] = {
            "value": [{"ContactKey": f"c{n}"} for n in range(skip, skip + PAGE_SIZE)],
            "@odata.count": PAGES * PAGE_SIZE,
        }
        if skip + PAGE_SIZE < PAGES * PAGE_SIZE:
            document["@odata.nextLink"] = (
                f"{server[0].base_url}/v3/Contacts?$skip={skip + PAGE_SIZE}"
            )
        return web.json_response(document)

    return handler


def client(server: Loopback) -> ka.KarbonClient:
    return ka.KarbonClient(
        bearer_token="t",
        access_key="k",
        base_url=server.base_url,
        retry=ka.RetryPolicy(max_attempts=1),
    )


async def settle(server: Loopback, requests: int) -> None:
    """Give a prefetch time to arrive (one loopback round trip), and a request nobody should
    have sent a moment to show up."""
    for _ in range(200):
        if len(server.requests) >= requests:
            break
        await asyncio.sleep(0.01)
    await asyncio.sleep(0.05)


@pytest.mark.parametrize("prefetch", [True, False])
async def test_the_next_page_is_fetched_while_the_caller_works_only_with_prefetch(
    prefetch: bool,
) -> None:
    box: list[Loopback] = []
    async with loopback(three_pages(box)) as server:
        box.append(server)
        async with client(server) as karbon:
            pages = karbon.contacts.list(prefetch=prefetch).pages()
            first = await anext(pages)
            assert [c.contact_key for c in first.items] == ["c0", "c1"]
            await settle(server, 2 if prefetch else 1)
            # With prefetch the second page is on its way while the caller holds the first.
            assert len(server.requests) == (2 if prefetch else 1)
            second = await anext(pages)
            assert [c.contact_key for c in second.items] == ["c2", "c3"]
            await settle(server, 3 if prefetch else 2)
            assert len(server.requests) == (3 if prefetch else 2)
            await pages.aclose()
    assert server.paths[0].startswith("/v3/Contacts")
    assert (
        server.paths[1:]
        == ["/v3/Contacts?$skip=2", "/v3/Contacts?$skip=4"][: len(server.paths) - 1]
    )


@pytest.mark.parametrize("prefetch", [True, False])
async def test_a_page_cut_by_max_items_ends_the_list(prefetch: bool) -> None:
    box: list[Loopback] = []
    async with loopback(three_pages(box)) as server:
        box.append(server)
        async with client(server) as karbon:
            pages = [
                page async for page in karbon.contacts.list(max_items=3, prefetch=prefetch).pages()
            ]
    assert [[c.contact_key for c in page.items] for page in pages] == [["c0", "c1"], ["c2"]]
    assert pages[0].next_link is not None
    assert pages[-1].next_link is None, "a cut page must not offer to resume past what it holds"
    assert pages[-1].count == PAGES * PAGE_SIZE
    assert len(server.requests) == 2


async def test_max_items_at_a_page_boundary_stops_without_another_request() -> None:
    box: list[Loopback] = []
    async with loopback(three_pages(box)) as server:
        box.append(server)
        async with client(server) as karbon:
            pages = [
                page async for page in karbon.contacts.list(max_items=2, prefetch=False).pages()
            ]
            items = [c.contact_key async for c in karbon.contacts.list(max_items=4)]
    assert [[c.contact_key for c in page.items] for page in pages] == [["c0", "c1"]]
    assert pages[0].next_link is None
    assert items == ["c0", "c1", "c2", "c3"]
    assert len(server.requests) == 1 + 2


async def test_raw_items_must_be_json_objects() -> None:
    async def handler(request: web.Request) -> web.Response:
        return web.json_response({"value": [{"ContactKey": "a"}, 7, {"ContactKey": "b"}]})

    async with loopback(handler) as server, client(server) as karbon:
        listing = karbon.contacts.list().raw()
        # An item that is not an object is set aside (never a dict), and the list goes on.
        assert await listing.to_list() == [{"ContactKey": "a"}, {"ContactKey": "b"}]
        [misfit] = listing.misfits
        assert misfit.raw == 7
        assert misfit.index == 1
        assert "expected a JSON object, got int" in misfit.reason
        with pytest.raises(ka.ModelDecodeError, match="expected a JSON object, got int"):
            await karbon.contacts.list(strict=True).raw().to_list()


async def test_raw_and_json_views_page_the_same_list() -> None:
    box: list[Loopback] = []
    async with loopback(three_pages(box)) as server:
        box.append(server)
        async with client(server) as karbon:
            listing = karbon.contacts.list(max_items=5)
            raw = await listing.raw().to_list()
            texts = await listing.json().to_list()
            typed = await listing.to_list()
            json_pages = [page async for page in listing.json().pages()]
    assert [page.count for page in json_pages] == [PAGES * PAGE_SIZE] * 3
    assert [page.next_link is None for page in json_pages] == [False, False, True]
    assert raw == [{"ContactKey": f"c{n}"} for n in range(5)]
    assert texts == [f'{{"ContactKey": "c{n}"}}'.encode() for n in range(5)]  # as sent
    assert [c.contact_key for c in typed] == [f"c{n}" for n in range(5)]


def test_parse_page_reads_the_collection_document() -> None:
    page = parse_page(
        {"value": [{"a": 1}], "@odata.nextLink": "https://x/next", "@odata.count": "12"}, dict
    )
    assert (page.items, page.next_link, page.count) == ([{"a": 1}], "https://x/next", 12)
    # The spec's Invoices/Payments schemas say "values"; an empty link is no link.
    page = parse_page({"values": [{"b": 2}], "@odata.nextLink": ""}, dict)
    assert (page.items, page.next_link, page.count) == ([{"b": 2}], None, None)
    assert parse_page({}, dict).items == []
    with pytest.raises(ValueError, match=r"^expected an OData collection object, got list$"):
        parse_page([], dict)
    with pytest.raises(ValueError, match=r"^the collection's 'value' is not a list$"):
        parse_page({"value": {"a": 1}}, dict)


@pytest.mark.parametrize("recent", [1, 4, 16])
def test_link_history_length_is_what_it_holds(recent: int) -> None:
    """``len`` counts exactly the links ``in`` reports: the recent ones and the mark."""
    urls = [f"https://x/v3/Contacts?$skip={n}" for n in range(200)]
    history = LinkHistory(urls[0], recent=recent)
    assert len(history) == 1
    for count, url in enumerate(urls[1:], 2):
        history.add(url)
        held = sum(seen in history for seen in urls[:count])
        assert len(history) == held
        assert held in (min(count, recent), min(count, recent) + 1)


def test_the_default_history_remembers_the_last_1024_links() -> None:
    urls = [f"https://x/v3/Contacts?$skip={n}" for n in range(3001)]
    history = LinkHistory(urls[0])
    for url in urls[1:]:
        history.add(url)
    assert urls[-1024] in history
    assert urls[-1025] not in history
    assert len(history) == 1024  # Brent's mark (link 2,046) is among the recent ones


async def test_stopping_early_cancels_a_slow_prefetch_quietly() -> None:
    release = asyncio.Event()

    async def handler(request: web.Request) -> web.Response:
        if request.query.get("$skip") == "2":
            await release.wait()  # the second page comes only after the caller has stopped
        document = {
            "value": [{"ContactKey": "c0"}, {"ContactKey": "c1"}],
            "@odata.nextLink": f"{box[0].base_url}/v3/Contacts?$skip=2",
        }
        return web.json_response(document)

    box: list[Loopback] = []
    async with loopback(handler) as server:
        box.append(server)
        async with client(server) as karbon:
            first = await asyncio.wait_for(karbon.contacts.list(prefetch=True).first(), 4.0)
            release.set()
    assert first is not None
    assert first.contact_key == "c0"


def test_parse_page_sets_misfits_aside_and_places_them_on_page_one_by_default() -> None:
    page = parse_page({"value": [{"ContactKey": "c1"}, {"ContactKey": 5}]}, Contact)
    assert [contact.contact_key for contact in page.items] == ["c1"]
    (misfit,) = page.misfits
    assert (misfit.page_url, misfit.page_number, misfit.index) == ("", 1, 1)


def served(pages: list[list[Any]]) -> tuple[str, Any]:
    """A fetch serving ``pages`` in order (each linking to the next), and the first URL."""
    urls = [f"{BASE}/v3/Contacts?$skip={n}" for n in range(len(pages))]
    documents = {}
    for number, items in enumerate(pages):
        document: dict[str, Any] = {"value": items}
        if number + 1 < len(pages):
            document["@odata.nextLink"] = urls[number + 1]
        documents[urls[number]] = json.dumps(document).encode()

    async def fetch(url: str, decode: Any) -> Any:
        return decode(documents[url])

    return urls[0], fetch


def paginator(pages: list[list[Any]], **options: Any) -> Paginator[Contact]:
    first_url, fetch = served(pages)
    return Paginator(
        first_url=first_url,
        model=Contact,
        fetch=fetch,
        checked_link=lambda link: link,
        max_items=None,
        prefetch=False,
        **options,
    )


async def test_misfits_of_later_pages_carry_their_page_and_reach_an_async_hook() -> None:
    seen: list[tuple[int, int]] = []

    async def on_misfit(misfit: ka.Misfit) -> None:
        await asyncio.sleep(0)
        seen.append((misfit.page_number, misfit.index))

    listing = paginator(
        [[{"ContactKey": "c1"}], [{"ContactKey": 2}], [{"ContactKey": "c3"}, {"ContactKey": 4}]],
        on_misfit=on_misfit,
    )
    assert (listing.misfits, listing.misfit_count) == ([], 0)  # nothing listed yet
    keys = [contact.contact_key async for contact in listing]  # not strict unless asked
    assert keys == ["c1", "c3"]
    assert seen == [(2, 0), (3, 1)]
    assert [(m.page_number, m.index) for m in listing.misfits] == seen
    assert listing.misfit_count == 2


async def test_a_paginator_keeps_the_first_thousand_misfits_and_counts_them_all() -> None:
    bad_page = [{"ContactKey": n} for n in range(600)]
    listing = paginator([bad_page, bad_page, bad_page])
    assert [item async for item in listing] == []
    assert listing.misfit_count == 1800
    assert len(listing.misfits) == MISFITS_KEPT
    assert [(m.page_number, m.index) for m in listing.misfits[599:601]] == [(1, 599), (2, 0)]
