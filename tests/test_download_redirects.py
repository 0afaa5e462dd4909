"""Where a download's 302 points decides how it is fetched: on the Karbon origin with both auth
headers and a permit from the account's budget; anywhere else with neither."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import pytest
from _loopback import Loopback, loopback
from aiohttp import web

import karbon_async as ka

BODY = b"file bytes " * 1000
AUTH = ("Authorization", "AccessKey")


@asynccontextmanager
async def karbon_and_cdn() -> AsyncIterator[tuple[Loopback, Loopback]]:
    async def cdn_blob(request: web.Request) -> web.Response:
        return web.Response(body=BODY)

    async with loopback(cdn_blob) as cdn:

        async def karbon_api(request: web.Request) -> web.Response:
            if request.path == "/v3/Files":
                return web.Response(body=BODY if request.query.get("token") == "tok" else b"")
            target = {
                "relative": "/v3/Files?token=tok",
                "absolute": f"{karbon.base_url}/v3/Files?token=tok",
                "cdn": f"{cdn.base_url}/blob?sig=abc",
            }[request.match_info["tail"].split("/")[2]]
            raise web.HTTPFound(target)

        karbon: Loopback
        async with loopback(karbon_api) as karbon:
            yield karbon, cdn


def make_client(server: Loopback) -> ka.KarbonClient:
    return ka.KarbonClient(
        bearer_token="secret-token", access_key="secret-key", base_url=server.base_url
    )


@pytest.mark.parametrize("where", ["relative", "absolute"])
async def test_a_redirect_on_the_karbon_origin_is_a_karbon_request(where: str) -> None:
    async with karbon_and_cdn() as (karbon, cdn), make_client(karbon) as client:
        data = b"".join([chunk async for chunk in client.files.download(where)])
        granted = client.budget.snapshot().granted
    assert data == BODY
    assert [request.path for request in karbon.requests] == [
        f"/v3/FileDetails/{where}/Download",
        "/v3/Files",
    ]
    followed = karbon.requests[1]
    assert followed.headers["Authorization"] == "Bearer secret-token"
    assert followed.headers["AccessKey"] == "secret-key"
    assert granted == 2, "the redirect target took a permit of its own"
    assert cdn.requests == []


async def test_a_redirect_elsewhere_carries_no_credentials_and_no_permit() -> None:
    async with karbon_and_cdn() as (karbon, cdn), make_client(karbon) as client:
        data = b"".join([chunk async for chunk in client.files.download("cdn")])
        granted = client.budget.snapshot().granted
    assert data == BODY
    assert len(karbon.requests) == 1
    assert len(cdn.requests) == 1
    assert not any(name in cdn.requests[0].headers for name in AUTH)
    assert granted == 1
