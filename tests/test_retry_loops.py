"""Each retry loop's worst case, as its docstring states it: one persistent failure is tried by
one loop only (never the exporter's page attempts times the client's), conflict retries back
off with jitter, and the webhook worker does not repeat what the client already retried."""

from __future__ import annotations

import asyncio
import socket
from pathlib import Path
from typing import Any

import attrs
import pytest

import karbon_async as ka
from karbon_async import _retry
from karbon_async import webhooks as wh
from karbon_async.export import Account, Exporter
from karbon_async.export._options import ExportOptions
from karbon_async.export._stream import page_rule
from karbon_async.testing import FakeKarbon, Fault

LIMIT = ka.RateLimit(100, 1.0)


@pytest.fixture
def ceilings(monkeypatch: pytest.MonkeyPatch) -> list[float]:
    """The upper bound of each jittered wait drawn; the wait itself is pinned to 0."""
    drawn: list[float] = []

    def pinned(low: float, high: float) -> float:
        drawn.append(high)
        return 0.0

    monkeypatch.setattr(_retry, "_uniform", pinned)
    return drawn


def closed_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def client_of(fake: FakeKarbon, **options: Any) -> ka.KarbonClient:
    account = fake.accounts[0]
    return ka.KarbonClient(
        bearer_token=account.bearer_token,
        access_key=account.access_key,
        base_url=fake.base_url,
        **options,
    )


# --- export pages -----------------------------------------------------------------------


async def test_a_5xx_streak_the_client_spent_is_not_fetched_again_by_the_export(
    ceilings: list[float], tmp_path: Path
) -> None:
    async with FakeKarbon(accounts=1, rate_limit=LIMIT, size=5) as fake:
        streak = fake.add_fault(Fault.status(503), count=None, path="/v3/Contacts")
        account = fake.accounts[0]
        accounts = [Account("a", account.bearer_token, account.access_key, fake.base_url, LIMIT)]
        options: dict[str, Any] = {
            "out": tmp_path,
            "retry": ka.RetryPolicy(max_attempts=3),
            "max_page_attempts": 6,
        }
        report = await Exporter(accounts, ["contacts"], **options).run()
        assert not report.ok
        assert streak.hits == 3  # the client's 3 attempts, not 3 x 6
        stream = report.accounts[0].streams["contacts"]
        assert stream.page_retries == 0
        assert "ServerError" in (stream.error or "")
        assert len(ceilings) == 2  # the client's two waits only
        fake.clear_faults()
        resumed = await Exporter(accounts, ["contacts"], resume=True, **options).run()
        assert resumed.ok


async def test_a_retry_after_longer_than_the_client_waits_is_waited_out_by_the_export(
    ceilings: list[float], tmp_path: Path
) -> None:
    async with FakeKarbon(accounts=1, rate_limit=LIMIT, size=5) as fake:
        fake.add_fault(Fault.rate_limited(1), count=1, path="/v3/Contacts")
        account = fake.accounts[0]
        report = await Exporter(
            [Account("a", account.bearer_token, account.access_key, fake.base_url, LIMIT)],
            ["contacts"],
            out=tmp_path,
            retry=ka.RetryPolicy(max_retry_wait=0.5),  # the client raises a 1 s Retry-After
            page_retry_delay=0.01,
        ).run()
    assert report.ok
    assert report.accounts[0].streams["contacts"].page_retries == 1
    assert ceilings == [0.01]  # the page loop's backoff; the wait itself is the Retry-After


async def test_export_against_a_refused_base_url_fails_fast_in_one_line(
    ceilings: list[float], tmp_path: Path
) -> None:
    base_url = f"http://127.0.0.1:{closed_port()}"
    report = await Exporter(
        [Account("a", "token", "key", base_url, LIMIT)], ["contacts"], out=tmp_path
    ).run()
    assert not report.ok
    stream = report.accounts[0].streams["contacts"]
    assert report.requests == _retry.REFUSED_ATTEMPTS  # was 5 x 6 = 30 connections
    assert stream.page_retries == 0
    assert ceilings == [0.5, 1.0]  # the default policy: at most 1.5 s of waiting in all
    error = stream.error or ""
    assert "\n" not in error
    assert f"connection refused by {base_url}" in error
    assert "KARBON_BASE_URL" in error


# --- modify ---------------------------------------------------------------------------


async def test_modify_conflict_retries_back_off_with_jitter(ceilings: list[float]) -> None:
    async with FakeKarbon(rate_limit=None, size=3) as fake, client_of(fake) as client:
        conflicts = fake.add_fault(Fault.conflict(), method="PUT", count=None)
        key = next(iter(fake.collection(0, "Contacts").keys()))
        with pytest.raises(ka.ConflictError):
            await client.contacts.modify(key, lambda c: attrs.evolve(c, first_name="X"))
    assert conflicts.hits == 3  # DEFAULT_MODIFY_ATTEMPTS PUTs, each answered 409 once
    assert ceilings == [0.1, 0.2]  # jittered, doubling from 0.1 s


