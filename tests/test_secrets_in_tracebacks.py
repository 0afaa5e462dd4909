"""Credentials never reach a frame an SDK exception leads to.

Error reporters that capture frame locals (Sentry's default, rich's ``show_locals``,
``pytest -l``) repr everything a traceback leads to. A network failure inside aiohttp happens
in frames that hold the request's headers, so the SDK must not chain aiohttp's exception. Each
test provokes one failure against a real loopback socket, then walks every frame reachable from
the exception the SDK raised and reprs every local.

The secrets live in module globals only (globals are not walked, and a test frame that held
them as locals would be reached through ``f_back``)."""

from __future__ import annotations

import asyncio
import contextlib
import errno
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator, Mapping
from types import FrameType, TracebackType
from typing import Any

import pytest

import karbon_async as ka

BEARER = "bearer-6f1d0c2e9a7b4d35"
ACCESS = "access-8e2b7c41d9a04f66"
SECRETS = (BEARER, ACCESS)

Serve = Callable[[asyncio.StreamReader, asyncio.StreamWriter], Awaitable[None]]


def reachable_texts(error: BaseException, depth: int = 2) -> Iterator[str]:
    """The repr (and str) of everything reachable from ``error``: the exception chain
    (``__cause__``, ``__context__``, args), every traceback frame and every frame behind it
    (``f_back``), every local of those frames and the items of containers ``depth`` levels deep.
    Exceptions, tracebacks and frames met among the values are followed the same way."""
    seen: set[int] = set()
    pending: list[tuple[Any, int]] = [(error, 0)]
    while pending:
        value, level = pending.pop()
        if id(value) in seen:
            continue
        seen.add(id(value))
        if isinstance(value, FrameType):
            pending.extend((local, 0) for local in value.f_locals.values())
            if value.f_back is not None:
                pending.append((value.f_back, 0))
            continue
        if isinstance(value, TracebackType):
            pending.append((value.tb_frame, 0))
            if value.tb_next is not None:
                pending.append((value.tb_next, 0))
            continue
        try:
            yield repr(value)
            yield str(value)
        except Exception as exc:  # a half-built object's repr may fail; its type still shows
            yield f"<unreprable {type(value).__name__}: {exc}>"
        if isinstance(value, BaseException):
            pending.extend(
                (linked, 0)
                for linked in (value.__cause__, value.__context__, value.__traceback__)
                if linked is not None
            )
            pending.extend((arg, 1) for arg in value.args)
            pending.extend((attr, 1) for attr in vars(value).values())
        elif level < depth and isinstance(value, Mapping):
            pending.extend((item, level + 1) for pair in value.items() for item in pair)
        elif level < depth and isinstance(value, list | tuple | set | frozenset):
            pending.extend((item, level + 1) for item in value)


def assert_no_secret(error: BaseException) -> int:
    """Fail if a credential appears anywhere reachable; returns how many texts were checked."""
    checked = 0
    for text in reachable_texts(error):
        checked += 1
        for secret in SECRETS:
            assert secret not in text, f"credential reachable from {type(error).__name__}"
    return checked


def walker_sees_a_leak() -> None:
    """The walker must find a secret hidden the way aiohttp hides one: a dict local of a frame
    in the chained exception's traceback (otherwise the tests below could not fail)."""

    def inner() -> None:
        headers = {"Authorization": f"Bearer {BEARER}"}  # noqa: F841  (a local, as in aiohttp)
        raise OSError("boom")

    try:
        try:
            inner()
        except OSError as exc:
            raise ka.TransportError("x", method="GET", url="u", maybe_processed=True) from exc
    except ka.TransportError as error:
        with pytest.raises(AssertionError, match="credential reachable"):
            assert_no_secret(error)


def test_the_walker_finds_a_secret_in_a_chained_frame() -> None:
    walker_sees_a_leak()


