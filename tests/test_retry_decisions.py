"""Every retry loop (requests, export pages, webhook handlers, RedisBudget reconnection) takes
its wait from ``_retry``: pinning the jitter there shows each loop's ceilings follow its own
parameters through the one capped, full-jitter backoff."""

from __future__ import annotations

import asyncio
import math
import socket
from pathlib import Path

import pytest

import karbon_async as ka
from karbon_async import _retry
from karbon_async import webhooks as wh
from karbon_async.export import Account, Exporter
from karbon_async.testing import FakeKarbon, Fault

LIMIT = ka.RateLimit(100, 1.0)


def rate_limited(retry_after: float) -> ka.RateLimitError:
    return ka.RateLimitError(
        retry_after=retry_after, status=429, method="GET", url="http://127.0.0.1/x", body=b""
    )


@pytest.fixture
def ceilings(monkeypatch: pytest.MonkeyPatch) -> list[float]:
    """The upper bound of each jittered wait drawn; the wait itself is pinned to 0."""
    drawn: list[float] = []

    def pinned(low: float, high: float) -> float:
        assert low == 0.0, "full jitter starts at zero"
        drawn.append(high)
        return 0.0

    monkeypatch.setattr(_retry, "_uniform", pinned)
    return drawn


def test_backoff_delay_is_capped_exponential(ceilings: list[float]) -> None:
    for retry in range(1, 8):
        _retry.backoff_delay(retry, 0.5, 4.0)
    assert ceilings == [0.5, 1.0, 2.0, 4.0, 4.0, 4.0, 4.0]
    _retry.backoff_delay(10_000, 1.0, 7.0)  # a huge exponent neither overflows nor exceeds cap
    assert ceilings[-1] == 7.0


def test_retry_wait_honours_a_longer_retry_after(ceilings: list[float]) -> None:
    error = rate_limited(12.0)
    assert _retry.retry_wait(error, 1, 0.5, 30.0) == 12.0
    assert _retry.retry_wait(RuntimeError("x"), 1, 0.5, 30.0) == 0.0  # the pinned jitter


def test_is_retryable_follows_the_method() -> None:
    policy = ka.RetryPolicy()
    dropped = ka.TransportError("dropped", method="POST", url="u", maybe_processed=True)
    assert _retry.is_retryable(dropped, "GET", policy)
    assert not _retry.is_retryable(dropped, "POST", policy)
    long_wait = rate_limited(1e6)
    assert not _retry.is_retryable(long_wait, "GET", policy)
    assert _retry.is_retryable(long_wait, "GET", policy, max_retry_wait=math.inf)


async def test_the_request_path_backs_off_with_its_policy(ceilings: list[float]) -> None:
    async with FakeKarbon(accounts=1, rate_limit=LIMIT, size=5) as fake:
        fake.add_fault(Fault.status(503), count=3, method="GET")
        account = fake.accounts[0]
        policy = ka.RetryPolicy(max_attempts=4, base_delay=0.01, max_delay=0.03)
        async with ka.KarbonClient(
            bearer_token=account.bearer_token,
            access_key=account.access_key,
            base_url=fake.base_url,
            rate_limit=LIMIT,
            retry=policy,
        ) as client:
            await client.contacts.list().first()
    assert ceilings == [0.01, 0.02, 0.03]


async def test_export_page_retries_back_off_with_page_retry_delay_capped_by_the_policy(
    ceilings: list[float], tmp_path: Path
) -> None:
    async with FakeKarbon(accounts=1, rate_limit=LIMIT, size=5) as fake:
        fake.add_fault(Fault.status(503), count=3, method="GET")
        account = fake.accounts[0]
        exporter = Exporter(
            [Account("a", account.bearer_token, account.access_key, fake.base_url, LIMIT)],
            ["contacts"],
            out=tmp_path,
            retry=ka.RetryPolicy(max_attempts=1, max_delay=0.025),
            page_retry_delay=0.01,
            max_page_attempts=4,
        )
        report = await exporter.run()
    assert report.ok
    assert ceilings == [0.01, 0.02, 0.025]


async def test_webhook_handler_retries_back_off_with_the_worker_delays(
    ceilings: list[float],
) -> None:
    router = wh.Router()
    calls = 0

    @router.on("Work")
    async def flaky(event: wh.WebhookEvent) -> None:
        nonlocal calls
        calls += 1
        if calls < 4:
            raise RuntimeError("transient")

    worker = wh.WebhookWorker(router, max_attempts=4, retry_delay=0.02, max_retry_delay=0.05)
    async with worker:
        worker.submit(
            wh.parse_event(
                b'{"ResourcePermaKey":"W1","ResourceType":"Work","ActionType":"Updated"}'
            )
        )
        await worker.join()
    assert calls == 4
    assert ceilings == [0.02, 0.04, 0.05]


async def test_redis_budget_reconnects_with_its_backoff(ceilings: list[float]) -> None:
    pytest.importorskip("redis")
    from karbon_async._redis_budget import RedisBudget

    with socket.socket() as probe:  # a loopback port with nothing listening
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    budget = RedisBudget(
        ka.RateLimit(2, 1.0),
        url=f"redis://127.0.0.1:{port}",
        access_key="key",
        backoff=0.01,
        max_backoff=0.03,
    )
    try:
        waiting = asyncio.ensure_future(budget.acquire())
        for _ in range(200):
            if len(ceilings) >= 8:
                break
            await asyncio.sleep(0.01)
        waiting.cancel()
        with pytest.raises(asyncio.CancelledError):
            await waiting
    finally:
        await budget.aclose()
    assert len(ceilings) >= 8
    assert set(ceilings) <= {0.01, 0.02, 0.03}
    # Doubled from backoff, capped at max_backoff; both listeners (script and pub/sub) use it.
    assert 0.01 in ceilings
    assert 0.03 in ceilings