async def test_modify_does_not_retry_a_failure_the_request_path_spent(
    ceilings: list[float],
) -> None:
    async with (
        FakeKarbon(rate_limit=None, size=3) as fake,
        client_of(fake, retry=ka.RetryPolicy(max_attempts=2)) as client,
    ):
        failing = fake.add_fault(Fault.status(503), method="PUT", count=None)
        key = next(iter(fake.collection(0, "Contacts").keys()))
        with pytest.raises(ka.ServerError):
            await client.contacts.modify(key, lambda c: attrs.evolve(c, first_name="X"))
    assert failing.hits == 2  # the request path's 2 attempts, not 2 x 3


# --- webhook worker ---------------------------------------------------------------------


def work_event(key: str = "W1") -> wh.WebhookEvent:
    return wh.parse_event(
        b'{"ResourcePermaKey":"%s","ResourceType":"Contact","ActionType":"Updated"}' % key.encode()
    )


async def test_the_worker_does_not_repeat_a_fetch_the_client_retried(
    ceilings: list[float],
) -> None:
    router = wh.Router()
    handled: list[Any] = []

    @router.on("Contact", fetch=True)
    async def changed(event: wh.WebhookEvent, contact: Any) -> None:
        handled.append(contact)

    async with (
        FakeKarbon(rate_limit=None, size=3) as fake,
        client_of(fake, retry=ka.RetryPolicy(max_attempts=2)) as client,
    ):
        failing = fake.add_fault(Fault.status(503), method="GET", count=None)
        worker = wh.WebhookWorker(router, client=client, max_attempts=3, retry_delay=0.01)
        async with worker:
            worker.submit(work_event(next(iter(fake.collection(0, "Contacts").keys()))))
            await worker.join()
    assert failing.hits == 2  # the client's attempts, not 2 x 3
    assert not handled
    (letter,) = worker.dead_letters
    assert letter.attempts == 1
    assert isinstance(letter.error, ka.ServerError)
    assert worker.stats.retries == 0


async def test_the_worker_retries_its_own_handlers_failures_up_to_max_attempts(
    ceilings: list[float],
) -> None:
    router = wh.Router()
    calls = 0

    @router.on("Contact")
    async def always_fails(event: wh.WebhookEvent) -> None:
        nonlocal calls
        calls += 1
        raise RuntimeError("handler bug")

    worker = wh.WebhookWorker(router, max_attempts=3, retry_delay=0.5, max_retry_delay=30.0)
    async with worker:
        worker.submit(work_event())
        await worker.join()
    assert calls == 3
    assert ceilings == [0.5, 1.0]  # worst case stated in retry_rule: retry_delay * (1 + 2)
    assert worker.retry_rule().worst_wait() == 1.5
    (letter,) = worker.dead_letters
    assert letter.attempts == 3


async def test_the_worker_never_retries_an_error_that_always_recurs() -> None:
    router = wh.Router()
    calls = 0

    @router.on("Contact")
    async def misconfigured(event: wh.WebhookEvent) -> None:
        nonlocal calls
        calls += 1
        raise ka.ConfigurationError("no such setting")

    worker = wh.WebhookWorker(router, max_attempts=5, retry_delay=0.01)
    async with worker:
        worker.submit(work_event())
        await worker.join()
    assert calls == 1


# --- subscription keeper ----------------------------------------------------------------


async def test_the_subscription_keeper_stops_on_an_error_that_always_recurs() -> None:
    async with FakeKarbon(rate_limit=None, size=1) as fake, client_of(fake) as client:
        keeper = wh.SubscriptionKeeper(client, ["Work"], "https://example.com/hook", "k" * 16)
        checks = 0

        async def failing_check() -> list[wh.EnsuredSubscription]:
            nonlocal checks
            checks += 1
            if checks < 3:
                raise ka.ServerError(status=503, method="GET", url="u", body=b"")
            raise ka.UnsafeURLError("off origin")

        keeper.check = failing_check  # type: ignore[method-assign]
        with pytest.raises(ka.UnsafeURLError):
            await asyncio.wait_for(keeper.run(interval=0.0), 5.0)
        assert checks == 3  # two logged failures, each followed by the next scheduled check


def test_the_default_export_page_rule_worst_case() -> None:
    """As ``page_rule``'s docstring states: 6 fetches, at most 31 s of backoff."""
    rule = page_rule(ExportOptions())
    assert rule.max_attempts == 6
    assert rule.worst_wait() == 1 + 2 + 4 + 8 + 16
    failure = ka.ServerError(status=503, method="GET", url="u", body=b"")
    assert rule.schedule().failed(failure) is not None  # no client loop gave up on it
    client_rule = _retry.request_rule(ka.RetryPolicy(), "GET")
    assert not _retry._judge(client_rule, failure, 5)  # the client's 5th attempt: spent
    assert rule.schedule().failed(failure) is None
