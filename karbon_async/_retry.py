"""The one retry mechanism: every loop that tries something again goes through here.

**The helper.** ``await retry(attempt, rule)`` calls ``attempt()`` until it succeeds or the
rule's decision is to stop, waiting between attempts, and raises the last error. A
:class:`RetryRule` is the decision rule of one use: a name (for logs), ``decide(error,
attempts)`` (is this failure worth another attempt, after ``attempts`` tries?), a
``max_attempts`` limit (None: no limit) and the backoff (``base_delay`` doubled per retry up to
``max_delay``, full jitter, and at least a 429's ``Retry-After`` unless the rule says
otherwise)::

    rule = RetryRule("fleet broker", lambda error, attempts: isinstance(error, OSError),
                     max_attempts=None, base_delay=0.5, max_delay=30.0)
    connection = await retry(connect, rule)

A loop that cannot hand its attempt over (the Redis budget serves callers locally between two
reconnection attempts) steps the same waits with ``schedule = rule.schedule()``:
``schedule.failed(error)`` returns the wait before the next attempt (or None: give up),
``schedule.succeeded()`` starts over.

The waiting is ``backoff``'s (``backoff.on_exception`` runs the loop; its wait generator is this
module's, fed each error, so a wait can depend on the failure). Full jitter comes from one
name, ``_uniform``, so a test can pin every loop's waits at once.

**Never nested.** The helper, not each rule, guarantees:

* ``UnsafeURLError`` and ``ConfigurationError`` (including ``EventLoopMismatchError``) always
  recur: never retried, whatever the rule says.
* An error a loop gave up on is marked (see :func:`retried_by`). A failure the inner loop
  retried and ran out of attempts on (*spent*) is never retried by an outer loop: a wrong
  ``KARBON_BASE_URL`` costs the request path's attempts once, not the exporter's page attempts
  times them. A failure an inner loop judged final without retrying (a 409, a ``Retry-After``
  longer than the client waits) is left to the outer rule: ``modify`` retries a 409, the
  exporter waits out a long ``Retry-After``.

So a loop's worst case is its own attempts times one inner call's attempts only when failures
of different kinds alternate; one persistent failure is tried by one loop only.

**The request path's rule** (``call_with_retries``, used by the sender):

* 429: any method (the gateway rejected it before it was processed). The account's budget has
  already paused everyone for ``Retry-After``; a repeated 429 adds full-jitter backoff on top,
  which only ever lengthens the wait. A ``Retry-After`` beyond ``max_retry_wait`` is raised as
  ``RateLimitError`` at once rather than hanging.
* Connection not made (``ConnectError``): any method; nothing was written. A connection
  *refused* by the configured origin (nothing listens there: usually a wrong base URL) is tried
  at most ``REFUSED_ATTEMPTS`` times, so with the default policy it fails within about
  ``base_delay * (2 ** (REFUSED_ATTEMPTS - 1) - 1)`` = 1.5 s of waiting; the sender then words
  the error as one line naming the URL and the setting to fix.
* 5xx, timeouts, connections dropped after sending: idempotent methods only (GET, PUT, DELETE).
  A POST or PATCH that may have reached the server is never repeated; its error says so.
* Everything else (4xx, cancellation) is not retried. ``asyncio.CancelledError`` is a
  ``BaseException`` and passes straight through every loop.

Worst case of one request with the default ``RetryPolicy()``: 5 attempts, at most
``0.5 + 1 + 2 + 4`` = 7.5 s of backoff (plus each attempt's timeout, and the budget's
``Retry-After`` pauses for 429s up to ``max_retry_wait``).
"""

from __future__ import annotations

import contextlib
import errno as errno_codes
import functools
import math
import random
from collections.abc import Awaitable, Callable, Generator
from typing import Any, TypeVar

import attrs
import backoff

from ._exceptions import (
    ConfigurationError,
    ConnectError,
    KarbonError,
    RateLimitError,
    ServerError,
    TransportError,
    UnsafeURLError,
)

T = TypeVar("T")

IDEMPOTENT_METHODS = frozenset({"GET", "HEAD", "OPTIONS", "PUT", "DELETE"})

ALWAYS_FINAL: tuple[type[BaseException], ...] = (UnsafeURLError, ConfigurationError)
"""Errors that recur on every attempt (a URL off the origin, a setting that is wrong): no loop
retries them."""

REFUSED_ATTEMPTS = 3
"""Attempts at most when the configured origin refuses the connection."""

MAX_ATTEMPTS = 100
"""The most attempts a ``RetryPolicy`` may ask for: beyond it a policy is a mistake, not a plan."""


def _attempts(instance: object, attribute: attrs.Attribute[int], value: int) -> None:
    if isinstance(value, bool) or not isinstance(value, int):
        raise TypeError(f"{attribute.name} must be an int, got {value!r}")
    if not 1 <= value <= MAX_ATTEMPTS:
        raise ValueError(f"{attribute.name} must be between 1 and {MAX_ATTEMPTS}, got {value}")


