"""A budget shared by every process and machine that uses one Karbon account, kept in Redis.

Guaranteed, across all processes that use a ``RedisBudget`` with the same key prefix, base URL
and access key, while Redis is reachable:

* At most ``limit.requests`` requests *arrive at the server* in any ``limit.per``-second window.
  Each permit is a member of one Redis sorted set per account. Granting adds the member with the
  score "Redis time + lease" (lease = ``2 * per + request_timeout``); releasing rescores it to
  "Redis time at release + ``per``"; a member counts while its score is in the future. A request
  arrives between its grant and its release, so its member is alive for at least ``per`` seconds
  after its arrival. Any window ``(t - per, t]`` therefore only holds arrivals whose members are
  all alive at ``t``, and the Lua script never lets more than ``requests`` members be alive at
  once. Every decision is made inside one atomic script with Redis's own clock (``TIME``), so the
  machines' clocks are never compared. A crashed process's members expire with their lease.
* Releases are written by the budget's background task, not by ``release()`` itself (which
  returns at once): in the process's next grant script call if it has callers waiting, else in
  one release script call for every release made since the last call; ``aclose()`` writes those
  still unwritten. A release's expiry is still "Redis time when the script runs + ``per``", and
  the script runs after ``release()`` was called, so writing it later only holds the slot
  longer: by the time the background task needs to get to it, at most the script call it has in
  progress plus one event-loop turn (about one Redis round trip; a lost connection delays it
  further, and a process that dies first leaves the slot to its lease). So a process makes
  about one script call per request, fewer under load (one call grants and releases for many
  waiters), where it made two or more. A process ignores its own wake-ups: the call that
  published one had its reply.
* A 429 reported by any process pauses every process until ``Retry-After`` has passed (one
  shared cool-down end, only ever extended, in Redis time).
* Fairness: every waiting ``acquire`` registers a ticket in Redis. Tickets are ordered by lane,
  then by registration (a Redis counter), and a slot only goes to one of the first ``free``
  tickets in that order, whichever process holds it. So interactive waiters anywhere go before
  bulk waiters anywhere, and within a lane the order is first come, first served across all
  processes: nobody starves while its process lives. A process registers at most ``requests``
  tickets at a time (the rest wait behind them locally, in the same lane order). Tickets are
  refreshed while their process waits and expire ``ticket_ttl`` seconds after a process stops
  refreshing them (it crashed), so a dead process holds up the queue for at most that long.
* Waking is prompt and not by polling: a waiting process sleeps until the cool-down's end or
  until the slot expiry that frees its first ticket's turn (its rank ``r`` in the queue needs
  ``r + 1`` slots to free up), as the script computed, re-checking at the latest every
  ``ticket_ttl / 3`` seconds to keep its tickets alive. A release that moves one of those
  expiries earlier, an unused grant given back, a cancelled ticket and a grant that leaves slots
  free publish on a pub/sub channel, which wakes the waiting processes at once.

Redis unreachable (``on_unavailable``):

* ``"wait"`` (default): callers wait while the budget reconnects with exponential backoff
  (``backoff`` seconds, doubled up to ``max_backoff``, full jitter: processes that lost Redis
  together do not all come back at once; the retry module's schedule, never giving up while
  the budget is open, so at most ``max_backoff`` between two attempts). Releases and 429s
  that could not be written are remembered locally and written on reconnection. Exact, at the
  cost of progress.
* ``"local"``: callers are served by a local sliding window of
  ``max(1, requests // expected_processes)`` slots per process. Its count includes this
  process's slots taken through Redis before the outage (not a fresh ``AccountBudget``, which
  would forget them), and it grants nothing until ``per`` seconds after the outage was noticed:
  by then every request other processes sent through Redis and saw answered before the outage
  has left the window, so the local shares do not stack on a window Redis had already filled.
  Exact when every process is in local mode and ``expected_processes`` is not too low; not
  covered: requests of other processes still in flight when Redis went away (they may arrive
  inside the first local window), and processes that still reach Redis while this one cannot.
  Choose it for progress, not for exactness. On reconnection every slot taken locally is
  written to Redis before anything else is granted there.

Redis restarted and lost its data (tests run it with persistence off): each live process
re-writes the slots it holds or has released within ``per`` seconds before it takes a new one,
and the first process that notices the loss pauses the account for ``per`` seconds, which
covers the arrivals of processes that are gone. A process that only notices after that pause
(it held no waiters and could not reach Redis for the whole pause) is not covered.

Where things are: the Lua scripts are package files in ``_redis_scripts/`` (each starts with
its KEYS/ARGV contract; ``release_slots.lua`` is the release function three of them include);
this process's own slots, the mirror and the local fallback window, are a ``LocalWindow``
(``_redis_window.py``); this module holds the process side: waiters, the background tasks and
the reconnection.

Why not ``limits`` or ``pyrate-limiter``: both count a hit when it is *taken* (a timestamp at
acquire time, or a fixed/moving window counter) and have no way to hold a slot for the time a
request is in flight and then until ``per`` after its response. A request acquired at ``t`` and
arriving at ``t + latency`` is counted at ``t``, so a window ending just after it can hold up to
``2 * requests`` arrivals under a burst with varying latency. Neither has lanes, a shared
cool-down or waiting with wake-up (``limits`` only answers hit/test; pyrate-limiter's delay is a
local sleep). So this module keeps the in-process algorithm and moves its state into one Lua
script, which is the smaller and provable choice.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import importlib
import importlib.resources
import itertools
import logging
import math
import os
import re
import uuid
from collections import deque
from collections.abc import Awaitable, Callable
from types import TracebackType
from typing import TYPE_CHECKING, Any, Literal, cast

from ._budget import BudgetSnapshot, Permit
from ._exceptions import ConfigurationError
from ._limits import Lane, RateLimit
from ._redis_window import LocalWindow
from ._retry import RetryRule, RetrySchedule
from ._urls import normalise_base_url

if TYPE_CHECKING:
    from redis.asyncio import Redis

logger = logging.getLogger("karbon_async")

OnUnavailable = Literal["wait", "local"]

_LANE_WEIGHT = 2**48  # ticket order score = lane * 2**48 + sequence: exact in a double

SCRIPTS = "_redis_scripts"
"""The Lua scripts' folder in the package (package data): every decision is made in them."""


