"""The request path below the resources: retry -> budget -> transport, and status -> error.

One ``RequestSender`` per client. Every attempt, retries included, takes a permit from the
account's budget before it is sent and releases it when its outcome is known.
"""

from __future__ import annotations

import asyncio
import contextlib
import copy
import json
import logging
import math
import time
import weakref
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from decimal import Decimal
from typing import Any, TypeVar

import attrs
import msgspec

from ._budget import Budget
from ._converter import structure
from ._exact_json import encode_exact, plain_decimal
from ._exceptions import (
    APIStatusError,
    ConnectError,
    EventLoopMismatchError,
    ModelDecodeError,
    RateLimitError,
    ResponseDecodeError,
    UnsafeURLError,
    status_error_class,
)
from ._hooks import (
    NO_HOOKS,
    BudgetWaitEvent,
    Hooks,
    RateLimitedEvent,
    RequestEvent,
    ResponseEvent,
    RetryEvent,
)
from ._json_records import CollectionShapeError
from ._limits import Lane
from ._raw import note as note_raw_response
from ._redact import shown_url
from ._retry import (
    IDEMPOTENT_METHODS,
    OnRetry,
    RetryPolicy,
    call_with_retries,
    is_refused,
    retried_by,
)
from ._transport import (
    Request,
    Response,
    StreamedResponse,
    StreamingTransport,
    Timeout,
    Transport,
    as_timeout,
)
from ._urls import ensure_same_origin, join_url, normalise_link, origin_of, url_path
from ._version import __version__

T = TypeVar("T")

logger = logging.getLogger("karbon_async")

DEFAULT_RETRY_AFTER = 10.0  # Karbon's documented value, used when a 429 carries none
REDIRECT_STATUSES = frozenset({301, 302, 303, 307, 308})
ERROR_BODY_LIMIT = 64 * 1024  # how much of a streamed error body is kept for the exception


@attrs.frozen(repr=False)
class Credentials:
    """The two headers Karbon needs; never shown in reprs or logs."""

    bearer_token: str
    access_key: str

    def __attrs_post_init__(self) -> None:
        for name in ("bearer_token", "access_key"):
            value = getattr(self, name)
            if not isinstance(value, str) or not value.strip():
                raise ValueError(f"{name} must be a non-empty string")
            if any(ch in value for ch in "\r\n"):
                raise ValueError(f"{name} must not contain line breaks")

    def __repr__(self) -> str:
        return "Credentials(bearer_token=<hidden>, access_key=<hidden>)"

    def headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.bearer_token}", "AccessKey": self.access_key}


def encode_json(document: Any) -> bytes:
    """A request body: compact UTF-8 JSON, each Decimal with every digit and no exponent (a
    ``float`` would round an amount past 15 significant digits)."""
    return encode_exact(document, plain_decimal).encode()


_DOCUMENT = msgspec.json.Decoder(float_hook=Decimal)


def json_document(body: bytes) -> Any:
    """The body as Python: objects as dicts, numbers with a fraction as Decimal (exact).

    Exactly ``json.loads(body, parse_float=Decimal)``, parsed by msgspec (0.5-0.8x the CPU,
    benchmarks/README.md). What msgspec refuses and ``json.loads`` takes
    (a BOM, UTF-16, NaN, a lone surrogate) or words otherwise goes to ``json.loads``, so the
    result, or the error, is the one ``json.loads`` gives."""
    try:
        return _DOCUMENT.decode(body)
    except msgspec.DecodeError:
        return json.loads(body, parse_float=Decimal)


def decode_json(
    response: Response, method: str = "GET", decode: Callable[[bytes], T] = json_document
) -> T:
    """``decode(body)``; a body it finds is not JSON raises ``ResponseDecodeError``. A
    ``CollectionShapeError`` (JSON, but not the list asked for) passes through unchanged."""
    try:
        return decode(response.body)
    except CollectionShapeError:
        raise
    except (ValueError, UnicodeDecodeError) as exc:
        error = ResponseDecodeError(
            f"the response to {shown_url(response.url)} is not valid JSON ({exc})",
            method=method,
            url=response.url,
            maybe_processed=True,
        )
        # The request was processed and is never repeated for a non-idempotent method.
        error.not_repeated = method.upper() not in IDEMPOTENT_METHODS
        raise error from exc


