"""WebhookWorker: the bounded queue between a fast 2xx and the handlers, and its worker tasks."""

from __future__ import annotations

import asyncio
import contextlib
import enum
import logging
import time
from collections import OrderedDict, deque
from collections.abc import Callable
from types import TracebackType
from typing import Any

import attrs

from .._generated.models import WebhookActionType
from .._resources import ResourceSet
from .._retry import RetryRule, retried_by, retry
from ._events import WebhookEvent
from ._router import Route, Router
from ._seen import SeenStore, change_key

logger = logging.getLogger("karbon_async.webhooks")

Key = tuple[str, str]


class SubmitOutcome(str, enum.Enum):
    """What the worker did with a submitted event."""

    ACCEPTED = "accepted"
    """Queued for processing."""
    COLLAPSED = "collapsed"
    """Merged into a queued (or waiting) event for the same resource."""
    DUPLICATE = "duplicate"
    """The same change of the same resource was processed within the dedupe window."""
    QUEUE_FULL = "queue full"
    STOPPED = "not accepting"

    @property
    def accepted(self) -> bool:
        """True when the event is (or already was) taken care of: answer 2xx."""
        return self in (SubmitOutcome.ACCEPTED, SubmitOutcome.COLLAPSED, SubmitOutcome.DUPLICATE)


@attrs.frozen
class DeadLetter:
    """An event a handler could not process: after ``attempts`` failures, or at shutdown."""

    event: WebhookEvent
    handler: str | None
    """The route's handler name; None when the event was never started (shutdown)."""
    error: BaseException | None
    attempts: int
    reason: str


@attrs.define
class WorkerStats:
    accepted: int = 0
    collapsed: int = 0
    duplicates: int = 0
    rejected: int = 0
    processed: int = 0
    unrouted: int = 0
    retries: int = 0
    dead_letters: int = 0


def _newer(old: WebhookEvent, new: WebhookEvent) -> bool:
    return old.timestamp is None or new.timestamp is None or new.timestamp >= old.timestamp


def merge_events(old: WebhookEvent, new: WebhookEvent) -> WebhookEvent:
    """One event for two notifications of the same resource: the newer one, except that an
    ``Inserted`` followed by ``Updated`` stays ``Inserted`` (the record is new to you)."""
    latest, earlier = (new, old) if _newer(old, new) else (old, new)
    if (
        earlier.action_type == WebhookActionType.INSERTED
        and latest.action_type == WebhookActionType.UPDATED
    ):
        return attrs.evolve(latest, action_type=WebhookActionType.INSERTED)
    return latest


def _same_change(done: WebhookEvent, event: WebhookEvent) -> bool:
    """True when ``event`` says nothing ``done`` did not: same action, not newer."""
    if event.action_type != done.action_type:
        return False
    if event.timestamp is None:
        return True
    return done.timestamp is not None and event.timestamp <= done.timestamp


def _handler_may_retry(error: BaseException, attempts: int) -> bool:
    return retried_by(error) is None


