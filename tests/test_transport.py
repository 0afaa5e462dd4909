"""The aiohttp transport against a real loopback server that drops kept-alive connections."""

from __future__ import annotations

import asyncio

import karbon_async as ka
from karbon_async._transport import Request

OK = b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\nContent-Type: application/json\r\n\r\n{}"


async def test_aiohttp_silent_resend_is_reported_before_it_happens() -> None:
    """aiohttp re-sends an idempotent request once when a kept-alive connection turns out to be
    closed; the transport must announce that second send so the budget can count it."""
    arrivals: list[int] = []
    connections = 0

    async def serve(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        nonlocal connections
        connections += 1
        number = connections
        handled = 0
        while await reader.readuntil(b"\r\n\r\n"):
            arrivals.append(number)
            handled += 1
            if number == 1 and handled == 2:
                writer.close()  # drop the kept-alive connection without answering
                return
            writer.write(OK)
            await writer.drain()

    async def guarded(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            await serve(reader, writer)
        except (asyncio.IncompleteReadError, ConnectionError):
            writer.close()

    server = await asyncio.start_server(guarded, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    transport = ka.AiohttpTransport()
    resends = 0

    async def before_resend() -> None:
        nonlocal resends
        resends += 1

    try:
        url = f"http://127.0.0.1:{port}/v3/Contacts"
        first = await transport.send(Request("GET", url, timeout=5), before_resend=before_resend)
        second = await transport.send(Request("GET", url, timeout=5), before_resend=before_resend)
    finally:
        await transport.aclose()
        server.close()
        await server.wait_closed()
    assert (first.status, second.status) == (200, 200)
    assert len(arrivals) == 3, "the second GET arrived twice"
    assert resends == 1


async def test_refused_connection_is_a_connect_error() -> None:
    server = await asyncio.start_server(lambda r, w: None, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    server.close()
    await server.wait_closed()
    transport = ka.AiohttpTransport()
    try:
        error = None
        try:
            await transport.send(Request("POST", f"http://127.0.0.1:{port}/v3/Notes", timeout=2))
        except ka.ConnectError as exc:
            error = exc
    finally:
        await transport.aclose()
    assert error is not None
    assert error.maybe_processed is False