def load_script(name: str) -> str:
    """The text of ``_redis_scripts/<name>``, each ``-- @include <file>`` line replaced by
    that file (the release function several scripts share)."""
    folder = importlib.resources.files("karbon_async").joinpath(SCRIPTS)

    def include(match: re.Match[str]) -> str:
        return folder.joinpath(match.group(1)).read_text(encoding="utf-8")

    text = folder.joinpath(name).read_text(encoding="utf-8")
    return re.sub(r"^-- @include (\S+)$", include, text, flags=re.MULTILINE)


CLOSE_TIMEOUT = 2.0
"""Seconds ``RedisBudget.aclose()`` spends at most on stopping its tasks, and again at most on
removing this process's tickets from Redis."""


def account_id(base_url: str, access_key: str) -> str:
    """A stable, non-reversible name for one account: never the raw access key."""
    digest = hashlib.sha256(f"{normalise_base_url(base_url)}\n{access_key}".encode())
    return digest.hexdigest()[:32]


class _Waiter:
    __slots__ = ("future", "lane", "ticket")

    def __init__(self, ticket: str, lane: Lane, future: asyncio.Future[bool]) -> None:
        self.ticket = ticket
        self.lane = lane
        self.future = future  # True: granted in Redis; False: granted locally (fallback)


class _RedisPermit:
    __slots__ = ("_budget", "_member", "_released")

    def __init__(self, budget: RedisBudget, member: str) -> None:
        self._budget = budget
        self._member = member
        self._released = False

    async def release(self) -> None:
        if not self._released:
            self._released = True
            await self._budget._release(self._member)


