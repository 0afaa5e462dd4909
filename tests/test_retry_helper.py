"""The one retry helper (``_retry.retry`` and ``RetrySchedule``): its rule decides, its waits
come from backoff, and loops around it never retry a failure it already spent its attempts on."""

from __future__ import annotations

import errno
import socket

import attrs
import pytest

import karbon_async as ka
from karbon_async import _retry
from karbon_async._retry import RetriedBy, RetryRule, retried_by, retry


@pytest.fixture
def ceilings(monkeypatch: pytest.MonkeyPatch) -> list[float]:
    """The upper bound of each jittered wait drawn; the wait itself is pinned to 0."""
    drawn: list[float] = []

    def pinned(low: float, high: float) -> float:
        drawn.append(high)
        return 0.0

    monkeypatch.setattr(_retry, "_uniform", pinned)
    return drawn


class Flaky:
    """Fails ``failures`` times with errors from ``make``, then returns ``"ok"``."""

    def __init__(self, failures: int, make: type[Exception] = RuntimeError) -> None:
        self.failures = failures
        self.make = make
        self.calls = 0

    async def __call__(self) -> str:
        self.calls += 1
        if self.calls <= self.failures:
            raise self.make(f"failure {self.calls}")
        return "ok"


def always(error: BaseException, attempts: int) -> bool:
    return True


def runtime_only(error: BaseException, attempts: int) -> bool:
    return isinstance(error, RuntimeError)


async def test_retry_until_success_with_capped_doubling_waits(ceilings: list[float]) -> None:
    rule = RetryRule("t", always, max_attempts=5, base_delay=0.01, max_delay=0.03)
    told: list[tuple[int, float, str]] = []

    async def on_retry(attempt: int, wait: float, error: BaseException) -> None:
        told.append((attempt, wait, str(error)))

    flaky = Flaky(3)
    assert await retry(flaky, rule, on_retry=on_retry) == "ok"
    assert flaky.calls == 4
    assert ceilings == [0.01, 0.02, 0.03]
    assert told == [(1, 0.0, "failure 1"), (2, 0.0, "failure 2"), (3, 0.0, "failure 3")]


async def test_attempts_run_out_and_the_error_is_marked_spent(ceilings: list[float]) -> None:
    rule = RetryRule("inner", always, max_attempts=3, base_delay=0.0)
    flaky = Flaky(10)
    with pytest.raises(RuntimeError, match="failure 3") as caught:
        await retry(flaky, rule)
    assert flaky.calls == 3
    assert retried_by(caught.value) == RetriedBy("inner", 3, spent=True)


async def test_a_failure_the_rule_refuses_is_raised_at_once_and_marked_final() -> None:
    rule = RetryRule("t", runtime_only, max_attempts=5, base_delay=0.0)
    flaky = Flaky(5, make=KeyError)
    with pytest.raises(KeyError) as caught:
        await retry(flaky, rule)
    assert flaky.calls == 1
    assert retried_by(caught.value) == RetriedBy("t", 1, spent=False)


async def test_a_rule_that_raises_stops_the_loop_with_its_own_error() -> None:
    # backoff retries any Exception: a rule failing while backoff runs the attempts would
    # otherwise be retried for ever.
    def broken(error: BaseException, attempts: int) -> bool:
        if attempts >= 2:
            raise LookupError(f"rule broke at attempt {attempts}")
        return True

    flaky = Flaky(10)
    with pytest.raises(LookupError, match="attempt 2") as caught:
        await retry(flaky, RetryRule("t", broken, max_attempts=None, base_delay=0.0))
    assert flaky.calls == 2
    assert isinstance(caught.value.__context__, RuntimeError)  # the failure it was judging


@pytest.mark.parametrize(
    "error",
    [ka.UnsafeURLError("off origin"), ka.ConfigurationError("bad setting")],
    ids=["UnsafeURLError", "ConfigurationError"],
)
async def test_errors_that_always_recur_are_never_retried(error: Exception) -> None:
    calls = 0

    async def attempt() -> None:
        nonlocal calls
        calls += 1
        raise error

    with pytest.raises(type(error)):
        await retry(attempt, RetryRule("t", always, max_attempts=5, base_delay=0.0))
    assert calls == 1
    schedule = RetryRule("t", always, max_attempts=None).schedule()
    assert schedule.failed(error) is None


async def test_an_outer_loop_never_retries_what_an_inner_loop_spent(
    ceilings: list[float],
) -> None:
    inner_rule = RetryRule("inner", always, max_attempts=3, base_delay=0.0)
    outer_rule = RetryRule("outer", always, max_attempts=6, base_delay=0.0)
    flaky = Flaky(100)

    async def wrapped() -> str:
        return await retry(flaky, inner_rule)

    with pytest.raises(RuntimeError) as caught:
        await retry(wrapped, outer_rule)
    assert flaky.calls == 3  # 3, not 3 x 6
    mark = retried_by(caught.value)
    assert mark is not None
    assert mark.spent
    assert mark.rule == "outer"


