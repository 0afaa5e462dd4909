"""An account's request budget: the exact sliding-window limiter every request passes through.

Guaranteed, for one event loop, whatever the latency and its jitter:

* At most ``limit.requests`` requests *arrive at the server* in any ``limit.per``-second window.
  A permit is a slot held from before the request is sent until ``per`` seconds after its outcome
  is known (response read, or the connection failed). A request's arrival lies inside that
  interval, so two requests that share a slot arrive more than ``per`` seconds apart, and no
  window can hold more arrivals than there are slots. Retries and aiohttp's silent re-send of an
  idempotent request each take a permit of their own.
* Interactive waiters are served before bulk waiters; each lane is first come, first served.
* After a 429 the whole budget grants nothing until ``Retry-After`` has passed.

Not guaranteed: requests this process does not send (other processes, other machines) are not
counted; use a shared budget for those (see ``Budget``). A request that is still travelling after
its connection was dropped (a stuck proxy) could arrive late; nothing in HTTP can rule that out.

The sustained rate is ``requests / (per + latency)``: 99.9% of the limit at 50 ms latency.
``RateLimit.burst`` adds an aiolimiter pacer on the bulk lane that spreads sends evenly at
``requests / per`` per second after an initial burst; the window guarantee does not depend on it.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import weakref
from collections import deque
from collections.abc import Iterable
from typing import Protocol

import attrs
from aiolimiter import AsyncLimiter

from ._limits import Lane, RateLimit

SLOT_MARGIN = 0.005
"""Seconds a slot stays taken beyond ``per``: arrivals sharing a slot are strictly more than
``per`` apart even at zero latency, on a gateway that counts windows closed at both ends, and
through float rounding. It costs 0.01% of the rate at Karbon's 60 s window."""


@attrs.frozen
class BudgetSnapshot:
    """What an operator wants to know about a budget right now."""

    limit: RateLimit
    in_window: int
    """Slots in use: requests in flight plus requests whose window has not yet passed."""
    in_flight: int
    waiting: dict[Lane, int]
    cooldown_remaining: float
    """Seconds until the budget resumes after a 429; 0.0 when not cooling down."""
    rate_limited: int
    """429 responses reported to this budget."""
    granted: int
    """Permits granted so far (one per request sent)."""


class Permit(Protocol):
    """One request's slot; released once the request's outcome is known."""

    async def release(self) -> None: ...


class Budget(Protocol):
    """What the request path needs from a budget; in-process here, shareable across processes."""

    @property
    def limit(self) -> RateLimit: ...

    async def acquire(self, lane: Lane = Lane.BULK) -> Permit: ...

    async def cool_down(self, seconds: float) -> None: ...

    def snapshot(self) -> BudgetSnapshot: ...


class _LocalPermit:
    __slots__ = ("_budget", "_released")

    def __init__(self, budget: AccountBudget) -> None:
        self._budget = budget
        self._released = False

    async def release(self) -> None:
        if not self._released:
            self._released = True
            self._budget._release_slot()