class WebhookWorker:
    """Processes webhook events off a bounded queue with ``concurrency`` worker tasks.

    ::

        async with WebhookWorker(router, client=client) as worker:
            receiver = WebhookReceiver(signing_key, worker)
            ...  # serve receiver.aiohttp_app()

    * Events for the same resource (``(resource_type, key)``) are never handled concurrently; a
      notification for a resource that is already queued is merged into it, and one that repeats
      a change processed less than ``dedupe_window`` seconds ago (same action, timestamp not
      newer) is dropped as a duplicate.
    * A failing handler is retried up to ``max_attempts`` times in all, with exponential
      backoff from ``retry_delay`` to ``max_retry_delay`` with full jitter, and then
      dead-lettered: appended to ``dead_letters``, passed to ``on_dead_letter`` and logged at
      ERROR. A failed client request (the record fetch, or a call the handler makes) is not
      retried here: the client's own retries have already had it (see ``retry_rule``).
    * ``stop()`` (leaving the ``async with``) stops accepting, lets the queue drain for up to
      ``drain_timeout`` seconds, then cancels; whatever was left is dead-lettered, never dropped.
    * With a shared ``seen_store`` (a :class:`~karbon_async.webhooks.RedisSeenStore`), workers
      in several processes handle one change (resource, action, ``TimeStamp``) once within
      ``dedupe_window``: each claims it just before handling it and releases the claim if it
      is dead-lettered. Meant for events submitted to every instance, such as a catch-up read
      at start-up; a store error lets the event through (logged).
    """

    def __init__(
        self,
        router: Router,
        *,
        client: ResourceSet | None = None,
        concurrency: int = 4,
        queue_size: int = 1000,
        dedupe_window: float = 60.0,
        max_attempts: int = 3,
        retry_delay: float = 1.0,
        max_retry_delay: float = 30.0,
        drain_timeout: float = 30.0,
        on_dead_letter: Callable[[DeadLetter], Any] | None = None,
        dead_letter_limit: int = 10_000,
        seen_store: SeenStore | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        if concurrency < 1 or queue_size < 1 or max_attempts < 1:
            raise ValueError("concurrency, queue_size and max_attempts must be at least 1")
        if any(route.fetch for route in router.routes) and client is None:
            raise ValueError("routes with fetch=True need client=")
        self.router = router
        self.client = client
        self.concurrency = concurrency
        self.queue_size = queue_size
        self.dedupe_window = dedupe_window
        self.max_attempts = max_attempts
        self.retry_delay = retry_delay
        self.max_retry_delay = max_retry_delay
        self.drain_timeout = drain_timeout
        self.on_dead_letter = on_dead_letter
        self.dead_letters: deque[DeadLetter] = deque(maxlen=dead_letter_limit)
        self.seen_store = seen_store
        self.stats = WorkerStats()
        self.retry_rule()  # checks max_attempts and the delays now, not at the first failure
        self._clock = clock
        self._queue: asyncio.Queue[Key] = asyncio.Queue()
        self._pending: dict[Key, WebhookEvent] = {}
        self._running: dict[Key, WebhookEvent] = {}
        self._deferred: dict[Key, WebhookEvent] = {}
        self._recent: OrderedDict[Key, tuple[float, WebhookEvent]] = OrderedDict()
        self._tasks: list[asyncio.Task[None]] = []
        self._accepting = False

    # ------------------------------------------------------------------ intake

    @property
    def accepting(self) -> bool:
        return self._accepting

    def submit(self, event: WebhookEvent) -> SubmitOutcome:
        """Hand over one event without waiting; see :class:`SubmitOutcome`."""
        if not self._accepting:
            self.stats.rejected += 1
            return SubmitOutcome.STOPPED
        key = event.resource_key
        if key in self._pending:
            self._pending[key] = merge_events(self._pending[key], event)
            self.stats.collapsed += 1
            return SubmitOutcome.COLLAPSED
        running = self._running.get(key)
        if running is not None:
            if _same_change(running, event):
                self.stats.duplicates += 1
                return SubmitOutcome.DUPLICATE
            waiting = self._deferred.get(key)
            self._deferred[key] = event if waiting is None else merge_events(waiting, event)
            self.stats.collapsed += waiting is not None
            self.stats.accepted += waiting is None
            return SubmitOutcome.ACCEPTED if waiting is None else SubmitOutcome.COLLAPSED
        self._forget_old()
        recent = self._recent.get(key)
        if recent is not None and _same_change(recent[1], event):
            self.stats.duplicates += 1
            return SubmitOutcome.DUPLICATE
        if len(self._pending) >= self.queue_size:
            self.stats.rejected += 1
            return SubmitOutcome.QUEUE_FULL
        self._pending[key] = event
        self._queue.put_nowait(key)
        self.stats.accepted += 1
        return SubmitOutcome.ACCEPTED

    def _forget_old(self) -> None:
        horizon = self._clock() - self.dedupe_window
        while self._recent:
            key, (done_at, _) = next(iter(self._recent.items()))
            if done_at >= horizon:
                break
            del self._recent[key]

    @property
    def queued(self) -> int:
        """Events waiting to be processed."""
        return len(self._pending) + len(self._deferred)

    # ------------------------------------------------------------------ processing

    async def _run(self) -> None:
        while True:
            key = await self._queue.get()
            try:
                event = self._pending.pop(key)
                self._running[key] = event
                try:
                    ok = await self._handle_once(event)
                except Exception as error:  # a bug outside the handlers: keep the worker alive
                    logger.exception("webhook worker failed on an event")
                    self._dead_letter(event, None, error, 0, "worker error")
                    ok = False
                finally:
                    del self._running[key]
                self._recent.pop(key, None)
                if ok:  # a dead-lettered event may be delivered again: do not drop it then
                    self._recent[key] = (self._clock(), event)
                waiting = self._deferred.pop(key, None)
                if waiting is not None:
                    self._pending[key] = waiting
                    self._queue.put_nowait(key)
            finally:
                self._queue.task_done()

    async def _handle_once(self, event: WebhookEvent) -> bool:
        """``_process`` unless another worker sharing ``seen_store`` has claimed the change."""
        key = change_key(event) if self.seen_store is not None else None
        if self.seen_store is None or key is None:
            return await self._process(event)
        key = "done:" + key
        try:
            claimed = await self.seen_store.first_seen(key, self.dedupe_window)
        except Exception as error:
            logger.warning("webhook dedupe store unavailable, event handled unchecked: %r", error)
            return await self._process(event)
        if not claimed:
            self.stats.duplicates += 1
            return True
        try:
            ok = await self._process(event)
        except BaseException:  # cancelled at shutdown: dead-lettered, so not done either
            await self._release(key)
            raise
        if not ok:  # dead-lettered: let a redelivery to any instance try again
            await self._release(key)
        return ok

    async def _release(self, key: str) -> None:
        assert self.seen_store is not None
        try:
            await self.seen_store.forget(key)
        except Exception as error:
            logger.warning("webhook dedupe store could not release a failed event: %r", error)

    async def _process(self, event: WebhookEvent) -> bool:
        """Run every matching route; False when one of them was dead-lettered."""
        routes = self.router.match(event)
        if not routes:
            self.stats.unrouted += 1
            logger.info(
                "webhook event with no handler: %s %s",
                event.resource_type.value,
                event.action_type.value,
            )
            return True
        record: Any = _UNFETCHED
        ok = True
        rule = self.retry_rule()
        for route in routes:
            attempts = 0

            async def handle(route: Route = route) -> None:
                nonlocal record, attempts
                attempts += 1
                if route.fetch:
                    if record is _UNFETCHED:
                        assert self.client is not None
                        record = await self.router.fetch(self.client, event)
                    await route.handler(event, record)
                else:
                    await route.handler(event)

            async def retrying(
                attempt: int, delay: float, error: BaseException, route: Route = route
            ) -> None:
                self.stats.retries += 1
                logger.warning(
                    "webhook handler %s failed (attempt %d of %d), retrying in %.2fs: %r",
                    route.name,
                    attempt,
                    self.max_attempts,
                    delay,
                    error,
                )

            try:
                await retry(handle, rule, on_retry=retrying)
            except asyncio.CancelledError:
                self._dead_letter(event, route, None, attempts, "cancelled at shutdown")
                raise
            except Exception as error:
                self._dead_letter(event, route, error, attempts, "handler failed")
                ok = False
        self.stats.processed += 1
        return ok

    def retry_rule(self) -> RetryRule:
        """When a failed handler runs again: up to ``max_attempts`` in all, backing off from
        ``retry_delay`` to ``max_retry_delay`` (full jitter), for failures no retry loop
        below it has judged. A request the client already retried (a 5xx streak), or judged
        final (a 404, a POST that may have been processed), fails the event at once: it is
        dead-lettered, not sent again. Worst case per route: ``max_attempts`` (3) handler
        runs; a handler's own client calls are retried by the client only, so one persistent
        request failure costs the client's attempts once. Waits at most ``retry_delay`` *
        (1 + 2) = 3 s by default."""
        return RetryRule(
            "webhook handler",
            _handler_may_retry,
            max_attempts=self.max_attempts,
            base_delay=self.retry_delay,
            max_delay=self.max_retry_delay,
        )

    def _dead_letter(
        self,
        event: WebhookEvent,
        route: Route | None,
        error: BaseException | None,
        attempts: int,
        reason: str,
    ) -> None:
        letter = DeadLetter(
            event=event,
            handler=route.name if route is not None else None,
            error=error,
            attempts=attempts,
            reason=reason,
        )
        self.dead_letters.append(letter)
        self.stats.dead_letters += 1
        logger.error(
            "webhook event dead-lettered (%s): %s %s %s, handler %s, %d attempt(s): %r",
            reason,
            event.resource_type.value,
            event.action_type.value,
            event.resource_perma_key,
            letter.handler,
            attempts,
            error,
        )
        if self.on_dead_letter is not None:
            try:
                self.on_dead_letter(letter)
            except Exception:
                logger.exception("on_dead_letter callback failed")

    # ------------------------------------------------------------------ lifecycle

    async def start(self) -> None:
        if self._tasks:
            return
        self._accepting = True
        self._tasks = [
            asyncio.create_task(self._run(), name=f"webhook-worker-{index}")
            for index in range(self.concurrency)
        ]

    async def join(self) -> None:
        """Wait until every accepted event has been processed (or dead-lettered)."""
        await self._queue.join()

    async def stop(self, drain_timeout: float | None = None) -> None:
        """Stop accepting, drain for up to ``drain_timeout`` seconds, then cancel; events left
        over are dead-lettered with reason ``"not processed before shutdown"``."""
        self._accepting = False
        if not self._tasks:
            return
        timeout = self.drain_timeout if drain_timeout is None else drain_timeout
        with contextlib.suppress(asyncio.TimeoutError):
            await asyncio.wait_for(self._queue.join(), timeout)
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        self._tasks = []
        for event in [*self._pending.values(), *self._deferred.values()]:
            self._dead_letter(event, None, None, 0, "not processed before shutdown")
        self._pending.clear()
        self._deferred.clear()
        self._queue = asyncio.Queue()

    async def __aenter__(self) -> WebhookWorker:
        await self.start()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        await self.stop()


_UNFETCHED: Any = object()