async def test_an_outer_loop_may_retry_what_an_inner_loop_judged_final() -> None:
    # The request path does not retry a 409; modify's own rule does.
    inner_rule = RetryRule("inner", runtime_only, max_attempts=3, base_delay=0.0)
    outer_rule = RetryRule(
        "outer", lambda e, n: isinstance(e, KeyError), max_attempts=4, base_delay=0.0
    )
    flaky = Flaky(100, make=KeyError)

    async def wrapped() -> str:
        return await retry(flaky, inner_rule)

    with pytest.raises(KeyError):
        await retry(wrapped, outer_rule)
    assert flaky.calls == 4  # one per outer attempt: the inner loop never retried it


async def test_an_inner_loop_of_one_attempt_leaves_retrying_to_the_outer_loop() -> None:
    inner_rule = RetryRule("inner", always, max_attempts=1)
    outer_rule = RetryRule("outer", always, max_attempts=4, base_delay=0.0)
    flaky = Flaky(3)

    async def wrapped() -> str:
        return await retry(flaky, inner_rule)

    assert await retry(wrapped, outer_rule) == "ok"
    assert flaky.calls == 4


def test_a_schedule_gives_the_rules_waits_and_starts_over_after_a_success(
    ceilings: list[float],
) -> None:
    rule = RetryRule("t", runtime_only, max_attempts=None, base_delay=0.01, max_delay=0.04)
    schedule = rule.schedule()
    for _ in range(4):
        assert schedule.failed(RuntimeError("down")) == 0.0
    assert ceilings == [0.01, 0.02, 0.04, 0.04]
    assert schedule.failures == 4
    schedule.succeeded()
    schedule.failed(RuntimeError("down"))
    assert ceilings[-1] == 0.01
    assert schedule.failed(KeyError("not for this rule")) is None


def test_a_schedule_stops_at_the_attempt_limit() -> None:
    schedule = RetryRule("t", always, max_attempts=2, base_delay=0.0).schedule()
    assert schedule.failed(RuntimeError()) is not None
    assert schedule.failed(RuntimeError()) is None


def test_worst_wait_sums_the_ceilings() -> None:
    assert RetryRule("t", always, max_attempts=5, base_delay=0.5, max_delay=3.0).worst_wait() == (
        0.5 + 1.0 + 2.0 + 3.0
    )
    assert RetryRule("t", always, max_attempts=1).worst_wait() == 0.0
    assert RetryRule("t", always, max_attempts=None).worst_wait() == float("inf")


def test_the_default_request_rule_worst_cases() -> None:
    """The figures the module docstring states."""
    policy = ka.RetryPolicy()
    rule = _retry.request_rule(policy, "GET")
    assert rule.max_attempts == 5
    assert rule.worst_wait() == 7.5
    refused = ka.ConnectError("refused", method="GET", url="u", errno=errno.ECONNREFUSED)
    assert rule.decide(refused, _retry.REFUSED_ATTEMPTS - 1)
    assert not rule.decide(refused, _retry.REFUSED_ATTEMPTS)
    refused_rule = RetryRule("refused", always, max_attempts=_retry.REFUSED_ATTEMPTS)
    assert refused_rule.worst_wait() == 1.5  # well inside the 5 s promised


def closed_port() -> int:
    with socket.socket() as probe:  # a loopback port with nothing listening
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


async def test_a_refused_connection_fails_fast_in_one_line_naming_url_and_setting(
    ceilings: list[float],
) -> None:
    base_url = f"http://127.0.0.1:{closed_port()}"
    sent: list[object] = []
    async with ka.KarbonClient(
        bearer_token="t",
        access_key="k",
        base_url=base_url,
        event_hooks={"request": [sent.append]},
    ) as client:
        with pytest.raises(ka.ConnectError) as caught:
            await client.contacts.list().first()
    assert len(sent) == _retry.REFUSED_ATTEMPTS  # not the policy's 5, not 5 x anything
    assert ceilings == [0.5, 1.0]  # at most 1.5 s of waiting with the default policy
    message = str(caught.value)
    assert "\n" not in message
    assert base_url in message
    assert "KARBON_BASE_URL" in message
    assert "base_url" in message


def test_a_rule_refuses_a_bad_attempt_limit_by_name() -> None:
    with pytest.raises(ValueError, match=r"^max_attempts must be between 1 and 100, got 0$"):
        RetryRule("t", always, max_attempts=0)
    with pytest.raises(TypeError, match=r"^max_attempts must be an int, got 2\.0$"):
        RetryRule("t", always, max_attempts=2.0)  # type: ignore[arg-type]


