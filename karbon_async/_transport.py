"""Transports: the one small interface between the request path and the network.

A transport sends one fully built request and returns the fully read response, or raises a
``TransportError`` saying whether the request may have reached the server. It does not retry,
rate-limit or interpret statuses: those are the layers above it.
"""

from __future__ import annotations

import asyncio
import contextlib
import contextvars
import functools
import math
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from typing import Any, Protocol

import aiohttp
import attrs
from yarl import URL

from ._exceptions import ConnectError, RequestTimeoutError, TransportError
from ._redact import redact_text

BeforeResend = Callable[[], Awaitable[None]]


def _optional_seconds(
    instance: object, attribute: attrs.Attribute[float | None], value: object
) -> None:
    if value is None:
        return
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise TypeError(f"Timeout.{attribute.name} must be seconds or None, got {value!r}")
    if not 0 < value < math.inf:
        raise ValueError(f"Timeout.{attribute.name} must be positive and finite, got {value!r}")


@attrs.frozen
class Timeout:
    """How long a request may take, in seconds (None: no limit).

    ``connect``: to get a connection (including the proxy and TLS); ``read``: for each wait for
    data from the server; ``total``: the whole attempt, body included. A plain number given as a
    client's ``timeout`` means ``Timeout(total=number)``. Each retry has its own limits.
    """

    connect: float | None = attrs.field(default=None, validator=_optional_seconds)
    read: float | None = attrs.field(default=None, validator=_optional_seconds)
    total: float | None = attrs.field(default=None, validator=_optional_seconds)

    def for_request(self) -> aiohttp.ClientTimeout:
        return _client_timeout(self.total, self.connect, self.read)

    def for_stream(self) -> aiohttp.ClientTimeout:
        # No total limit for a body of any size; each wait for data is bounded instead.
        return aiohttp.ClientTimeout(
            total=None,
            sock_connect=self.connect if self.connect is not None else self.total,
            sock_read=self.read if self.read is not None else self.total,
        )

    def __str__(self) -> str:
        if self.connect is None and self.read is None:
            return f"{self.total} s"
        parts = (("connect", self.connect), ("read", self.read), ("total", self.total))
        return ", ".join(f"{name} {value} s" for name, value in parts if value is not None)


@functools.lru_cache(maxsize=64)
def _client_timeout(
    total: float | None, connect: float | None, read: float | None
) -> aiohttp.ClientTimeout:
    # One per distinct setting (aiohttp's is immutable), not one per request.
    return aiohttp.ClientTimeout(total=total, sock_connect=connect, sock_read=read)


_NO_TIMEOUT = Timeout()


def as_timeout(value: Timeout | float | None) -> Timeout | None:
    """A client's ``timeout`` option as a Timeout: a number is the total; None, no limit."""
    if value is None or isinstance(value, Timeout):
        return value
    return Timeout(total=value)


@attrs.frozen
class Request:
    method: str
    url: str
    """Absolute and already percent-encoded; sent as is."""
    headers: Mapping[str, str] = attrs.field(factory=dict, repr=False)  # credentials: never shown
    body: bytes | None = attrs.field(default=None, repr=False)
    timeout: Timeout | None = attrs.field(default=None, converter=as_timeout)


@attrs.frozen
class Response:
    status: int
    headers: Mapping[str, str]
    body: bytes = attrs.field(repr=False)
    url: str


@attrs.frozen
class StreamedResponse:
    """A response whose body is read chunk by chunk (file downloads)."""

    status: int
    headers: Mapping[str, str]
    url: str
    chunks: AsyncIterator[bytes] = attrs.field(repr=False)


STREAM_CHUNK_SIZE = 64 * 1024


class Transport(Protocol):
    async def send(
        self, request: Request, *, before_resend: BeforeResend | None = None
    ) -> Response:
        """Send ``request``. ``before_resend`` is awaited before the transport itself puts the
        same request on the wire again (aiohttp's silent retry on a dropped kept-alive
        connection), so the rate limiter can count that second arrival."""
        ...

    async def aclose(self) -> None: ...


class StreamingTransport(Transport, Protocol):
    """A transport that can also stream a response body (needed for file downloads only, so a
    plain ``Transport`` stays enough for everything else)."""

    def stream(self, request: Request) -> contextlib.AbstractAsyncContextManager[StreamedResponse]:
        """Send ``request`` (no redirects followed) and hold the response open while the
        caller reads ``chunks``."""
        ...


# Which callback the current request installed; read by the session middleware, which runs in
# the caller's task and so sees the caller's context.
_before_resend: contextvars.ContextVar[tuple[list[int], BeforeResend | None]] = (
    contextvars.ContextVar("karbon_before_resend")
)


async def _count_sends(
    request: aiohttp.ClientRequest, handler: aiohttp.ClientHandlerType
) -> aiohttp.ClientResponse:
    sends, before_resend = _before_resend.get(([0], None))
    sends[0] += 1
    if sends[0] > 1 and before_resend is not None:
        await before_resend()
    return await handler(request)


