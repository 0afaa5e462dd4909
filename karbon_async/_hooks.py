"""Event hooks: what the request path reports to observers (metrics, tracing, audit logs).

Events are frozen attrs classes carrying facts only: method, route template, attempt, lane,
status, timings. They never carry headers, bodies or query strings, so a hook can forward them
anywhere without leaking credentials or upload tokens.

A hook is any callable taking one event; if it returns an awaitable, that is awaited. Hooks run
in the request's own task, in registration order; an exception in a hook propagates to the
caller (as with httpx's ``event_hooks``), so keep hooks small and safe.
"""

from __future__ import annotations

import inspect
from collections.abc import Awaitable, Callable, Mapping, Sequence

import attrs

from ._limits import Lane


@attrs.frozen
class RequestEvent:
    """An attempt is about to be sent (its budget permit is already held)."""

    method: str
    route: str
    """The path template (``/v3/Contacts/{ContactKey}``) or, for a followed link, the path."""
    attempt: int
    """1 for the first try, 2 for the first retry, ..."""
    lane: Lane


@attrs.frozen
class ResponseEvent:
    """An attempt got an answer (any status)."""

    method: str
    route: str
    attempt: int
    status: int
    elapsed: float
    """Seconds from sending to the full body read."""


@attrs.frozen
class RetryEvent:
    """A failed attempt will be tried again after ``wait`` seconds."""

    method: str
    route: str
    attempt: int
    """The attempt that failed."""
    reason: str
    """The error's class name, with the status for an API error: ``ServerError 503``."""
    wait: float


@attrs.frozen
class RateLimitedEvent:
    """A 429 arrived; the account's budget pauses for ``retry_after`` seconds."""

    method: str
    route: str
    attempt: int
    retry_after: float


@attrs.frozen
class BudgetWaitEvent:
    """An attempt waited ``waited`` seconds for a permit from the account's budget."""

    method: str
    route: str
    attempt: int
    lane: Lane
    waited: float


Event = RequestEvent | ResponseEvent | RetryEvent | RateLimitedEvent | BudgetWaitEvent
EventHook = Callable[[Event], Awaitable[None] | None]

EVENT_NAMES: Mapping[str, type[Event]] = {
    "request": RequestEvent,
    "response": ResponseEvent,
    "retry": RetryEvent,
    "rate_limited": RateLimitedEvent,
    "budget_wait": BudgetWaitEvent,
}
"""The keys ``event_hooks`` accepts, and which event each one receives."""


class Hooks:
    """The hooks of one client: per-event lists and an ``on_event`` catch-all."""

    def __init__(
        self,
        event_hooks: Mapping[str, Sequence[EventHook]] | None = None,
        on_event: EventHook | None = None,
    ) -> None:
        by_type: dict[type[Event], list[EventHook]] = {kind: [] for kind in EVENT_NAMES.values()}
        for name, hooks in (event_hooks or {}).items():
            if name not in EVENT_NAMES:
                known = ", ".join(EVENT_NAMES)
                raise ValueError(f"unknown event hook {name!r}; known events: {known}")
            if callable(hooks) or isinstance(hooks, str | bytes):
                raise TypeError(f"event_hooks[{name!r}] must be a list of callables")
            for hook in hooks:
                if not callable(hook):
                    raise TypeError(f"event_hooks[{name!r}] holds {hook!r}, which is not callable")
                by_type[EVENT_NAMES[name]].append(hook)
        if on_event is not None:
            if not callable(on_event):
                raise TypeError("on_event must be callable")
            for hooks in by_type.values():
                hooks.append(on_event)
        self._by_type = by_type
        self.active = any(by_type.values())
        """False when nothing listens, so the request path skips building events."""

    async def emit(self, event: Event) -> None:
        for hook in self._by_type[type(event)]:
            result = hook(event)
            if inspect.isawaitable(result):
                await result


NO_HOOKS = Hooks()
