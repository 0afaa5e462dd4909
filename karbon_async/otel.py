"""OpenTelemetry for the client's event hooks: one span per request, counters and histograms.

Install the extra (``pip install 'karbon-async[otel]'``), then pass the hooks as ``on_event``::

    from karbon_async.otel import OpenTelemetryHooks

    otel = OpenTelemetryHooks()  # the global tracer and meter providers unless given
    async with KarbonClient(..., on_event=otel) as client:
        otel.observe_budget(client.budget)  # optional: the karbon.budget.in_window gauge

Spans and metrics carry only what the events carry (method, route template, attempt, lane,
status, timings), never headers, query strings or full URLs.

A span covers one call's attempts: it starts when the first attempt waits for its budget permit
and ends at a success (status < 400). The events do not say when a failed call gives up, so a
failed call's span ends, at its last answer's time, when the same task starts its next call, when
the task finishes, or at ``close()``.
"""

from __future__ import annotations

import asyncio
import time
from typing import TYPE_CHECKING, Any, Protocol

import attrs

from ._budget import Budget
from ._hooks import (
    BudgetWaitEvent,
    Event,
    RateLimitedEvent,
    RequestEvent,
    ResponseEvent,
    RetryEvent,
)
from ._version import __version__

try:
    from opentelemetry import metrics, trace
    from opentelemetry.metrics import CallbackOptions, Observation
except ImportError as error:  # pragma: no cover - exercised only without the extra
    raise ImportError(
        "karbon_async.otel needs OpenTelemetry: pip install 'karbon-async[otel]'"
    ) from error

if TYPE_CHECKING:
    from collections.abc import Callable, Iterable

__all__ = ["OpenTelemetryHooks"]

_SCOPE = "karbon_async"


class _MirrorStats(Protocol):
    def stats(self) -> dict[str, dict[str, Any]]: ...


_MIRROR_COUNTERS = (
    "events",
    "changes",
    "duplicates",
    "coalesced",
    "stale_or_unchanged",
    "drift",
    "reconciliations",
    "reconcile_errors",
)


@attrs.define
class _Call:
    span: trace.Span
    ended_at: int | None = None
    """When the last attempt was answered; the span's end if nothing follows."""
    budget_wait: float = 0.0
    status: int | None = None


