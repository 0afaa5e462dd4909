"""The retry loop on its own (``call_with_retries``): the policy's bounds, which failures are
tried again and how long each wait is, and which final errors say "not repeated"."""

from __future__ import annotations

import math
from collections.abc import Callable

import pytest

import karbon_async as ka
from karbon_async import _retry

URL = "http://127.0.0.1:9/v3/Contacts"


def rate_limited(retry_after: float) -> ka.RateLimitError:
    return ka.RateLimitError(retry_after=retry_after, status=429, method="GET", url=URL, body=b"")


def server_error(method: str = "GET") -> ka.ServerError:
    return ka.ServerError(status=503, method=method, url=URL, body=b"")


def not_found(method: str = "GET") -> ka.NotFoundError:
    return ka.NotFoundError(status=404, method=method, url=URL, body=b"")


def dropped(method: str = "GET") -> ka.TransportError:
    return ka.TransportError("dropped", method=method, url=URL, maybe_processed=True)


def refused(method: str = "GET") -> ka.ConnectError:
    return ka.ConnectError("refused", method=method, url=URL)


@pytest.fixture
def ceiling_waits(monkeypatch: pytest.MonkeyPatch) -> None:
    """Each jittered wait is its ceiling (the longest full jitter can draw)."""
    monkeypatch.setattr(_retry, "_uniform", lambda low, high: high)


class Attempts:
    """An attempt that fails with each scripted error in turn, then returns "ok"."""

    def __init__(self, *errors: Exception) -> None:
        self.errors = list(errors)
        self.calls = 0
        self.retries: list[tuple[int, float, str]] = []

    async def __call__(self) -> str:
        self.calls += 1
        if self.errors:
            raise self.errors.pop(0)
        return "ok"

    async def on_retry(self, number: int, wait: float, error: BaseException) -> None:
        self.retries.append((number, wait, type(error).__name__))


async def run(attempts: Attempts, method: str = "GET", **policy: float) -> str:
    settings = {"base_delay": 0.001, "max_delay": 0.004, **policy}
    return await _retry.call_with_retries(
        attempts,
        method=method,
        policy=ka.RetryPolicy(**settings),  # type: ignore[arg-type]
        on_retry=attempts.on_retry,
    )


@pytest.mark.parametrize("attempts", [1, 2, 50, _retry.MAX_ATTEMPTS])
def test_max_attempts_within_bounds_is_kept(attempts: int) -> None:
    assert ka.RetryPolicy(max_attempts=attempts).max_attempts == attempts


@pytest.mark.parametrize(
    ("value", "error", "message"),
    [
        (0, ValueError, "max_attempts must be between 1 and 100, got 0"),
        (-1, ValueError, "between 1 and 100"),
        (_retry.MAX_ATTEMPTS + 1, ValueError, "between 1 and 100, got 101"),
        (True, TypeError, "max_attempts must be an int, got True"),
        (2.0, TypeError, "must be an int"),
        ("3", TypeError, "must be an int"),
    ],
)
def test_max_attempts_out_of_bounds_is_refused(
    value: object, error: type[Exception], message: str
) -> None:
    with pytest.raises(error, match=message):
        ka.RetryPolicy(max_attempts=value)  # type: ignore[arg-type]


@pytest.mark.parametrize("field", ["base_delay", "max_delay", "max_retry_wait"])
def test_delays_must_be_finite_non_negative_seconds(field: str) -> None:
    assert getattr(ka.RetryPolicy(**{field: 0}), field) == 0
    assert getattr(ka.RetryPolicy(**{field: 2.5}), field) == 2.5
    for bad in (-0.001, math.inf, math.nan):
        with pytest.raises(ValueError, match=f"{field} must be finite and not negative"):
            ka.RetryPolicy(**{field: bad})
    for wrong in (True, "1", None):
        with pytest.raises(TypeError, match=f"{field} must be a number of seconds"):
            ka.RetryPolicy(**{field: wrong})


@pytest.mark.parametrize("attempts", [1, 3])
async def test_max_attempts_counts_the_first_try(attempts: int) -> None:
    calls = Attempts(*(server_error() for _ in range(10)))
    with pytest.raises(ka.ServerError):
        await run(calls, max_attempts=attempts)
    assert calls.calls == attempts


async def test_retry_after_exactly_at_the_limit_is_waited_for() -> None:
    policy = ka.RetryPolicy(max_retry_wait=60.0)
    assert _retry.is_retryable(rate_limited(60.0), "GET", policy)
    assert not _retry.is_retryable(rate_limited(60.001), "GET", policy)
    assert _retry.is_retryable(rate_limited(100.0), "GET", policy, max_retry_wait=100.0)
    assert not _retry.is_retryable(rate_limited(100.5), "GET", policy, max_retry_wait=100.0)
    assert _retry.is_retryable(rate_limited(0.0), "POST", ka.RetryPolicy(max_retry_wait=0.0))


