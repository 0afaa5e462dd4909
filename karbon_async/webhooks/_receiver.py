"""WebhookReceiver: verify, parse, check freshness and hand over; answer in microseconds."""

from __future__ import annotations

import datetime as dt
import inspect
import logging
import time
from collections import Counter
from collections.abc import Awaitable, Callable, Iterable, Mapping
from typing import Any, Literal, Protocol

import attrs
from aiohttp import web

from ._events import InvalidPayloadError, WebhookEvent, parse_event
from ._seen import MemorySeenStore, SeenStore, change_key
from ._signature import InvalidSignatureError, verify_signature
from ._worker import SubmitOutcome

logger = logging.getLogger("karbon_async.webhooks")

DEFAULT_MAX_BODY_SIZE = 64 * 1024
"""Karbon's payloads are a few hundred bytes; anything this large is not one of them."""
DEFAULT_MAX_AGE = 3600.0
DEFAULT_MAX_FUTURE_SKEW = 300.0
"""How far ahead of our clock a ``TimeStamp`` may be. A later one is refused: remembered, it
would make every genuine update of the resource until then look like a replay."""
DEFAULT_LOG_INTERVAL = 60.0


class EventSink(Protocol):
    """Where accepted events go; :class:`WebhookWorker` is one. ``submit`` may be a coroutine
    (a sink that sends the event on, e.g. to a task queue, and knows only then whether it got
    there): the receiver answers once it is done."""

    def submit(self, event: WebhookEvent) -> SubmitOutcome | Awaitable[SubmitOutcome]: ...


@attrs.frozen
class ReceiveResult:
    """The answer to give Karbon: ``status`` and a short ``reason`` (safe to send and log)."""

    status: int
    reason: str
    event: WebhookEvent | None = attrs.field(default=None, repr=False)

    @property
    def ok(self) -> bool:
        return 200 <= self.status < 300