class OpenTelemetryHooks:
    """An ``on_event`` hook that records spans and metrics with OpenTelemetry."""

    def __init__(
        self,
        tracer_provider: trace.TracerProvider | None = None,
        meter_provider: metrics.MeterProvider | None = None,
    ) -> None:
        self._tracer = trace.get_tracer(_SCOPE, __version__, tracer_provider)
        self._meter = meter = metrics.get_meter(_SCOPE, __version__, meter_provider)
        self._requests = meter.create_counter(
            "karbon.client.requests", unit="{request}", description="Attempts sent to Karbon."
        )
        self._rate_limited = meter.create_counter(
            "karbon.client.rate_limited", unit="{response}", description="429 answers."
        )
        self._retries = meter.create_counter(
            "karbon.client.retries", unit="{retry}", description="Failed attempts tried again."
        )
        self._budget_wait = meter.create_histogram(
            "karbon.client.budget_wait",
            unit="s",
            description="Time an attempt waited for a permit from the account's budget.",
        )
        self._budgets: list[Budget] = []
        meter.create_observable_gauge(
            "karbon.budget.in_window",
            callbacks=[self._observe_in_window],
            unit="{request}",
            description="Requests counted in the account's current rate-limit window.",
        )
        self._calls: dict[asyncio.Task[Any], _Call] = {}

    def observe_mirror(self, service: _MirrorStats) -> None:
        """Report a ``karbon_async.mirror.MirrorService``'s per-account figures: the counters
        ``karbon.mirror.events``, ``.changes``, ``.duplicates``, ``.coalesced``,
        ``.stale_or_unchanged``, ``.drift``, ``.reconciliations``, ``.reconcile_errors``, and
        the gauges ``karbon.mirror.queued`` and ``karbon.mirror.freshness.p50``/``.p99``
        (seconds from a webhook's arrival to its change committed), each with
        ``karbon.account``."""
        meter = self._meter

        def counter(name: str) -> None:
            def observe(options: CallbackOptions) -> Iterable[Observation]:
                return [
                    Observation(figures[name], {"karbon.account": account})
                    for account, figures in service.stats().items()
                ]

            meter.create_observable_counter(f"karbon.mirror.{name}", callbacks=[observe])

        for name in _MIRROR_COUNTERS:
            counter(name)

        def queued(options: CallbackOptions) -> Iterable[Observation]:
            return [
                Observation(figures["queued"], {"karbon.account": account})
                for account, figures in service.stats().items()
            ]

        def freshness(quantile: str) -> Callable[[CallbackOptions], Iterable[Observation]]:
            def observe(options: CallbackOptions) -> Iterable[Observation]:
                return [
                    Observation(figures["freshness"][quantile], {"karbon.account": account})
                    for account, figures in service.stats().items()
                    if figures["freshness"] is not None
                ]

            return observe

        meter.create_observable_gauge("karbon.mirror.queued", callbacks=[queued])
        for quantile in ("p50", "p99"):
            meter.create_observable_gauge(
                f"karbon.mirror.freshness.{quantile}", callbacks=[freshness(quantile)], unit="s"
            )

    def observe_budget(self, budget: Budget) -> None:
        """Report ``budget``'s requests in window as the ``karbon.budget.in_window`` gauge."""
        if budget not in self._budgets:
            self._budgets.append(budget)

    def close(self) -> None:
        """End every span still open (failed calls whose task has not finished)."""
        for task in list(self._calls):
            self._end(task)

    def __call__(self, event: Event) -> None:
        task = asyncio.current_task()
        if task is None:  # pragma: no cover - the request path always runs in a task
            return
        where = {"http.request.method": event.method, "url.template": event.route}
        if isinstance(event, BudgetWaitEvent):
            self._budget_wait.record(event.waited, where)
            call = self._calls.get(task)
            if event.attempt == 1 or call is None:
                call = self._start(task, event)
            call.budget_wait += event.waited
            call.span.set_attribute("karbon.budget_wait_seconds", call.budget_wait)
        elif isinstance(event, RequestEvent):
            self._requests.add(1, {**where, "karbon.lane": event.lane.name.lower()})
            call = self._calls.get(task)
            if call is not None:
                call.span.set_attribute("karbon.attempt", event.attempt)
                call.ended_at = None
                call.status = None
        elif isinstance(event, ResponseEvent):
            call = self._calls.get(task)
            if call is not None:
                call.span.set_attribute("http.response.status_code", event.status)
                call.ended_at = time.time_ns()
                call.status = event.status
                if event.status < 400:
                    self._end(task)
        elif isinstance(event, RateLimitedEvent):
            self._rate_limited.add(1, where)
        elif isinstance(event, RetryEvent):
            self._retries.add(1, {**where, "error.type": event.reason})

    def _start(self, task: asyncio.Task[Any], event: BudgetWaitEvent) -> _Call:
        if task in self._calls:
            self._end(task)
        else:
            task.add_done_callback(self._end)
        # The event arrives after the wait, which belongs to the call.
        started = time.time_ns() - int(event.waited * 1e9)
        span = self._tracer.start_span(
            f"Karbon {event.method} {event.route}",
            kind=trace.SpanKind.CLIENT,
            start_time=started,
            attributes={
                "http.request.method": event.method,
                "url.template": event.route,
                "karbon.lane": event.lane.name.lower(),
                "karbon.attempt": event.attempt,
            },
        )
        call = _Call(span)
        self._calls[task] = call
        return call

    def _end(self, task: asyncio.Task[Any]) -> None:
        call = self._calls.pop(task, None)
        if call is None:
            return
        if call.status is not None and call.status >= 400:
            call.span.set_status(trace.StatusCode.ERROR, f"HTTP {call.status}")
        call.span.end(end_time=call.ended_at)

    def _observe_in_window(self, options: metrics.CallbackOptions) -> Iterable[metrics.Observation]:
        for budget in self._budgets:
            snapshot = budget.snapshot()
            yield metrics.Observation(
                snapshot.in_window, {"karbon.rate_limit": snapshot.limit.requests}
            )