def decode_reply(response: Response, method: str, model: type[T]) -> T:
    """The body of a write's answer as ``model``. A body that is not JSON, or does not fit the
    model, raises a ``ResponseDecodeError`` naming the request; for a non-idempotent method it
    says ``not_repeated``: the write was processed, and it is not sent again."""
    document: Any = decode_json(response, method)
    try:
        return structure(document, model)
    except ModelDecodeError as exc:
        exc.method, exc.url = method, response.url
        exc.not_repeated = method.upper() not in IDEMPOTENT_METHODS
        raise


def retry_after_seconds(headers: Mapping[str, str]) -> float:
    value = next((v for k, v in headers.items() if k.lower() == "retry-after"), None)
    try:
        seconds = float(value) if value is not None else DEFAULT_RETRY_AFTER
    except ValueError:
        seconds = DEFAULT_RETRY_AFTER  # an HTTP-date: rare here, and 10 s is Karbon's norm
    return seconds if math.isfinite(seconds) and seconds >= 0 else DEFAULT_RETRY_AFTER


class RequestSender:
    def __init__(
        self,
        *,
        base_url: str,
        credentials: Credentials,
        transport: Transport,
        budget_factory: Callable[[], Budget],
        retry: RetryPolicy,
        timeout: Timeout | float | None,
        hooks: Hooks = NO_HOOKS,
    ) -> None:
        self.base_url = base_url.rstrip("/")
        self.origin = origin_of(self.base_url)
        self._budget_factory = budget_factory
        # A cell shared by with_options views: whichever resolves the budget first, all use it.
        self._budget: list[Budget] = []
        self.retry = retry
        self._credentials = credentials
        self._transport = transport
        self.timeout = as_timeout(timeout)
        self.hooks = hooks
        # Shared by with_options views: the loop the client was first used in.
        self._loop: list[weakref.ref[asyncio.AbstractEventLoop]] = []
        self._user_agent = f"karbon-async/{__version__}"
        self.cache: dict[str, Any] = {}
        """Per-client memo (TenantSettings); shared by ``with_options`` views."""

    @property
    def budget(self) -> Budget:
        """The account's budget, resolved on first use (inside the event loop)."""
        if not self._budget:
            self._budget.append(self._budget_factory())
        return self._budget[0]

    _UNSET: Any = object()

    def with_options(
        self,
        *,
        retry: RetryPolicy | None = None,
        timeout: Timeout | float | None = _UNSET,
        hooks: Hooks | None = None,
    ) -> RequestSender:
        """A view sharing transport, budget, event loop and cache, with another retry policy,
        timeout or hooks."""
        clone = copy.copy(self)
        if retry is not None:
            clone.retry = retry
        if timeout is not RequestSender._UNSET:
            clone.timeout = as_timeout(timeout)
        if hooks is not None:
            clone.hooks = hooks
        return clone

    def _check_loop(self) -> None:
        """The session and the budget belong to one event loop; a second one gets a clear
        error here instead of aiohttp's "attached to a different loop" or a hang."""
        loop = asyncio.get_running_loop()
        if not self._loop:
            self._loop.append(weakref.ref(loop))
        elif self._loop[0]() is not loop:
            raise EventLoopMismatchError(
                "this KarbonClient was first used in another event loop; make one client per "
                "event loop (for example inside the coroutine given to asyncio.run)"
            )

    def url_for(self, path: str, params: Mapping[str, str] | None = None) -> str:
        return join_url(self.base_url, path, params)

    def checked_link(self, link: str) -> str:
        """A server-given absolute link, made sendable, refused unless on our origin."""
        return ensure_same_origin(normalise_link(link), self.origin)

    async def send(
        self,
        method: str,
        url: str,
        *,
        json_body: Any = None,
        body: bytes | None = None,
        content_type: str | None = None,
        lane: Lane = Lane.INTERACTIVE,
        retry: RetryPolicy | None = None,
        extra_headers: Mapping[str, str] | None = None,
        accept_redirect: bool = False,
        route: str | None = None,
    ) -> Response:
        """Send until a success status arrives; raise the typed error of the final failure.
        ``accept_redirect``: a 3xx answer is returned (not followed) rather than raised.
        ``route``: the path template reported to event hooks (default: the URL's path)."""
        self._check_loop()
        request = self._build(method, url, json_body, body, content_type, extra_headers)
        observed = _Observed(self.hooks, method, route, url, lane)

        async def attempt() -> Response:
            return await self._attempt(request, lane, observed, accept_redirect)

        return await self._with_retries(attempt, method, retry or self.retry, observed)

    async def _with_retries(
        self,
        attempt: Callable[[], Awaitable[T]],
        method: str,
        policy: RetryPolicy,
        observed: _Observed,
    ) -> T:
        try:
            return await call_with_retries(
                attempt, method=method, policy=policy, on_retry=observed.on_retry(policy)
            )
        except ConnectError as error:
            if is_refused(error):
                self._word_refused(error)
            raise

    def _word_refused(self, error: ConnectError) -> None:
        """One line that says what to fix: a refused connection to the configured origin is
        almost always a wrong base URL (or a server that is down)."""
        mark = retried_by(error)
        tries = f" ({mark.attempts} attempts)" if mark is not None and mark.attempts > 1 else ""
        error.args = (
            f"connection refused by {self.base_url}{tries}: nothing is listening there. Check "
            "the base URL (KARBON_BASE_URL, or base_url= of KarbonClient) and that the server "
            "is up",
        )

    async def send_json(
        self,
        method: str,
        url: str,
        *,
        json_body: Any = None,
        lane: Lane = Lane.INTERACTIVE,
        retry: RetryPolicy | None = None,
        extra_headers: Mapping[str, str] | None = None,
        route: str | None = None,
        decode: Callable[[bytes], Any] = json_document,
    ) -> Any:
        """Like ``send``, returning the body decoded by ``decode``. A body that is not JSON
        (truncated, malformed) fails the attempt, so it is retried under the same rules as a
        dropped connection: for idempotent methods only."""
        self._check_loop()
        request = self._build(method, url, json_body, None, None, extra_headers)
        observed = _Observed(self.hooks, method, route, url, lane)

        async def attempt() -> Any:
            return decode_json(await self._attempt(request, lane, observed), method, decode)

        return await self._with_retries(attempt, method, retry or self.retry, observed)

    def _build(
        self,
        method: str,
        url: str,
        json_body: Any,
        body: bytes | None,
        content_type: str | None,
        extra_headers: Mapping[str, str] | None,
    ) -> Request:
        ensure_same_origin(url, self.origin)
        headers = {
            **self._credentials.headers(),
            "Accept": "application/json",
            "User-Agent": self._user_agent,
            **(extra_headers or {}),
        }
        if json_body is not None:
            body = encode_json(json_body)
            content_type = "application/json"
        if content_type is not None:
            headers["Content-Type"] = content_type
        return Request(method=method, url=url, headers=headers, body=body, timeout=self.timeout)

    @contextlib.asynccontextmanager
    async def stream(
        self, url: str, *, lane: Lane = Lane.INTERACTIVE, offsite: bool = False
    ) -> AsyncIterator[StreamedResponse]:
        """GET ``url`` and hold the response open while its body is read in chunks.

        A Karbon URL goes through the origin check and the budget, with credentials. An
        ``offsite`` URL (the storage host a download redirects to) is fetched with a plain
        request: no Authorization or AccessKey header, nothing taken from the Karbon budget.
        Not retried: a stream cannot be replayed once the caller has read part of it.
        """
        transport = self._transport
        if not callable(getattr(transport, "stream", None)):
            raise TypeError(f"{type(transport).__name__} cannot stream; downloads need stream()")
        streaming: StreamingTransport = transport  # type: ignore[assignment]
        self._check_loop()
        request = self._stream_request(url, offsite)
        permit = None if offsite else await self.budget.acquire(lane)
        try:
            async with streaming.stream(request) as response:
                if permit is not None:  # the outcome is known once the headers are in
                    await permit.release()
                    permit = None
                if not 200 <= response.status < 300:
                    body = bytearray()
                    async for chunk in response.chunks:
                        body += chunk
                        if len(body) >= ERROR_BODY_LIMIT:
                            break
                    plain = Response(response.status, response.headers, bytes(body), url)
                    raise await self._status_error(request, plain)
                yield response
        finally:
            if permit is not None:
                await permit.release()

    def _stream_request(self, url: str, offsite: bool) -> Request:
        # Its own frame, gone before anything is sent: the header dict, credentials included,
        # is no local of a frame a network failure's traceback leads to.
        headers = {"User-Agent": self._user_agent}
        if offsite:
            scheme, _, _ = origin_of(url)
            if self.origin[0] == "https" and scheme != "https":
                raise UnsafeURLError(
                    f"refusing to follow a download to a non-https URL: {shown_url(url)!r}"
                )
        else:
            ensure_same_origin(url, self.origin)
            headers.update(self._credentials.headers())
        return Request(method="GET", url=url, headers=headers, timeout=self.timeout)

    async def _attempt(
        self, request: Request, lane: Lane, observed: _Observed, accept_redirect: bool = False
    ) -> Response:
        observed.attempt += 1
        asked = time.monotonic()
        permits = [await self.budget.acquire(lane)]
        waited = time.monotonic() - asked
        if waited >= _WAIT_LOGGED or observed.hooks.active:
            await observed.permit_granted(waited)

        async def before_resend() -> None:
            permits.append(await self.budget.acquire(lane))

        started = time.monotonic()
        try:
            response = await self._transport.send(request, before_resend=before_resend)
        finally:
            for permit in permits:
                await permit.release()
        if observed.hooks.active or logger.isEnabledFor(logging.DEBUG):
            await observed.answered(response.status, time.monotonic() - started)
        if 200 <= response.status < 300:
            note_raw_response(response)
            return response
        if accept_redirect and response.status in REDIRECT_STATUSES:
            return response
        error = await self._status_error(request, response, observed.route)
        if isinstance(error, RateLimitError):
            await observed.rate_limited(error.retry_after)
        raise error

    async def _status_error(
        self, request: Request, response: Response, route: str | None = None
    ) -> APIStatusError:
        """The typed error of a failed response; a 429 also pauses the budget. ``route``: the
        path template logged (default: the URL's path)."""
        common: dict[str, Any] = {
            "status": response.status,
            "method": request.method,
            "url": request.url,
            "body": response.body,
            "headers": response.headers,
        }
        if response.status == 429:
            retry_after = retry_after_seconds(response.headers)
            await self.budget.cool_down(retry_after)
            logger.warning(
                "429 on %s %s: pausing for %.1f s",
                request.method,
                route or url_path(request.url),
                retry_after,
            )
            return RateLimitError(retry_after=retry_after, **common)
        return status_error_class(response.status)(**common)