def _attempts_or_none(instance: object, attribute: attrs.Attribute[Any], value: Any) -> None:
    if value is not None:
        _attempts(instance, attribute, value)


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


def is_refused(error: BaseException) -> bool:
    """A connection the server's host refused: nothing listens on that port."""
    return isinstance(error, ConnectError) and error.errno == errno_codes.ECONNREFUSED


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
    return _uniform(0.0, backoff_ceiling(retry, base, cap))


def backoff_ceiling(retry: int, base: float, cap: float) -> float:
    """The longest wait ``backoff_delay`` may draw before retry number ``retry``."""
    return min(cap, base * 2.0 ** min(max(retry - 1, 0), 64))


def retry_wait(error: BaseException | None, retry: int, base: float, cap: float) -> float:
    """How long to wait before retry number ``retry`` after ``error``: the backoff delay, or
    the server's ``Retry-After`` when that is longer."""
    wait = backoff_delay(retry, base, cap)
    if isinstance(error, RateLimitError):
        wait = max(wait, error.retry_after)
    return wait


# --- the helper --------------------------------------------------------------------------

Decide = Callable[[BaseException, int], bool]
"""``(error, attempts made so far) -> try again?``; the attempt limit is checked separately."""

Waits = Callable[["RetryRule"], Generator[float, BaseException | None, None]]
"""A backoff wait generator for one call: primed with ``send(None)``, then sent each error and
yielding the wait before the next attempt."""

OnRetry = Callable[[int, float, BaseException], Awaitable[None]]
"""Told (failed attempt's number, wait in seconds, its error) before each retry's wait."""


def jittered_waits(rule: RetryRule) -> Generator[float, BaseException | None, None]:
    """The default waits: capped exponential backoff with full jitter, and at least a 429's
    ``Retry-After`` (the server said when to come back)."""
    error = yield 0.0  # backoff primes the generator with send(None)
    retries = 0
    while True:
        retries += 1
        error = yield retry_wait(error, retries, rule.base_delay, rule.max_delay)


@attrs.frozen
class RetryRule:
    """One loop's decision rule. ``decide(error, attempts)``: whether the failure is worth
    another attempt (``attempts`` tries made so far); ``max_attempts`` counts the first try
    (None: no limit); ``waits``: the wait generator (default :func:`jittered_waits`)."""

    name: str
    decide: Decide
    max_attempts: int | None = attrs.field(default=5, validator=_attempts_or_none)
    base_delay: float = attrs.field(default=0.5, validator=_seconds)
    max_delay: float = attrs.field(default=30.0, validator=_seconds)
    waits: Waits = jittered_waits

    def worst_wait(self) -> float:
        """The most this rule's backoff waits over all its attempts (without ``Retry-After``,
        which the server sets); infinite without an attempt limit."""
        if self.max_attempts is None:
            return math.inf
        return sum(
            backoff_ceiling(retry, self.base_delay, self.max_delay)
            for retry in range(1, self.max_attempts)
        )

    def schedule(self) -> RetrySchedule:
        """The same decisions and waits for a loop that keeps its attempts itself."""
        return RetrySchedule(self)


@attrs.frozen
class RetriedBy:
    """What the last retry loop that gave up on an error did with it."""

    rule: str
    attempts: int
    spent: bool
    """True when the loop retries this kind of failure and only ran out of attempts."""


_MARK = "_karbon_retried_by"


def retried_by(error: BaseException) -> RetriedBy | None:
    """The mark a retry loop left on ``error`` when it gave up, or None."""
    mark = getattr(error, _MARK, None)
    return mark if isinstance(mark, RetriedBy) else None


def _judge(rule: RetryRule, error: BaseException, attempts: int) -> bool:
    """Whether to try again; when not, mark ``error`` for the loops around this one."""
    inner = retried_by(error)
    inner_spent = inner is not None and inner.spent
    if isinstance(error, ALWAYS_FINAL) or inner_spent:
        again = kind_retried = False
    else:
        kind_retried = rule.decide(error, 1)
        again = (
            (rule.max_attempts is None or attempts < rule.max_attempts)
            and kind_retried
            and rule.decide(error, attempts)
        )
    if not again:
        mark = RetriedBy(rule.name, attempts, spent=inner_spent or (kind_retried and attempts > 1))
        with contextlib.suppress(AttributeError):  # a class with __slots__ goes unmarked
            setattr(error, _MARK, mark)
    return again


class _GaveUp:
    """What one attempt returns to backoff when the rule says stop: backoff's own ``giveup``
    sees only the error, not the attempt count, so the verdict is made in ``_call`` and the
    error is raised again by ``retry``."""

    __slots__ = ("error",)

    def __init__(self, error: Exception) -> None:
        self.error = error


class _Call:
    """One call's state, passed to the shared backoff-wrapped caller as an argument."""

    __slots__ = ("attempts", "first_failure", "on_retry", "rule")

    def __init__(self, rule: RetryRule, on_retry: OnRetry | None, first_failure: Exception) -> None:
        self.rule = rule
        self.on_retry = on_retry
        self.attempts = 1
        self.first_failure: Exception | None = first_failure
        """The first attempt's error (made before backoff took over), raised to it once."""