async def test_a_failure_retried_once_and_given_up_on_is_spent(ceilings: list[float]) -> None:
    rule = RetryRule("t", always, max_attempts=2, base_delay=0.0)
    flaky = Flaky(5)
    with pytest.raises(RuntimeError, match="failure 2") as caught:
        await retry(flaky, rule)
    assert retried_by(caught.value) == RetriedBy("t", 2, spent=True)


async def test_a_rule_that_stops_retrying_by_its_own_count_has_spent_the_failure() -> None:
    # The rule retries this kind of failure (its verdict on a first failure), just not a
    # second time: the failure is spent, and a loop around it does not try it again.
    def once(error: BaseException, attempts: int) -> bool:
        return attempts < 2

    flaky = Flaky(100)

    async def wrapped() -> str:
        return await retry(flaky, RetryRule("inner", once, max_attempts=5, base_delay=0.0))

    with pytest.raises(RuntimeError) as caught:
        await retry(flaky, RetryRule("inner", once, max_attempts=5, base_delay=0.0))
    assert retried_by(caught.value) == RetriedBy("inner", 2, spent=True)
    flaky.calls = 0
    with pytest.raises(RuntimeError):
        await retry(wrapped, RetryRule("outer", always, max_attempts=4, base_delay=0.0))
    assert flaky.calls == 2


async def test_an_error_that_always_recurs_is_marked_final_not_spent() -> None:
    error = ka.UnsafeURLError("off origin")

    async def attempt() -> None:
        raise error

    with pytest.raises(ka.UnsafeURLError):
        await retry(attempt, RetryRule("t", always, max_attempts=5, base_delay=0.0))
    mark = retried_by(error)
    assert mark == RetriedBy("t", 1, spent=False)
    assert mark is not None
    assert mark.spent is False


@attrs.frozen
class FrozenError(Exception):
    """An exception that takes no new attribute (attrs raises FrozenInstanceError, an
    AttributeError): the helper cannot mark it."""

    detail: str


async def test_an_error_that_cannot_be_marked_is_raised_as_it_is() -> None:
    calls = 0

    async def attempt() -> None:
        nonlocal calls
        calls += 1
        raise FrozenError("x")

    with pytest.raises(FrozenError) as caught:
        await retry(attempt, RetryRule("t", runtime_only, max_attempts=3, base_delay=0.0))
    assert calls == 1
    assert retried_by(caught.value) is None
    with pytest.raises(FrozenError):
        await retry(attempt, RetryRule("t", always, max_attempts=2, base_delay=0.0))
    assert calls == 3


class Proxying(RuntimeError):
    """An error that answers every attribute asked for (as a proxy object would)."""

    def __getattr__(self, name: str) -> object:
        return f"proxied {name}"


async def test_an_error_answering_every_attribute_is_not_taken_for_marked() -> None:
    error = Proxying("down")
    assert retried_by(error) is None
    flaky = Flaky(2, make=Proxying)
    assert await retry(flaky, RetryRule("t", always, max_attempts=3, base_delay=0.0)) == "ok"
    assert flaky.calls == 3


def rate_limited(retry_after: float) -> ka.RateLimitError:
    return ka.RateLimitError(retry_after=retry_after, status=429, method="GET", url="u", body=b"")


async def test_the_default_waits_are_at_least_a_429s_retry_after(ceilings: list[float]) -> None:
    schedule = RetryRule("t", always, max_attempts=None, base_delay=0.01).schedule()
    assert schedule.failed(rate_limited(0.25)) == 0.25
    assert schedule.failed(RuntimeError("down")) == 0.0
    told: list[float] = []

    async def on_retry(attempt: int, wait: float, error: BaseException) -> None:
        told.append(wait)

    errors = [rate_limited(0.02), RuntimeError("down")]

    async def attempt() -> str:
        if errors:
            raise errors.pop(0)
        return "ok"

    rule = RetryRule("t", always, max_attempts=3, base_delay=0.001)
    assert await retry(attempt, rule, on_retry=on_retry) == "ok"
    assert told == [0.02, 0.0]


def test_a_schedule_counts_its_attempts_afresh_after_a_success() -> None:
    schedule = RetryRule("t", always, max_attempts=2, base_delay=0.0).schedule()
    assert schedule.failed(RuntimeError()) is not None
    schedule.succeeded()
    assert schedule.failures == 0
    assert schedule.failed(RuntimeError()) is not None  # the first failure again, not the 2nd
    assert schedule.failed(RuntimeError()) is None