class WebhookReceiver:
    """Turns one webhook request into a :class:`ReceiveResult`, whatever the web framework.

    ``await receiver.receive(raw_body, headers, remote=...)`` outcomes:

    ========================================  ======  =============================
    request                                   status  reason
    ========================================  ======  =============================
    body over ``max_body_size`` bytes         413     body too large
    ``Content-Type`` present, not JSON        415     unsupported content type
    no / malformed / wrong ``Signature``      401     missing signature, ...
    not a Karbon payload (after the check)    400     invalid payload
    JSON nested deeper than 32 levels         400     payload nested too deeply
    ``TimeStamp`` over ``max_future_skew``    400     timestamp in the future
      seconds ahead of our clock
    ``TimeStamp`` older than ``max_age``      200     stale (not processed)
    same resource, action and timestamp seen  200     replayed (not processed)
    accepted, collapsed or duplicate          202     accepted / collapsed / duplicate
    queue full, worker stopped                503     queue full / not accepting
    ========================================  ======  =============================

    Unknown resource types are accepted (they reach ``Router.fallback`` handlers). Stale and
    replayed payloads are answered 2xx so that Karbon's own retries never count toward the
    subscription's auto-cancellation; 503 makes Karbon try again later. Rejections are logged
    with their reason and the remote address only, never the key or the body: one WARNING per
    reason every ``log_interval`` seconds, saying how many more were logged at DEBUG since the
    last one, so that a flood of bad requests cannot flood the log. ``stats`` counts results by
    reason.

    The replay guard remembers each accepted change for ``replay_window`` seconds (``max_age``
    by default) in ``seen_store``: in memory (``replay_cache_size`` changes at most) unless one
    is given. Give every instance behind a load balancer the same
    :class:`~karbon_async.webhooks.RedisSeenStore` and a delivery reaching two of them is
    accepted by one and answered ``replayed`` by the other. A change is claimed before it is
    handed to the sink and released when the sink refuses it (503), so Karbon's retry gets
    through; when the store fails the event is accepted anyway (a duplicate is better than a
    lost change, and the error is logged).
    """

    def __init__(
        self,
        signing_key: str | Iterable[str],
        sink: EventSink,
        *,
        max_body_size: int = DEFAULT_MAX_BODY_SIZE,
        max_age: float | None = DEFAULT_MAX_AGE,
        max_future_skew: float | None = DEFAULT_MAX_FUTURE_SKEW,
        log_interval: float = DEFAULT_LOG_INTERVAL,
        replay_window: float | None = None,
        replay_cache_size: int = 100_000,
        seen_store: SeenStore | None = None,
        on_stale: Callable[[WebhookEvent], Any] | None = None,
        now: Callable[[], dt.datetime] = lambda: dt.datetime.now(dt.timezone.utc),
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        keys = (signing_key,) if isinstance(signing_key, str) else tuple(signing_key)
        if not keys or not all(isinstance(key, str) and key for key in keys):
            raise ValueError("WebhookReceiver needs the subscription's signing key")
        self._keys = keys
        self.sink = sink
        self.max_body_size = max_body_size
        self.max_age = max_age
        self.max_future_skew = max_future_skew
        self.log_interval = log_interval
        self._warned_at: dict[str, float] = {}
        self._unwarned: Counter[str] = Counter()
        self.replay_window = (
            replay_window if replay_window is not None else (max_age or DEFAULT_MAX_AGE)
        )
        self.replay_cache_size = replay_cache_size
        self.on_stale = on_stale
        self._now = now
        self._clock = clock
        self.seen_store: SeenStore = (
            seen_store if seen_store is not None else MemorySeenStore(replay_cache_size, clock)
        )
        self.stats: Counter[str] = Counter()

    def __repr__(self) -> str:  # never the keys
        return f"WebhookReceiver(sink={self.sink!r}, max_body_size={self.max_body_size})"

    def _result(
        self, status: int, reason: str, remote: str | None, event: WebhookEvent | None = None
    ) -> ReceiveResult:
        self.stats[reason] += 1
        if status >= 400:
            self._log_rejection(status, reason, remote)
        return ReceiveResult(status, reason, event)

    def _log_rejection(self, status: int, reason: str, remote: str | None) -> None:
        # Reasons are a short fixed set, so these per-reason maps stay small.
        now = self._clock()
        last = self._warned_at.get(reason)
        if last is not None and now - last < self.log_interval:
            self._unwarned[reason] += 1
            logger.debug("webhook rejected (%d %s) from %s", status, reason, remote or "?")
            return
        self._warned_at[reason] = now
        unwarned = self._unwarned.pop(reason, 0)
        logger.warning(
            "webhook rejected (%d %s) from %s%s",
            status,
            reason,
            remote or "?",
            f" ({unwarned} more since the last warning, logged at DEBUG)" if unwarned else "",
        )

    def reject_oversized(self, remote: str | None = None) -> ReceiveResult:
        """The result for a body known to be too large before it is read."""
        return self._result(413, "body too large", remote)

    async def receive(
        self, raw_body: bytes, headers: Mapping[str, str], *, remote: str | None = None
    ) -> ReceiveResult:
        """Check one request (its raw bytes, as received) and hand its event to the sink."""
        if len(raw_body) > self.max_body_size:
            return self.reject_oversized(remote)
        content_type = _get(headers, "Content-Type")
        if content_type is not None and "json" not in content_type.lower():
            return self._result(415, "unsupported content type", remote)
        try:
            verify_signature(raw_body, headers, self._keys)
        except InvalidSignatureError as error:
            return self._result(401, error.reason, remote)
        try:
            event = parse_event(raw_body)
        except InvalidPayloadError as error:
            return self._result(400, error.reason, remote)
        now = self._now()
        age = event.age(now)
        if self.max_future_skew is not None and age is not None and -age > self.max_future_skew:
            return self._result(400, "timestamp in the future", remote)
        if self.max_age is not None and event.is_stale(self.max_age, now):
            logger.info(
                "stale webhook ignored (older than %.0fs) from %s", self.max_age, remote or "?"
            )
            if self.on_stale is not None:
                self.on_stale(event)
            return self._result(200, "stale", remote, event)
        claimed = await self._claim(event)
        if claimed is False:
            return self._result(200, "replayed", remote, event)
        outcome = self.sink.submit(event)
        if inspect.isawaitable(outcome):
            outcome = await outcome
        if not outcome.accepted:
            if claimed is not None:
                await self._release(claimed)
            return self._result(503, outcome.value, remote, event)
        return self._result(202, outcome.value, remote, event)

    # ------------------------------------------------------------------ replay guard

    async def _claim(self, event: WebhookEvent) -> str | Literal[False] | None:
        """The store key now claimed; False when already seen; None when there is nothing to
        claim (no ``TimeStamp``) or the store failed."""
        key = change_key(event)
        if key is None:
            return None
        key = "replay:" + key
        try:
            if await self.seen_store.first_seen(key, self.replay_window):
                return key
        except Exception as error:
            logger.warning("webhook replay guard unavailable, event accepted unchecked: %r", error)
            return None
        return False

    async def _release(self, key: str) -> None:
        try:
            await self.seen_store.forget(key)
        except Exception as error:
            # The claim expires after replay_window; until then Karbon's retry looks replayed.
            logger.warning("webhook replay guard could not release a refused event: %r", error)

    # ------------------------------------------------------------------ aiohttp

    def aiohttp_app(self, path: str = "/") -> web.Application:
        """A small aiohttp application answering POST ``path``, with or without a trailing
        slash; run it on its own or mount it with
        ``app.add_subapp("/karbon/webhooks", receiver.aiohttp_app())`` to answer
        ``https://example.com/karbon/webhooks`` (and ``.../karbon/webhooks/``)."""
        if path and not path.startswith("/"):
            raise ValueError(f"path must start with '/': {path!r}")
        app = web.Application()
        handler = aiohttp_handler(self)
        # add_subapp drops the prefix's trailing slash and prepends it to every route, so a
        # route "/" answers only "<prefix>/" while Karbon POSTs to the TargetUrl as written,
        # usually "<prefix>". The empty route is the prefix itself; run alone, "/" answers.
        bare = path.rstrip("/")
        for route in (bare, f"{bare}/"):
            app.router.add_post(route, handler)
        return app


def _get(headers: Mapping[str, str], name: str) -> str | None:
    value = headers.get(name)
    if value is not None:
        return value
    folded = name.casefold()
    return next((v for k, v in headers.items() if k.casefold() == folded), None)


def aiohttp_handler(receiver: WebhookReceiver) -> Callable[[web.Request], Awaitable[web.Response]]:
    """An aiohttp request handler for ``receiver``: ``app.router.add_post(path, handler)``.

    The body is read up to ``max_body_size`` bytes and no further."""

    async def handle(request: web.Request) -> web.Response:
        remote = request.remote
        limit = receiver.max_body_size
        if request.content_length is not None and request.content_length > limit:
            result = receiver.reject_oversized(remote)
        else:
            chunks: list[bytes] = []
            size = 0
            async for chunk in request.content.iter_chunked(64 * 1024):
                chunks.append(chunk)
                size += len(chunk)
                if size > limit:
                    break
            if size > limit:
                result = receiver.reject_oversized(remote)
            else:
                result = await receiver.receive(b"".join(chunks), request.headers, remote=remote)
        return web.Response(status=result.status, text=result.reason)

    return handle