async def _call(attempt: Callable[[], Awaitable[T]], call: _Call) -> T | _GaveUp:
    if call.first_failure is not None:
        error, call.first_failure = call.first_failure, None
        raise error  # judged worth retrying already: backoff waits, then calls again
    call.attempts += 1
    try:
        return await attempt()
    except Exception as error:
        try:
            again = _judge(call.rule, error, call.attempts)
        except Exception as broken:  # a rule that raises: backoff would retry it for ever
            return _GaveUp(broken)
        if again:
            raise  # backoff waits, then calls again
        return _GaveUp(error)


async def _report_retry(details: Any) -> None:
    call: _Call = details["args"][1]
    if call.on_retry is not None:
        await call.on_retry(details["tries"], details["wait"], details["exception"])


@functools.lru_cache(maxsize=64)
def _retrier(rule: RetryRule) -> Callable[..., Awaitable[Any]]:
    """The backoff-wrapped caller for one rule, built once: building it costs more than a
    request's own bookkeeping, and nothing in it depends on the call (the attempt and the
    listener travel as the call's arguments)."""
    return backoff.on_exception(
        lambda: rule.waits(rule),
        Exception,
        max_tries=None,  # the rule decides, in _call
        on_backoff=_report_retry,
        jitter=None,
        logger=None,  # a 404 is an answer, not an incident: the caller decides what to log
    )(_call)


async def retry(
    attempt: Callable[[], Awaitable[T]], rule: RetryRule, *, on_retry: OnRetry | None = None
) -> T:
    """Call ``attempt()`` until it succeeds or ``rule`` (or the helper's own limits, see the
    module docstring) says stop; then raise the last error, marked for outer loops.
    ``on_retry`` is awaited before each wait. Build a rule once and reuse it: the backoff
    wrapper is made once per rule."""
    # The first attempt outside backoff: almost every call succeeds at once, and backoff's
    # wrapper (a coroutine, a wait generator) would cost a request a tenth of its own overhead.
    try:
        return await attempt()
    except Exception as error:
        if not _judge(rule, error, 1):
            raise
        first_failure = error
    result = await _retrier(rule)(attempt, _Call(rule, on_retry, first_failure))
    if isinstance(result, _GaveUp):
        raise result.error
    value: T = result
    return value


class RetrySchedule:
    """A rule's decisions and waits for a loop that makes its attempts itself."""

    def __init__(self, rule: RetryRule) -> None:
        self.rule = rule
        self.failures = 0
        """Attempts failed in a row."""
        self._waits: Generator[float, BaseException | None, None] | None = None

    def failed(self, error: BaseException) -> float | None:
        """Record a failed attempt: the seconds to wait before the next one, or None when
        ``error`` is not to be retried (the error is then marked, as ``retry`` marks it)."""
        self.failures += 1
        if not _judge(self.rule, error, self.failures):
            return None
        if self._waits is None:
            self._waits = self.rule.waits(self.rule)
            next(self._waits)
        return self._waits.send(error)

    def succeeded(self) -> None:
        """An attempt worked: the next failure starts from the first wait again."""
        self.failures = 0
        self._waits = None


# --- the request path's rule ---------------------------------------------------------------


def _request_waits(rule: RetryRule) -> Generator[float, BaseException | None, None]:
    """The request path's waits: the first retry after a 429 waits only for the budget (which
    already holds every request of the account for ``Retry-After``); later ones back off."""
    error = yield 0.0
    retries = 0
    rate_limited_before = False
    while True:
        retries += 1
        if isinstance(error, RateLimitError) and not rate_limited_before:
            rate_limited_before = True
            wait = 0.0  # the shared cool-down already holds this request back
        else:
            wait = backoff_delay(retries, rule.base_delay, rule.max_delay)
        error = yield wait


@functools.lru_cache(maxsize=64)
def request_rule(policy: RetryPolicy, method: str) -> RetryRule:
    """The request path's rule for one (policy, method); see the module docstring."""

    def decide(error: BaseException, attempts: int) -> bool:
        if is_refused(error) and attempts >= REFUSED_ATTEMPTS:
            return False
        return is_retryable(error, method, policy)

    return RetryRule(
        f"{method} request",
        decide,
        max_attempts=policy.max_attempts,
        base_delay=policy.base_delay,
        max_delay=policy.max_delay,
        waits=_request_waits,
    )


def _note_not_repeated(error: BaseException, method: str) -> None:
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


async def call_with_retries(
    attempt: Callable[[], Awaitable[T]],
    *,
    method: str,
    policy: RetryPolicy,
    on_retry: OnRetry | None = None,
) -> T:
    """Run ``attempt`` under the request path's rule until it succeeds or a failure is final,
    then raise the last error."""
    try:
        return await retry(attempt, request_rule(policy, method), on_retry=on_retry)
    except KarbonError as error:
        _note_not_repeated(error, method)
        raise
