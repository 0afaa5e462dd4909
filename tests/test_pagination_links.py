"""nextLinks that cannot be followed: every fetched item is yielded first, then a typed error."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from _loopback import Loopback, loopback
from aiohttp import web
from hypothesis import given
from hypothesis import strategies as st

import karbon_async as ka
from karbon_async import models as m
from karbon_async._pagination import LinkHistory

# A page script: $skip of the request -> (contact keys, where its nextLink points). The link is
# a function of the server's own base URL so a test can point it at the other server.
Script = dict[str, tuple[list[str], Callable[[str], str] | None]]


def paged(script: Script, base: Callable[[], str]) -> Callable[[web.Request], web.Response]:
    async def handler(request: web.Request) -> web.Response:
        keys, link = script[request.query.get("$skip", "0")]
        document: dict[str, object] = {"value": [{"ContactKey": key} for key in keys]}
        if link is not None:
            document["@odata.nextLink"] = link(base())
        return web.json_response(document)

    return handler  # type: ignore[return-value]


def client(server: Loopback) -> ka.KarbonClient:
    return ka.KarbonClient(
        bearer_token="t",
        access_key="k",
        base_url=server.base_url,
        retry=ka.RetryPolicy(max_attempts=1),
    )


def skip(n: int) -> Callable[[str], str]:
    return lambda base: f"{base}/v3/Contacts?$skip={n}"


async def collect(paginator: ka.Paginator[m.ContactSummary], into: list[str]) -> None:
    async for contact in paginator:
        assert contact.contact_key is not None
        into.append(contact.contact_key)


# With and without prefetch the outcome must be the same; that prefetch does fetch ahead (and
# only with it) is test_pagination_paging.py's test_the_next_page_is_fetched_while_...
@pytest.mark.parametrize("prefetch", [True, False])
async def test_items_before_a_foreign_link_are_yielded_then_it_is_refused(prefetch: bool) -> None:
    async with loopback(paged({}, lambda: "")) as elsewhere:
        script: Script = {
            "0": (["a", "b"], skip(2)),
            "2": (["c"], lambda _base: f"{elsewhere.base_url}/v3/Contacts?$skip=3"),
        }
        ours: Loopback
        async with loopback(paged(script, lambda: ours.base_url)) as ours:
            seen: list[str] = []
            async with client(ours) as karbon:
                with pytest.raises(ka.UnsafeURLError, match="refusing to send credentials"):
                    await collect(karbon.contacts.list(prefetch=prefetch), seen)
    assert seen == ["a", "b", "c"]
    assert elsewhere.requests == []
    assert len(ours.requests) == 2


@pytest.mark.parametrize("prefetch", [True, False])
@pytest.mark.parametrize(
    ("script", "expected", "message"),
    [
        # page 2 links back to itself
        ({"0": (["a"], skip(1)), "1": (["b"], skip(1))}, ["a", "b"], "repeated"),
        # page 2 links back to the very first request
        (
            {"0": (["a"], skip(1)), "1": (["b"], lambda base: f"{base}/v3/Contacts?$top=100")},
            ["a", "b"],
            "repeated",
        ),
        # page 3 links back to page 2
        (
            {"0": (["a"], skip(1)), "1": (["b"], skip(2)), "2": (["c"], skip(1))},
            ["a", "b", "c"],
            "repeated",
        ),
        # an empty page that still links on
        ({"0": (["a"], skip(1)), "1": ([], skip(2)), "2": (["z"], None)}, ["a"], "empty page"),
        ({"0": ([], skip(1)), "1": (["z"], None)}, [], "empty page"),
    ],
)
async def test_link_chains_that_would_not_end_raise_a_typed_error(
    script: Script, expected: list[str], message: str, prefetch: bool
) -> None:
    server: Loopback
    async with loopback(paged(script, lambda: server.base_url)) as server:
        seen: list[str] = []
        async with client(server) as karbon:
            with pytest.raises(ka.PaginationError, match=message) as caught:
                await collect(karbon.contacts.list(prefetch=prefetch), seen)
    assert seen == expected
    assert isinstance(caught.value, ka.KarbonError)
    assert caught.value.url.startswith(server.base_url)
    # Nothing was fetched twice and nothing past the bad link.
    assert len(server.paths) == len(set(server.paths)) == len(expected) + (message == "empty page")


async def test_pages_yields_the_page_carrying_the_bad_link_before_raising() -> None:
    script: Script = {"0": (["a"], skip(1)), "1": (["b", "c"], skip(1))}
    server: Loopback
    async with loopback(paged(script, lambda: server.base_url)) as server:
        pages: list[list[str | None]] = []

        async def read_pages(karbon: ka.KarbonClient) -> None:
            async for page in karbon.contacts.list().pages():
                pages.append([contact.contact_key for contact in page.items])

        async with client(server) as karbon:
            with pytest.raises(ka.PaginationError):
                await read_pages(karbon)
    assert pages == [["a"], ["b", "c"]]


async def test_stopping_before_the_bad_link_raises_nothing() -> None:
    script: Script = {"0": (["a", "b"], skip(0))}
    server: Loopback
    async with (
        loopback(paged(script, lambda: server.base_url)) as server,
        client(server) as karbon,
    ):
        both = await karbon.contacts.list(max_items=2).to_list()
        first = await karbon.contacts.list(prefetch=False).first()
    assert [contact.contact_key for contact in both] == ["a", "b"]
    assert first is not None
    assert first.contact_key == "a"
    assert len(server.requests) == 2


async def test_a_long_chain_of_distinct_links_is_followed_to_its_end() -> None:
    script: Script = {str(n): ([f"k{n}"], skip(n + 1)) for n in range(30)}
    script["30"] = (["last"], None)
    server: Loopback
    async with loopback(paged(script, lambda: server.base_url)) as server:
        seen: list[str] = []
        async with client(server) as karbon:
            await collect(karbon.contacts.list(), seen)
    assert seen == [f"k{n}" for n in range(30)] + ["last"]


@given(
    prefix=st.integers(min_value=0, max_value=300),
    loop=st.integers(min_value=1, max_value=300),
    recent=st.integers(min_value=1, max_value=40),
)
def test_link_history_finds_any_loop_in_bounded_memory(prefix: int, loop: int, recent: int) -> None:
    """Links 0..prefix-1, then a loop of ``loop`` links forever: the history reports no link
    before the first true repeat, reports one before three times that many links, and never holds
    more than ``recent`` + 1 links."""

    def link(step: int) -> str:
        position = step if step < prefix else prefix + (step - prefix) % loop
        return f"https://api.karbonhq.com/v3/Contacts?$skip={position}"

    history = LinkHistory(link(0), recent=recent)
    first_repeat = prefix + loop
    step = 1
    while link(step) not in history:
        history.add(link(step))
        assert len(history) <= recent + 1
        step += 1
    assert step >= first_repeat, "never a false report"
    assert step <= 3 * first_repeat + 2
    if loop <= recent:
        assert step == first_repeat, "a loop among the recent links is caught at once"


def test_a_long_list_keeps_a_bounded_history() -> None:
    urls = ["https://x/v3/Contacts"] + [f"https://x/v3/Contacts?$skip={n}" for n in range(10_000)]
    history = LinkHistory(urls[0], recent=16)
    for url in urls[1:]:
        assert url not in history
        history.add(url)
    held = [url for url in urls if url in history]
    # The last 16 links, and the mark Brent's method moved to link 2**13 - 2 (the first is 0).
    assert held == [urls[2**13 - 2], *urls[-16:]]
    assert len(history) == 17