class RedisBudget:
    """The account's budget shared through Redis (see the module docstring for the guarantee).

    ``budget = RedisBudget(RateLimit(120, 60), access_key=..., url="redis://host:6379/0")``
    then ``KarbonClient(..., budget=budget)`` in every process; ``await budget.aclose()`` (or
    ``async with budget:``) at the end. Pass ``client=`` to use a Redis client you own (give
    it a ``BlockingConnectionPool``: many concurrent releases would otherwise exceed a plain
    pool's limit); otherwise the budget opens at most ``max_connections`` connections to
    ``url``, one of them for the pub/sub wake-ups.
    """

    _adopted = False
    """True once a client's base URL re-keyed this budget."""

    def _key_for(self, base_url: str) -> None:
        access_key, key_prefix = self._access_key_prefix
        self.base_url = normalise_base_url(base_url)
        self.account = account_id(self.base_url, access_key)
        base = f"{key_prefix}:{{{self.account}}}"
        self._keys = [f"{base}:slots", f"{base}:queue", f"{base}:tickets", f"{base}:state"]
        self._channel = f"{base}:wake"

    def adopt_base_url(self, base_url: str) -> None:
        """Called by ``KarbonClient(budget=...)``: without an explicit ``base_url`` the budget
        is keyed to the client's, so processes agree on the key whatever each was told."""
        base_url = normalise_base_url(base_url)
        if base_url == self.base_url:
            return
        if self._base_url_given or self._adopted:
            raise ConfigurationError(
                f"this RedisBudget is keyed to {self.base_url!r} but a client calls {base_url!r}:"
                " one budget is for one account on one base URL"
            )
        self._key_for(base_url)
        self._adopted = True

    def __init__(
        self,
        limit: RateLimit,
        *,
        access_key: str,
        base_url: str | None = None,
        url: str = "redis://localhost:6379/0",
        client: Redis | None = None,
        key_prefix: str = "karbon_async:budget",
        on_unavailable: OnUnavailable = "wait",
        expected_processes: int = 1,
        request_timeout: float = 60.0,
        ticket_ttl: float = 10.0,
        backoff: float = 0.05,
        max_backoff: float = 2.0,
        max_connections: int = 16,
    ) -> None:
        try:
            redis_asyncio = importlib.import_module("redis.asyncio")
            self._errors: tuple[type[BaseException], ...] = (
                importlib.import_module("redis.exceptions").RedisError,
                OSError,
                asyncio.TimeoutError,
            )
        except ImportError as exc:  # pragma: no cover - exercised without redis installed
            raise ConfigurationError(
                "RedisBudget needs redis-py: pip install 'karbon-async[redis]'"
            ) from exc
        if limit.burst is not None:
            raise ValueError("RedisBudget does not pace bursts; use a RateLimit without burst")
        if on_unavailable not in ("wait", "local"):
            raise ValueError("on_unavailable must be 'wait' or 'local'")
        if expected_processes < 1:
            raise ValueError("expected_processes must be at least 1")
        if not access_key:
            raise ValueError("access_key must be a non-empty string")
        self._limit = limit
        self._owns_client = client is None
        self._redis: Redis = (
            client
            if client is not None
            else redis_asyncio.Redis.from_pool(
                redis_asyncio.BlockingConnectionPool.from_url(
                    url,
                    max_connections=max_connections,
                    timeout=None,  # many concurrent releases wait for a connection
                    socket_connect_timeout=2.0,
                    socket_timeout=5.0,
                    health_check_interval=5,
                )
            )
        )
        # The same base URL the client uses (KARBON_BASE_URL, as from_env reads it), so every
        # process of one account lands on one key however the URL is spelt.
        self._base_url_given = base_url is not None
        self._access_key_prefix: tuple[str, str] = (access_key, key_prefix)
        self._key_for(base_url or os.environ.get("KARBON_BASE_URL") or "https://api.karbonhq.com")
        self._on_unavailable: OnUnavailable = on_unavailable
        self._per_ms = limit.per * 1000.0
        self._lease = 2 * limit.per + request_timeout
        self._ticket_ttl = ticket_ttl
        errors = self._errors
        self._reconnect = RetryRule(
            "Redis budget reconnect",
            lambda error, attempts: isinstance(error, errors),
            max_attempts=None,  # while the budget is open: nothing else can be done
            base_delay=backoff,
            max_delay=max_backoff,
        )
        self._acquire_script = self._redis.register_script(load_script("acquire.lua"))
        self._release_script = self._redis.register_script(load_script("release.lua"))
        self._cool_down_script = self._redis.register_script(load_script("cool_down.lua"))
        self._restore_script = self._redis.register_script(load_script("restore.lua"))
        self._close_script = self._redis.register_script(load_script("close.lua"))

        self._instance = uuid.uuid4().hex[:12]
        self._counter = itertools.count()
        self._gen = ""
        self._waiters: dict[Lane, deque[_Waiter]] = {lane: deque() for lane in Lane}
        self._registered: set[str] = set()
        self._cancel: set[str] = set()
        # This process's slots: the mirror written back to Redis, and the local fallback.
        self._window = LocalWindow(limit, max(1, limit.requests // expected_processes), self._lease)
        # Released but not yet written to Redis: the dispatcher writes them with its next call.
        self._releasing: list[str] = []
        self._need_restore = False
        self._local_mode = False
        self._unavailable = False
        self._closed = False
        self._wake: asyncio.Event | None = None
        self._tasks: list[asyncio.Task[None]] = []
        self._loop: asyncio.AbstractEventLoop | None = None
        # Last known account-wide state, for snapshot().
        self._last_in_window = 0
        self._cooldown_until = 0.0
        self._rate_limited = 0
        self._granted = 0
        self.round_trips = 0
        """Script calls made so far (for benchmarks)."""

    # -- the Budget protocol ----------------------------------------------------------------

    @property
    def limit(self) -> RateLimit:
        return self._limit

    @property
    def local_mode(self) -> bool:
        """True while Redis is unreachable and ``on_unavailable="local"`` serves callers."""
        return self._local_mode

    async def acquire(self, lane: Lane = Lane.BULK) -> Permit:
        """Wait for a slot; cancelling the wait gives nothing up and leaks nothing."""
        if self._closed:
            raise RuntimeError("this RedisBudget is closed")
        loop = self._start()
        ticket = f"{self._instance}:{next(self._counter)}"
        waiter = _Waiter(ticket, lane, loop.create_future())
        self._waiters[lane].append(waiter)
        self._poke()
        try:
            await waiter.future
        except asyncio.CancelledError:
            if waiter.future.done() and not waiter.future.cancelled():
                self._window.forget(ticket)  # granted as we were cancelled: never sent
                self._granted -= 1
                if waiter.future.result():
                    self._cancel.add(ticket)
            elif waiter in self._waiters[lane]:
                self._waiters[lane].remove(waiter)  # its ticket is cancelled on the next call
            self._poke()
            raise
        return _RedisPermit(self, ticket)

    async def cool_down(self, seconds: float) -> None:
        """Pause every process for ``seconds`` from now (a 429's Retry-After)."""
        loop = asyncio.get_running_loop()
        seconds = max(0.0, seconds)
        self._rate_limited += 1
        self._window.cool_down(loop.time() + seconds)
        self._cooldown_until = max(self._cooldown_until, self._window.cooldown_until)
        try:
            await self._cool_down_script(keys=[self._keys[3]], args=[seconds * 1000.0])
            self.round_trips += 1
        except self._errors:
            self._need_restore = True  # written with the slots on reconnection
            self._poke()

    def snapshot(self) -> BudgetSnapshot:
        """This process's view: ``in_window`` and the cool-down are the account-wide figures as
        of the last round trip to Redis (this process's own slots in local mode); the waiting,
        in-flight, granted and 429 counts are this process's."""
        now = asyncio.get_running_loop().time()
        return BudgetSnapshot(
            limit=self._limit,
            in_window=self._window.count(now) if self._local_mode else self._last_in_window,
            in_flight=len(self._window.held),
            waiting={lane: len(queue) for lane, queue in self._waiters.items()},
            cooldown_remaining=max(0.0, self._cooldown_until - now),
            rate_limited=self._rate_limited,
            granted=self._granted,
        )

    # -- lifecycle --------------------------------------------------------------------------

    async def aclose(self) -> None:
        """Stop the background tasks, take this process's tickets (and grants it never used)
        out of Redis so other processes need not wait for them to expire, and close the Redis
        client if this budget made it. Slots of requests already sent stay until their window
        has passed. Takes at most about ``2 * CLOSE_TIMEOUT`` seconds, even with Redis down."""
        if self._closed:
            return
        self._closed = True
        for queue in self._waiters.values():
            for waiter in queue:
                if not waiter.future.done():
                    waiter.future.set_exception(RuntimeError("the RedisBudget was closed"))
            queue.clear()
        tasks, self._tasks = self._tasks, []
        for task in tasks:
            task.cancel()
        if tasks:
            # asyncio.wait, unlike awaiting each task, neither swallows a cancel of aclose()
            # itself nor waits forever on a task stuck in a Redis call.
            _, stuck = await asyncio.wait(tasks, timeout=CLOSE_TIMEOUT)
            if stuck:
                logger.warning("Redis budget %s: background task did not stop", self.account[:8])
        if self._loop is not None:
            await self._remove_own_entries()
        if self._owns_client:
            await self._redis.aclose()

    async def _remove_own_entries(self) -> None:
        try:
            await asyncio.wait_for(
                self._close_script(
                    keys=self._keys[:3],
                    args=[
                        f"{self._instance}:",
                        self._channel,
                        self._per_ms,
                        self._limit.requests,
                        len(self._releasing),
                        *self._releasing,
                        *self._window.held,
                    ],
                ),
                CLOSE_TIMEOUT,
            )
            self.round_trips += 1
            self._releasing.clear()
        except self._errors as exc:  # their tickets expire after ticket_ttl anyway
            logger.warning(
                "Redis budget %s: could not remove this process's tickets (%s)",
                self.account[:8],
                exc,
            )

    async def __aenter__(self) -> RedisBudget:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        await self.aclose()

    def _start(self) -> asyncio.AbstractEventLoop:
        loop = asyncio.get_running_loop()
        if self._loop is None:
            self._loop = loop
            self._wake = asyncio.Event()
            self._tasks = [
                loop.create_task(self._dispatch_forever(), name="karbon-redis-budget"),
                loop.create_task(self._listen_forever(), name="karbon-redis-budget-wake"),
            ]
        elif self._loop is not loop:
            raise RuntimeError("a RedisBudget belongs to the event loop that first used it")
        return loop

    def _poke(self) -> None:
        if self._wake is not None:
            self._wake.set()

    # -- slots ------------------------------------------------------------------------------

    async def _release(self, member: str) -> None:
        loop = asyncio.get_running_loop()
        if not self._window.release(member, loop.time()):
            return
        if not self._local_mode:  # local slots are written back from the mirror
            self._releasing.append(member)
        if self._closed:  # no dispatcher any more: write it now, or its lease ends it
            with contextlib.suppress(*self._errors):
                await self._write_releases()
        self._poke()  # our waiters may sleep on this slot's old expiry; the dispatcher writes it

    async def _write_releases(self) -> None:
        """One script call writing every release not yet written (no grant call to carry them)."""
        members, self._releasing = self._releasing, []
        try:
            await self._release_script(
                keys=self._keys[:2],
                args=[self._per_ms, self._channel, self._limit.requests, self._instance, *members],
            )
        except BaseException:
            self._releasing[:0] = members
            raise
        self.round_trips += 1

    def _queued(self) -> list[_Waiter]:
        """Waiters in the order they should be served: lane, then arrival."""
        return [w for lane in Lane for w in self._waiters[lane] if not w.future.done()]

    def _grant(self, waiter: _Waiter, in_redis: bool, now: float) -> None:
        if waiter in self._waiters[waiter.lane]:
            self._waiters[waiter.lane].remove(waiter)
        self._registered.discard(waiter.ticket)
        if waiter.future.done():  # cancelled while the script ran
            if in_redis:
                self._cancel.add(waiter.ticket)
            return
        self._window.hold(waiter.ticket, now)
        self._granted += 1
        waiter.future.set_result(in_redis)

    # -- the background tasks ---------------------------------------------------------------

    async def _dispatch_forever(self) -> None:
        assert self._wake is not None
        loop = asyncio.get_running_loop()
        reconnect = self._reconnect.schedule()
        next_try = 0.0  # while Redis is unreachable: when to try it again
        # Checked as well as being cancelled: redis-py (8.1) can swallow a cancel that lands
        # during a script call, and the loop would then run on after aclose().
        while not self._closed:
            if not (self._queued() or self._cancel or self._need_restore or self._releasing):
                self._wake.clear()
                await self._wake.wait()
                continue
            self._wake.clear()
            now = loop.time()
            if self._unavailable and now < next_try:
                sleep = next_try - now
                if self._local_mode:
                    sleep = min(sleep, self._grant_locally(loop))
            else:
                try:
                    if self._need_restore or self._local_mode:
                        await self._restore(loop)
                    sleep = await self._grant_from_redis(loop)
                    if self._unavailable:
                        logger.warning("Redis budget %s: Redis reachable again", self.account[:8])
                    self._unavailable = False
                    reconnect.succeeded()
                except self._errors as exc:
                    if not self._unavailable:
                        logger.warning(
                            "Redis budget %s: Redis unreachable (%s); %s",
                            self.account[:8],
                            exc,
                            "serving a local share"
                            if self._on_unavailable == "local"
                            else "waiting",
                        )
                    self._unavailable = True
                    self._need_restore = True
                    sleep = self._reconnect_wait(reconnect, exc)
                    next_try = loop.time() + sleep
                    if self._on_unavailable == "local":
                        if not self._local_mode:
                            self._window.open_after(loop.time())
                        self._local_mode = True
                        sleep = min(sleep, self._grant_locally(loop))
            if sleep > 0 and not self._closed:
                await self._sleep_unless_woken(loop, sleep)

    def _reconnect_wait(self, reconnect: RetrySchedule, error: BaseException) -> float:
        """The wait before reconnecting (``backoff`` doubled up to ``max_backoff``, full
        jitter): the one retry module's schedule, which never gives up on a Redis error."""
        wait = reconnect.failed(error)
        return self._reconnect.max_delay if wait is None else wait

    async def _sleep_unless_woken(self, loop: asyncio.AbstractEventLoop, seconds: float) -> None:
        # Not asyncio.wait_for: before Python 3.12 it swallows a cancel that arrives as the
        # wake-up does (a waiter's cancel pokes), and aclose() then waited for this task forever.
        assert self._wake is not None
        timer = loop.call_later(seconds, self._wake.set) if math.isfinite(seconds) else None
        try:
            await self._wake.wait()
        finally:
            if timer is not None:
                timer.cancel()

    async def _restore(self, loop: asyncio.AbstractEventLoop) -> None:
        now = loop.time()
        args: list[Any] = [
            uuid.uuid4().hex,
            self._per_ms,
            max(0.0, self._window.cooldown_until - now) * 1000.0,
        ]
        for member, remaining_ms in self._window.slots(now):
            args += [member, remaining_ms]
        self._gen = str(await self._restore_script(keys=[self._keys[0], self._keys[3]], args=args))
        self.round_trips += 1
        self._need_restore = False
        self._local_mode = False

    async def _grant_from_redis(self, loop: asyncio.AbstractEventLoop) -> float:
        """One script call: register, cancel and take slots; the seconds until worth retrying."""
        while True:
            now = loop.time()
            if not (self._queued() or self._cancel):
                if self._releasing:
                    await self._write_releases()
                return 0.0
            wanted = self._queued()[: self._limit.requests]
            cancel = list(self._cancel | (self._registered - {w.ticket for w in wanted}))
            self._cancel.clear()
            releasing, self._releasing = self._releasing, []
            args: list[Any] = [
                self._limit.requests,
                self._lease * 1000.0,
                self._ticket_ttl * 1000.0,
                self._per_ms,
                self._channel,
                self._gen,
                uuid.uuid4().hex,
                1 if self._window.count(now) else 0,
                self._instance,
                len(cancel),
                *cancel,
                len(releasing),
                *releasing,
            ]
            for waiter in wanted:
                args += [waiter.ticket, int(waiter.lane)]
            try:
                reply: list[Any] = await self._acquire_script(keys=self._keys, args=args)
            except BaseException:
                self._cancel.update(cancel)
                self._releasing[:0] = releasing
                raise
            self.round_trips += 1
            status, wait_ms, in_window, cooldown_ms = (int(reply[i]) for i in (0, 2, 3, 4))
            gen = reply[1].decode() if isinstance(reply[1], bytes) else str(reply[1])
            if status == 1:  # Redis lost its data: write our slots back first
                self._cancel.update(cancel)
                self._releasing[:0] = releasing
                await self._restore(loop)
                continue
            self._gen = gen
            self._registered = {w.ticket for w in wanted}
            now = loop.time()
            self._last_in_window = in_window
            if cooldown_ms > 0:
                self._cooldown_until = max(self._cooldown_until, now + cooldown_ms / 1000)
            by_ticket = {w.ticket: w for w in wanted}
            for raw in reply[5:]:
                ticket = raw.decode() if isinstance(raw, bytes) else str(raw)
                self._grant(by_ticket[ticket], True, now)
            if self._cancel:
                continue  # give back what was granted to a waiter that has gone
            if reply[5:] and len(self._queued()) > len(self._registered):
                continue  # register the waiters that were beyond the cap before sleeping
            return (wait_ms + 1) / 1000 if self._queued() else 0.0

    def _grant_locally(self, loop: asyncio.AbstractEventLoop) -> float:
        """Serve waiters from this process's share; the seconds until a slot frees."""
        now = loop.time()
        paused = self._window.paused_for(now)
        if paused > 0:
            return paused
        for waiter in self._queued():
            if not self._window.has_room(now):
                break
            self._grant(waiter, False, now)
        return self._window.next_free(now) if self._queued() else math.inf

    async def _listen_forever(self) -> None:
        """Wake the dispatcher when another process releases a slot (pub/sub)."""
        reconnect = self._reconnect.schedule()
        own = (self._instance, self._instance.encode())
        while not self._closed:
            pubsub = self._redis.pubsub()
            try:
                await pubsub.subscribe(self._channel)
                reconnect.succeeded()
                self._poke()  # (re)connected: anything may have changed meanwhile
                while not self._closed:
                    message = await pubsub.get_message(ignore_subscribe_messages=True, timeout=30)
                    # Our own wake-ups are not news: the call that sent one had its reply.
                    if message is not None and message["data"] not in own:
                        self._poke()
            except self._errors as exc:
                self._poke()
                await asyncio.sleep(self._reconnect_wait(reconnect, exc))
            finally:
                # redis-py < 8.2 leaves aclose untyped: a cast keeps mypy --strict quiet on both.
                await cast("Callable[[], Awaitable[None]]", pubsub.aclose)()