# --- Observability: event hooks and logs. Everything the request path reports goes through
# here; events and log lines carry the route (a path, never a query string) and no headers.


def _reason(error: BaseException) -> str:
    status = getattr(error, "status", None)
    return f"{type(error).__name__} {status}" if isinstance(status, int) else type(error).__name__


_WAIT_LOGGED = 0.1
"""Seconds waited for the budget from which the wait is logged (DEBUG; INFO from 1 s)."""


class _Observed:
    """One logical request (all its attempts), as hooks and logs see it."""

    def __init__(self, hooks: Hooks, method: str, route: str | None, url: str, lane: Lane) -> None:
        self.hooks = hooks
        self.method = method
        self._route = route
        self._url = url
        self.lane = lane
        self.attempt = 0

    @property
    def route(self) -> str:
        """The path template given, or the URL's path: worked out only when something reports
        it (most requests are never logged and have no hooks)."""
        if self._route is None:
            self._route = url_path(self._url)
        return self._route

    async def permit_granted(self, waited: float) -> None:
        if waited >= _WAIT_LOGGED:
            level = logging.INFO if waited >= 1.0 else logging.DEBUG
            logger.log(
                level,
                "%s %s waited %.2f s for the rate-limit budget (%s lane)",
                self.method,
                self.route,
                waited,
                self.lane.name.lower(),
            )
        if self.hooks.active:
            await self.hooks.emit(
                BudgetWaitEvent(self.method, self.route, self.attempt, self.lane, waited)
            )
            await self.hooks.emit(RequestEvent(self.method, self.route, self.attempt, self.lane))

    async def answered(self, status: int, elapsed: float) -> None:
        if logger.isEnabledFor(logging.DEBUG):
            logger.debug(
                "%s %s -> %s in %.0f ms (attempt %d)",
                self.method,
                self.route,
                status,
                elapsed * 1000,
                self.attempt,
            )
        if self.hooks.active:
            await self.hooks.emit(
                ResponseEvent(self.method, self.route, self.attempt, status, elapsed)
            )

    async def rate_limited(self, retry_after: float) -> None:
        if self.hooks.active:
            await self.hooks.emit(
                RateLimitedEvent(self.method, self.route, self.attempt, retry_after)
            )

    def on_retry(self, policy: RetryPolicy) -> OnRetry:
        async def retrying(attempt: int, wait: float, error: BaseException) -> None:
            logger.info(
                "retrying %s %s in %.2f s after %s (attempt %d of %d failed)",
                self.method,
                self.route,
                wait,
                _reason(error),
                attempt,
                policy.max_attempts,
            )
            if self.hooks.active:
                await self.hooks.emit(
                    RetryEvent(self.method, self.route, attempt, _reason(error), wait)
                )

        return retrying