class AccountBudget:
    """The in-process budget of one account (see the module docstring for the guarantee)."""

    def __init__(self, limit: RateLimit) -> None:
        self._limit = limit
        self._in_flight = 0
        self._expiries: deque[float] = deque()  # loop times at which released slots free up
        self._waiters: dict[Lane, deque[asyncio.Future[None]]] = {lane: deque() for lane in Lane}
        self._cooldown_until = 0.0
        self._wakeup: asyncio.TimerHandle | None = None
        self._rate_limited = 0
        self._granted = 0
        self._pacer = (
            None
            if limit.burst is None
            else AsyncLimiter(limit.burst, limit.burst * limit.per / limit.requests)
        )

    @property
    def limit(self) -> RateLimit:
        return self._limit

    async def acquire(self, lane: Lane = Lane.BULK) -> Permit:
        """Wait for a slot; cancelling the wait gives nothing up and leaks nothing."""
        loop = asyncio.get_running_loop()
        if not self._has_waiters(lane) and self._slot_free(loop.time()):
            self._take_slot()
        else:
            waiter: asyncio.Future[None] = loop.create_future()
            self._waiters[lane].append(waiter)
            self._dispatch()
            try:
                await waiter
            except asyncio.CancelledError:
                if waiter.done() and not waiter.cancelled():
                    self._return_unused_slot()  # granted as we were cancelled: never sent
                else:
                    # A dispatch in the same loop turn as the cancel may already have popped
                    # (and skipped) this waiter: it is then no longer queued.
                    waiter.cancel()
                    with contextlib.suppress(ValueError):
                        self._waiters[lane].remove(waiter)
                raise
        permit = _LocalPermit(self)
        if lane is Lane.BULK and self._pacer is not None:
            try:
                await self._pacer.acquire()
            except asyncio.CancelledError:
                self._return_unused_slot()
                raise
        # A 429 may have arrived while this request waited on the pacer.
        delay = self._cooldown_until - loop.time()
        if delay > 0:
            try:
                await asyncio.sleep(delay)
            except asyncio.CancelledError:
                self._return_unused_slot()
                raise
        return permit

    async def cool_down(self, seconds: float) -> None:
        """Grant nothing for ``seconds`` from now (a 429's Retry-After); never shortens a pause."""
        loop = asyncio.get_running_loop()
        self._rate_limited += 1
        self._cooldown_until = max(self._cooldown_until, loop.time() + max(0.0, seconds))
        self._schedule(loop, self._cooldown_until)

    def restore(self, released_ago: Iterable[float], cooldown: float = 0.0) -> None:
        """Count slots another process used, e.g. one that was killed (``BudgetStateFile``).

        Each of ``released_ago`` is one of its requests whose outcome came that many seconds ago
        (0.0 for one still in flight when it died): its slot stays taken until ``per`` seconds
        after that, as if this budget had granted it. ``cooldown``: seconds left of a 429 pause.
        """
        loop = asyncio.get_running_loop()
        now = loop.time()
        freed = (now - age + self._limit.per + SLOT_MARGIN for age in released_ago)
        self._expiries = deque(sorted([*self._expiries, *(t for t in freed if t > now)]))
        if cooldown > 0:
            self._cooldown_until = max(self._cooldown_until, now + cooldown)
            self._schedule(loop, self._cooldown_until)

    def snapshot(self) -> BudgetSnapshot:
        now = _now()
        self._drop_expired(now)
        return BudgetSnapshot(
            limit=self._limit,
            in_window=self._in_flight + len(self._expiries),
            in_flight=self._in_flight,
            waiting={lane: len(queue) for lane, queue in self._waiters.items()},
            cooldown_remaining=max(0.0, self._cooldown_until - now),
            rate_limited=self._rate_limited,
            granted=self._granted,
        )

    # -- slot bookkeeping -------------------------------------------------------------------

    def _has_waiters(self, up_to: Lane) -> bool:
        return any(self._waiters[lane] for lane in Lane if lane <= up_to)

    def _drop_expired(self, now: float) -> None:
        while self._expiries and self._expiries[0] <= now:
            self._expiries.popleft()

    def _slot_free(self, now: float) -> bool:
        if now < self._cooldown_until:
            return False
        self._drop_expired(now)
        return self._in_flight + len(self._expiries) < self._limit.requests

    def _take_slot(self) -> None:
        self._in_flight += 1
        self._granted += 1

    def _release_slot(self) -> None:
        loop = asyncio.get_running_loop()
        self._in_flight -= 1
        self._expiries.append(loop.time() + self._limit.per + SLOT_MARGIN)
        self._dispatch()

    def _return_unused_slot(self) -> None:
        self._in_flight -= 1
        self._granted -= 1
        self._dispatch()

    def _dispatch(self) -> None:
        """Hand free slots to waiters, most urgent lane first; else wake up when one frees."""
        loop = asyncio.get_running_loop()
        now = loop.time()
        while self._slot_free(now):
            waiter = self._next_waiter()
            if waiter is None:
                return
            self._take_slot()
            waiter.set_result(None)
        if any(self._waiters.values()):
            next_free = self._cooldown_until if now < self._cooldown_until else None
            if next_free is None and self._expiries:
                next_free = self._expiries[0]
            if next_free is not None:  # else a release will dispatch
                self._schedule(loop, next_free)

    def _next_waiter(self) -> asyncio.Future[None] | None:
        for lane in Lane:
            queue = self._waiters[lane]
            while queue:
                waiter = queue.popleft()
                if not waiter.done():
                    return waiter
        return None

    def _schedule(self, loop: asyncio.AbstractEventLoop, when: float) -> None:
        if self._wakeup is not None and not self._wakeup.cancelled():
            if self._wakeup.when() <= when:
                return
            self._wakeup.cancel()
        self._wakeup = loop.call_at(when, self._on_wakeup)

    def _on_wakeup(self) -> None:
        self._wakeup = None
        self._dispatch()


def _now() -> float:
    return asyncio.get_running_loop().time()


# One budget per (origin, access key) per event loop, kept for the loop's lifetime: a budget
# forgotten when its last client closed would forget the slots still inside the window.
_registry: weakref.WeakKeyDictionary[
    asyncio.AbstractEventLoop, dict[tuple[str, str], AccountBudget]
]
_registry = weakref.WeakKeyDictionary()


def shared_budget(origin: str, access_key: str, limit: RateLimit) -> AccountBudget:
    """The budget every client of this loop uses for these credentials."""
    budgets = _registry.setdefault(asyncio.get_running_loop(), {})
    account = (origin, hashlib.sha256(access_key.encode()).hexdigest())
    budget = budgets.get(account)
    if budget is None:
        budget = budgets[account] = AccountBudget(limit)
    elif budget.limit != limit:
        raise ValueError(
            f"this account already has a budget of {budget.limit} in this event loop; "
            f"a second client asked for {limit}. Use the same RateLimit for every client "
            "of one account, or pass budget= explicitly."
        )
    return budget
