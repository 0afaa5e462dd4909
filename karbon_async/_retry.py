"""When a failed attempt is tried again, and how long to wait first (built on backoff).

The rules:

* 429: any method (the gateway rejected it before it was processed). The account's budget has
  already paused everyone for ``Retry-After``; a repeated 429 adds full-jitter backoff on top,
  which only ever lengthens the wait. A ``Retry-After`` beyond ``max_retry_wait`` is raised as
  ``RateLimitError`` at once rather than hanging.
* Connection not made (``ConnectError``): any method; nothing was written.
* 5xx, timeouts, connections dropped after sending: idempotent methods only (GET, PUT, DELETE).
  A POST or PATCH that may have reached the server is never repeated; its error says so.
* Everything else (4xx, cancellation) is not retried. ``asyncio.CancelledError`` is a
  ``BaseException`` and passes straight through.
"""

from __future__ import annotations

import functools
import math
import random
from collections.abc import Awaitable, Callable, Generator
from typing import Any, TypeVar

import attrs
import backoff

from ._exceptions import (
    ConnectError,
    KarbonError,
    RateLimitError,
    ServerError,
    TransportError,
)

T = TypeVar("T")

IDEMPOTENT_METHODS = frozenset({"GET", "HEAD", "OPTIONS", "PUT", "DELETE"})


MAX_ATTEMPTS = 100
"""The most attempts a ``RetryPolicy`` may ask for: beyond it a policy is a mistake, not a plan."""


def _attempts(instance: object, attribute: attrs.Attribute[int], value: int) -> None:
    if isinstance(value, bool) or not isinstance(value, int):
        raise TypeError(f"{attribute.name} must be an int, got {value!r}")
    if not 1 <= value <= MAX_ATTEMPTS:
        raise ValueError(f"{attribute.name} must be between 1 and {MAX_ATTEMPTS}, got {value}")


def _seconds(instance: object, attribute: attrs.Attribute[float], value: float) -> None:
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise TypeError(f"{attribute.name} must be a number of seconds, got {value!r}")
    if not 0 <= value < math.inf:
        raise ValueError(f"{attribute.name} must be finite and not negative, got {value!r}")


@attrs.frozen
class RetryPolicy:
    """How hard to try. ``max_attempts`` counts the first try (1 to ``MAX_ATTEMPTS``); the
    delays are finite, non-negative seconds."""

    max_attempts: int = attrs.field(default=5, validator=_attempts)
    base_delay: float = attrs.field(default=0.5, validator=_seconds)
    max_delay: float = attrs.field(default=30.0, validator=_seconds)
    max_retry_wait: float = attrs.field(default=300.0, validator=_seconds)
    """The longest ``Retry-After`` worth waiting for; a longer one raises ``RateLimitError``."""


def is_retryable(
    error: BaseException, method: str, policy: RetryPolicy, *, max_retry_wait: float | None = None
) -> bool:
    """Whether ``error`` is worth another attempt of ``method``. ``max_retry_wait`` overrides
    the policy's limit on ``Retry-After`` (a caller a level up, like the exporter, waits longer)."""
    if isinstance(error, RateLimitError):
        limit = policy.max_retry_wait if max_retry_wait is None else max_retry_wait
        return error.retry_after <= limit
    if isinstance(error, ConnectError):
        return True
    if isinstance(error, ServerError | TransportError):
        return method.upper() in IDEMPOTENT_METHODS
    return False


_uniform = random.uniform
"""The jitter source; one name so a test can pin it for every retry loop at once."""


def backoff_delay(retry: int, base: float, cap: float) -> float:
    """The wait before retry number ``retry`` (1 for the first): capped exponential backoff with
    full jitter, uniform in ``[0, min(cap, base * 2 ** (retry - 1))]``. Full jitter spreads
    clients that failed together, so they do not come back together."""
    return _uniform(0.0, min(cap, base * 2.0 ** min(max(retry - 1, 0), 64)))


def retry_wait(error: BaseException | None, retry: int, base: float, cap: float) -> float:
    """How long to wait before retry number ``retry`` after ``error``: the backoff delay, or
    the server's ``Retry-After`` when that is longer."""
    wait = backoff_delay(retry, base, cap)
    if isinstance(error, RateLimitError):
        wait = max(wait, error.retry_after)
    return wait


def _waits(policy: RetryPolicy) -> Generator[float, BaseException | None, None]:
    """The request path's waits: the first retry after a 429 waits only for the budget (which
    already holds every request of the account for ``Retry-After``); later ones back off."""
    error = yield 0.0  # backoff primes the generator with send(None)
    retries = 0
    rate_limited_before = False
    while True:
        retries += 1
        if isinstance(error, RateLimitError) and not rate_limited_before:
            rate_limited_before = True
            wait = 0.0  # the shared cool-down already holds this request back
        else:
            wait = backoff_delay(retries, policy.base_delay, policy.max_delay)
        error = yield wait


OnRetry = Callable[[int, float, BaseException], Awaitable[None]]
"""Told (failed attempt's number, wait in seconds, its error) before each retry's wait."""


async def _call(attempt: Callable[[], Awaitable[T]], on_retry: OnRetry | None = None) -> T:
    return await attempt()


async def _report_retry(details: Any) -> None:
    # The wrapper is shared by every request of a (policy, method): the per-request listener
    # travels as the wrapped call's argument.
    on_retry = details["kwargs"].get("on_retry")
    if on_retry is not None:
        await on_retry(details["tries"], details["wait"], details["exception"])


@functools.lru_cache(maxsize=64)
def _retrier(policy: RetryPolicy, method: str) -> Callable[..., Awaitable[Any]]:
    """The backoff-wrapped caller for one (policy, method), built once: building it costs more
    than a request's own bookkeeping, and nothing in it depends on the request."""

    def give_up(error: Exception) -> bool:
        return not is_retryable(error, method, policy)

    def note_not_repeated(details: Any) -> None:
        error = details.get("exception")
        if (
            isinstance(error, ServerError | TransportError)
            and method.upper() not in IDEMPOTENT_METHODS
            and not isinstance(error, ConnectError)
        ):
            error.args = (
                f"{error.args[0]} ({method} is not idempotent and may have been processed, so it "
                "was not repeated: check the resource's state before trying again)",
                *error.args[1:],
            )
            error.not_repeated = True

    return backoff.on_exception(
        lambda: _waits(policy),
        KarbonError,
        max_tries=policy.max_attempts,
        giveup=give_up,
        on_giveup=note_not_repeated,
        on_backoff=_report_retry,
        jitter=None,
        raise_on_giveup=True,
        logger=None,  # a 404 is an answer, not an incident: the caller decides what to log
    )(_call)


async def call_with_retries(
    attempt: Callable[[], Awaitable[T]],
    *,
    method: str,
    policy: RetryPolicy,
    on_retry: OnRetry | None = None,
) -> T:
    """Run ``attempt`` until it succeeds or a failure is final, then raise the last error."""
    result: T = await _retrier(policy, method)(attempt, on_retry=on_retry)
    return result