class AiohttpTransport:
    """A transport over one ``aiohttp.ClientSession`` (made here, or yours: then not closed)."""

    def __init__(
        self,
        session: aiohttp.ClientSession | None = None,
        *,
        connector_limit: int = 100,
        proxy: str | None = None,
        trust_env: bool = False,
    ) -> None:
        if session is not None and (proxy is not None or trust_env):
            raise ValueError(
                "proxy= and trust_env= configure a session made here: set them on yours"
            )
        self._owns_session = session is None
        self._session = session
        self._connector_limit = connector_limit
        # Per request rather than on the session: aiohttp's session-level proxy is newer than
        # the oldest aiohttp this package supports.
        self._proxy = proxy
        self._trust_env = trust_env
        self._middleware_chain: tuple[Any, ...] | None = None

    def _middlewares(self, session: aiohttp.ClientSession) -> tuple[Any, ...]:
        # Kept after a user's own session middlewares, so every send is seen; worked out once.
        if self._middleware_chain is None:
            self._middleware_chain = (*getattr(session, "_middlewares", ()), _count_sends)
        return self._middleware_chain

    def _ensure_session(self) -> aiohttp.ClientSession:
        if self._session is None:
            self._session = aiohttp.ClientSession(
                connector=aiohttp.TCPConnector(limit=self._connector_limit),
                timeout=aiohttp.ClientTimeout(total=None),
                trust_env=self._trust_env,
            )
        return self._session

    async def send(
        self, request: Request, *, before_resend: BeforeResend | None = None
    ) -> Response:
        session = self._ensure_session()
        token = _before_resend.set(([0], before_resend))
        try:
            async with session.request(
                request.method,
                URL(request.url, encoded=True),
                headers=request.headers,  # aiohttp copies it
                data=request.body,
                timeout=(request.timeout or _NO_TIMEOUT).for_request(),
                allow_redirects=False,
                proxy=self._proxy,
                middlewares=self._middlewares(session),
            ) as response:
                body = await response.read()
                return Response(
                    status=response.status,
                    headers={key: value for key, value in response.headers.items()},
                    body=body,
                    url=request.url,
                )
        except NETWORK_ERRORS as exc:
            failure = transport_error(exc, request, waiting_for="a response")
        finally:
            _before_resend.reset(token)
        raise failure  # outside the handler: see transport_error

    @contextlib.asynccontextmanager
    async def stream(self, request: Request) -> AsyncIterator[StreamedResponse]:
        session = self._ensure_session()
        timeout = (request.timeout or Timeout()).for_stream()
        try:
            response = await session.request(
                request.method,
                URL(request.url, encoded=True),
                headers=dict(request.headers),
                data=request.body,
                timeout=timeout,
                allow_redirects=False,
                proxy=self._proxy,
            )
        except NETWORK_ERRORS as exc:
            failure = transport_error(exc, request, waiting_for="data")
        else:
            async with response:
                yield StreamedResponse(
                    status=response.status,
                    headers={key: value for key, value in response.headers.items()},
                    url=request.url,
                    chunks=_read_chunks(response, request),
                )
            return
        raise failure

    async def aclose(self) -> None:
        if self._owns_session and self._session is not None:
            await self._session.close()
        self._session = None


NETWORK_ERRORS = (aiohttp.ClientError, OSError, asyncio.TimeoutError)
"""What aiohttp raises when the network fails (3.10's ``asyncio.TimeoutError`` is no OSError)."""


async def _read_chunks(response: aiohttp.ClientResponse, request: Request) -> AsyncIterator[bytes]:
    """The body chunk by chunk; only the reading is guarded, so an OSError of the consumer's own
    (writing a file) is never mistaken for a network failure."""
    chunks = response.content.iter_chunked(STREAM_CHUNK_SIZE)
    while True:
        try:
            chunk = await chunks.__anext__()
        except StopAsyncIteration:
            return
        except NETWORK_ERRORS as exc:
            failure = transport_error(exc, request, waiting_for="data")
        else:
            yield chunk
            continue
        raise failure


def transport_error(exc: BaseException, request: Request, *, waiting_for: str) -> TransportError:
    """A TransportError carrying the facts of aiohttp's failure (its class name, errno and
    message) and not the failure itself.

    aiohttp's exception is never chained: its traceback leads to frames whose locals hold the
    request headers, credentials included, and error reporters that capture frame locals
    (Sentry, rich's ``show_locals``, ``pytest -l``) would print them. Callers raise the result
    after their ``except`` block, so that ``__context__`` does not link it either."""
    cause = type(exc).__name__
    errno = exc.errno if isinstance(exc, OSError) and isinstance(exc.errno, int) else None
    method, url = request.method, request.url
    if isinstance(exc, aiohttp.ClientConnectorError | aiohttp.ConnectionTimeoutError):
        message = f"could not connect: {cause}: {_message(exc)}"
        return ConnectError(message, method=method, url=url, cause=cause, errno=errno)
    if isinstance(exc, asyncio.TimeoutError | aiohttp.ServerTimeoutError):
        error_type: type[TransportError] = RequestTimeoutError
        message = f"no {waiting_for} within {request.timeout} s"
    else:
        error_type, message = TransportError, f"connection failed: {cause}: {_message(exc)}"
    return error_type(
        message, method=method, url=url, maybe_processed=True, cause=cause, errno=errno
    )


def _message(exc: BaseException) -> str:
    # Only the text of the failure; aiohttp's ClientResponseError would repr its request_info,
    # headers included, but its str is status, message and URL.
    return redact_text(str(exc))[:500]