@contextlib.asynccontextmanager
async def raw_server(serve: Serve) -> AsyncIterator[str]:
    async def guarded(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            await serve(reader, writer)
        except (asyncio.IncompleteReadError, ConnectionError):
            pass
        finally:
            writer.close()

    server = await asyncio.start_server(guarded, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.close()
        with contextlib.suppress(asyncio.TimeoutError):
            await asyncio.wait_for(server.wait_closed(), 1)


def make_client(base_url: str, timeout: float = 5.0) -> ka.KarbonClient:
    return ka.KarbonClient(
        bearer_token=BEARER,
        access_key=ACCESS,
        base_url=base_url,
        timeout=timeout,
        retry=ka.RetryPolicy(max_attempts=2, base_delay=0.0, max_delay=0.0),
    )


async def drop_mid_response(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    await reader.readuntil(b"\r\n\r\n")
    writer.write(b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 500\r\n")
    writer.write(b"\r\n" + b'{"ContactKey": "')
    await writer.drain()


async def never_answer(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    await reader.readuntil(b"\r\n\r\n")
    await reader.read()  # until the client gives up and closes


@contextlib.asynccontextmanager
async def closed_port(serve: Serve) -> AsyncIterator[str]:
    server = await asyncio.start_server(serve, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    server.close()
    await server.wait_closed()
    yield f"http://127.0.0.1:{port}"


@pytest.mark.parametrize(
    ("server", "serve", "timeout", "expected"),
    [
        pytest.param(raw_server, drop_mid_response, 5.0, ka.TransportError, id="dropped"),
        pytest.param(raw_server, never_answer, 0.2, ka.RequestTimeoutError, id="timeout"),
        pytest.param(closed_port, never_answer, 5.0, ka.ConnectError, id="refused"),
    ],
)
async def test_no_credential_reachable_from_a_transport_failure(
    server: Callable[[Serve], contextlib.AbstractAsyncContextManager[str]],
    serve: Serve,
    timeout: float,
    expected: type[ka.TransportError],
) -> None:
    async with server(serve) as base_url:
        client = make_client(base_url, timeout)
        try:
            with pytest.raises(expected) as caught:
                await client.contacts.get("4mYRhDPgWXkf")
        finally:
            await client.aclose()
    assert (caught.value.__cause__, caught.value.__context__) == (None, None)
    assert caught.value.cause is not None  # the facts of aiohttp's failure are kept
    if expected is ka.ConnectError:
        assert caught.value.errno == errno.ECONNREFUSED
    assert assert_no_secret(caught.value) > 100  # the walk really went through the frames


@pytest.mark.parametrize(
    ("serve", "timeout", "expected"),
    [
        pytest.param(drop_mid_response, 5.0, ka.TransportError, id="dropped"),
        pytest.param(never_answer, 0.2, ka.RequestTimeoutError, id="timeout"),
    ],
)
async def test_no_credential_reachable_from_a_failed_download(
    serve: Serve, timeout: float, expected: type[ka.TransportError]
) -> None:
    async with raw_server(serve) as base_url:
        client = make_client(base_url, timeout)
        try:
            with pytest.raises(expected) as caught:
                async for _ in client.files.download_by_token("t0k3n"):
                    pass
        finally:
            await client.aclose()
    assert (caught.value.__cause__, caught.value.__context__) == (None, None)
    assert assert_no_secret(caught.value) > 100


SIGNING_KEY = "signing-key-3c9e1f7a2b"


async def test_reprs_of_objects_holding_secrets_hide_them() -> None:
    from karbon_async import webhooks as wh
    from karbon_async._transport import Request
    from karbon_async.models import CreateWebhookSubscriptionRequest, WebhookType

    client = make_client("https://api.karbonhq.com")
    try:
        sender = client._sender
        request = sender._build("GET", sender.url_for("/v3/Contacts"), None, None, None, None)
        assert BEARER in request.headers["Authorization"]  # the objects below really hold them
        body = CreateWebhookSubscriptionRequest(
            target_url="https://example.com/hooks",
            webhook_type=WebhookType.CONTACT,
            signing_key=SIGNING_KEY,
        )
        assert body.signing_key == SIGNING_KEY
        holders: list[object] = [
            client,
            client.budget,
            client._transport,
            sender._credentials,
            request,
            Request("GET", "https://api.karbonhq.com/v3/Contacts", headers=request.headers),
            body,
            wh.WebhookReceiver(SIGNING_KEY, wh.WebhookWorker(wh.Router())),
            wh.SubscriptionKeeper(client, ["Contact"], "https://example.com/hooks", SIGNING_KEY),
            ka.RedisBudget(
                ka.RateLimit(), access_key=ACCESS, url=f"redis://:{BEARER}@127.0.0.1:1/0"
            ),
        ]
        for holder in holders:
            for secret in (*SECRETS, SIGNING_KEY):
                assert secret not in repr(holder), type(holder).__name__
                assert secret not in str(holder), type(holder).__name__
        assert "signing_key=<hidden>" in repr(body)
        unset = CreateWebhookSubscriptionRequest(
            target_url="https://example.com/hooks", webhook_type=WebhookType.CONTACT
        )
        assert "signing_key=UNSET" in repr(unset)
    finally:
        await client.aclose()
