"""Server-given links of every hostile shape are refused with UnsafeURLError, never another
error, and a link that is accepted is one aiohttp sends to our origin, without userinfo."""

from __future__ import annotations

from typing import Any

import pytest
from _loopback import loopback
from aiohttp import web
from hypothesis import example, given, settings
from hypothesis import strategies as st
from yarl import URL

import karbon_async as ka

BASE = "https://api.karbonhq.com"
HOST = "api.karbonhq.com"


def checker() -> ka.KarbonClient:
    return ka.KarbonClient(bearer_token="t", access_key="k", base_url=BASE)


def check(link: str) -> str:
    """What the paginator does with a nextLink: normalise it, then the origin check."""
    return checker()._sender.checked_link(link)


def assert_ours_if_accepted(link: str) -> None:
    try:
        url = check(link)
    except ka.UnsafeURLError:
        return
    sent = URL(url, encoded=True)  # what the transport hands aiohttp
    assert (sent.scheme, (sent.raw_host or "").lower(), sent.port) == ("https", HOST, 443), url
    assert sent.user is None, url
    assert sent.password is None, url


_schemes = st.sampled_from(["https", "HTTPS", "hTTps", "http", "ftp", "", "javascript", "https "])
_separators = st.sampled_from(["://", ":/", ":", ":///", ":\\\\", "://\\", ":\\/", "://\t"])
_userinfo = st.sampled_from(
    ["", "u@", "u:p@", "@", ":@", "evil.test\\@", "evil.test%40@", f"{HOST}@", "%75@"]
)
_hosts = st.sampled_from(
    [
        HOST,
        HOST.upper(),
        "Api.KarbonHQ.com",
        HOST + ".",
        "evil.test",
        "\u0430pi.karbonhq.com",  # Cyrillic a
        "\uff41pi.karbonhq.com",  # fullwidth a, NFKC-folds to ours
        "xn--pi-7ld.karbonhq.com",
        "api%2ekarbonhq%2ecom",
        "%61pi.karbonhq.com",
        HOST + "\\evil.test",
        HOST + "%2f@evil.test",
        HOST + "%00",
        "api.karbon hq.com",
        "api.karbon\nhq.com",
        "[::1]",
        "127.0.0.1",
        "",
    ]
)
_ports = st.sampled_from(
    [
        "",
        ":",
        ":443",
        ":0443",
        ":80",
        ":0",
        ":99999",
        ":65536",
        ":-1",
        ":abc",
        ":+443",
        ": 443",
        ":443 ",
        ":\uff14\uff14\uff13",  # fullwidth digits
        ":1e3",
    ]
)
_paths = st.sampled_from(
    [
        "/v3/Contacts?$skip=2",
        "",
        "/",
        "\\v3",
        "//evil.test/x",
        "#f",
        "?a=b@evil.test",
        "/v3/Contacts?$skip=2 ",
        "/%2e%2e/x",
    ]
)
_padding = st.sampled_from(["", " ", "\t", "\n", "\x00", "\u3000"])


@settings(max_examples=600, deadline=None)
@given(
    pad=_padding,
    scheme=_schemes,
    separator=_separators,
    userinfo=_userinfo,
    host=_hosts,
    port=_ports,
    path=_paths,
    trail=_padding,
)
@example("", "https", "://", "", HOST, ":99999", "/v3/Contacts", "")  # port out of range
@example("", "https", "://", "u:p@", HOST, "", "/v3/Contacts", "")  # userinfo on our origin
def test_hostile_links_are_refused_with_unsafe_url_error(
    pad: str,
    scheme: str,
    separator: str,
    userinfo: str,
    host: str,
    port: str,
    path: str,
    trail: str,
) -> None:
    assert_ours_if_accepted(f"{pad}{scheme}{separator}{userinfo}{host}{port}{path}{trail}")


@settings(max_examples=300, deadline=None)
@given(st.text())
def test_any_text_is_refused_or_on_our_origin(link: str) -> None:
    assert_ours_if_accepted(link)


@settings(max_examples=200, deadline=None)
@given(
    scheme=st.sampled_from(["https", "HTTPS", "Https"]),
    host=st.sampled_from([HOST, HOST.upper(), "Api.KarbonHQ.Com"]),
    port=st.sampled_from(["", ":443", ":0443"]),
    query=st.text(st.characters(codec="ascii", exclude_categories=["Cc"]), max_size=30),
)
def test_links_to_our_origin_in_any_spelling_are_followed(
    scheme: str, host: str, port: str, query: str
) -> None:
    url = check(f"{scheme}://{host}{port}/v3/Contacts?x={query}")
    assert URL(url, encoded=True).raw_path == "/v3/Contacts"


async def collect(contacts: ka.Paginator[Any], into: list[str | None]) -> None:
    async for contact in contacts:
        into.append(contact.contact_key)


@pytest.mark.parametrize(
    "link",
    [
        "http://127.0.0.1:99999/v3/Contacts?$skip=1",
        "http://u:p@{hostport}/v3/Contacts?$skip=1",
        "http://{hostport}\\@evil.test/v3/Contacts?$skip=1",
        "http://{hostport}:abc/v3/Contacts?$skip=1",
    ],
)
async def test_a_hostile_next_link_is_refused_after_its_page_is_yielded(link: str) -> None:
    async def handler(request: web.Request) -> web.Response:
        hostport = request.host
        return web.json_response(
            {
                "value": [{"ContactKey": "a"}],
                "@odata.nextLink": link.replace("{hostport}", hostport),
            }
        )

    async with loopback(handler) as server:  # type: ignore[arg-type]
        seen: list[str | None] = []
        async with ka.KarbonClient(
            bearer_token="t", access_key="k", base_url=server.base_url
        ) as karbon:
            with pytest.raises(ka.UnsafeURLError):
                await collect(karbon.contacts.list(), seen)
        assert seen == ["a"]
        assert len(server.requests) == 1