@pytest.mark.parametrize(
    ("error", "idempotent", "other"),
    [
        (server_error, True, False),
        (dropped, True, False),
        (refused, True, True),
        (not_found, False, False),
    ],
)
@pytest.mark.parametrize("case", [str.upper, str.lower])
def test_which_failures_are_retryable(
    error: Callable[[str], Exception],
    idempotent: bool,
    other: bool,
    case: Callable[[str], str],
) -> None:
    policy = ka.RetryPolicy()
    for method in ("GET", "PUT", "DELETE", "HEAD", "OPTIONS"):
        assert _retry.is_retryable(error(method), case(method), policy) is idempotent
    for method in ("POST", "PATCH"):
        assert _retry.is_retryable(error(method), case(method), policy) is other
    assert not _retry.is_retryable(ValueError("not a KarbonError"), "GET", policy)


async def test_the_first_429_waits_only_for_the_budget_a_repeated_one_backs_off(
    ceiling_waits: None,
) -> None:
    calls = Attempts(rate_limited(0.0), rate_limited(0.0), rate_limited(0.0))
    assert await run(calls, base_delay=0.001, max_delay=1.0) == "ok"
    assert calls.retries == [
        (1, 0.0, "RateLimitError"),
        (2, 0.002, "RateLimitError"),
        (3, 0.004, "RateLimitError"),
    ]


async def test_other_failures_back_off_from_the_first_retry(ceiling_waits: None) -> None:
    calls = Attempts(server_error(), rate_limited(0.0), server_error(), rate_limited(0.0))
    assert await run(calls, base_delay=0.001, max_delay=0.004) == "ok"
    assert calls.retries == [
        (1, 0.001, "ServerError"),
        (2, 0.0, "RateLimitError"),  # the first 429 still rests on the budget's pause
        (3, 0.004, "ServerError"),
        (4, 0.004, "RateLimitError"),  # capped at max_delay
    ]


def test_backoff_ceilings(ceiling_waits: None) -> None:
    assert _retry.backoff_delay(0, 0.5, 10.0) == 0.5, "retry 0 is no shorter than the first"
    assert _retry.backoff_delay(1, 0.5, 10.0) == 0.5
    assert _retry.backoff_delay(2, 0.5, 10.0) == 1.0
    assert _retry.backoff_delay(5, 0.5, 10.0) == 8.0
    assert _retry.backoff_delay(6, 0.5, 10.0) == 10.0
    assert _retry.backoff_delay(66, 1e-30, 1e300) == 1e-30 * 2.0**64
    assert _retry.retry_wait(rate_limited(3.0), 1, 0.5, 10.0) == 3.0
    assert _retry.retry_wait(rate_limited(0.1), 3, 0.5, 10.0) == 2.0
    assert _retry.retry_wait(server_error(), 3, 0.5, 10.0) == 2.0


@pytest.mark.parametrize(
    ("method", "error"),
    [
        ("GET", server_error),  # idempotent: tried max_attempts times, nothing to warn about
        ("GET", dropped),
        ("POST", not_found),  # a 4xx is an answer: the call was refused, not maybe processed
        ("POST", refused),  # never connected: retried, and nothing can have been processed
        ("PATCH", refused),
    ],
)
async def test_final_errors_that_were_not_held_back_are_not_tagged(
    method: str, error: Callable[[str], Exception]
) -> None:
    calls = Attempts(*(error(method) for _ in range(3)))
    with pytest.raises(ka.KarbonError) as caught:
        await run(calls, method=method, max_attempts=3)
    assert caught.value.not_repeated is False
    assert "not idempotent" not in str(caught.value)


@pytest.mark.parametrize("method", ["POST", "PATCH", "post"])
@pytest.mark.parametrize("error", [server_error, dropped])
async def test_a_non_idempotent_call_that_may_have_landed_is_tagged(
    method: str, error: Callable[[str], Exception]
) -> None:
    first = error(method)
    calls = Attempts(first, error(method))
    with pytest.raises(ka.KarbonError) as caught:
        await run(calls, method=method, max_attempts=3)
    assert caught.value is first
    assert calls.calls == 1
    assert caught.value.not_repeated is True
    message = str(caught.value)
    assert message.startswith(str(error(method)) + f" ({method} is not idempotent")
    assert message.endswith("check the resource's state before trying again)")
    assert caught.value.args[1:] == error(method).args[1:]


async def test_each_retry_is_reported_before_its_wait() -> None:
    calls = Attempts(server_error(), dropped())
    assert await run(calls, max_attempts=3) == "ok"
    assert [(number, kind) for number, _, kind in calls.retries] == [
        (1, "ServerError"),
        (2, "TransportError"),
    ]
    silent = Attempts(server_error())
    result = await _retry.call_with_retries(
        silent, method="GET", policy=ka.RetryPolicy(base_delay=0.001)
    )
    assert result == "ok"
    assert silent.calls == 2


async def test_the_not_repeated_note_keeps_the_errors_other_arguments() -> None:
    first = dropped("POST")
    first.args = ("dropped", "the transport's detail")
    with pytest.raises(ka.TransportError) as caught:
        await run(Attempts(first), method="POST", max_attempts=3)
    assert caught.value.not_repeated is True
    assert caught.value.args[1:] == ("the transport's detail",)
    assert caught.value.args[0].startswith("dropped (POST is not idempotent")
