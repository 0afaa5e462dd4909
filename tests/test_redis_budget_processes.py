"""Four processes share one account's budget through Redis against FakeKarbon.

The fake serves in the test's event loop; each worker is a separate Python process (this file,
run as a script) with its own KarbonClient and RedisBudget.
"""

from __future__ import annotations

import asyncio
import json
import sys
from pathlib import Path
from typing import Any

import pytest
from redis_server import RedisServer, redis_server

from karbon_async import KarbonClient, RateLimit
from karbon_async._redis_budget import RedisBudget
from karbon_async.testing import FakeKarbon

__all__ = ["redis_server"]  # the fixture

LIMIT = RateLimit(20, 2.0)
WORKERS = 4


async def _worker(options: dict[str, Any]) -> dict[str, Any]:
    limit = RateLimit(options["requests"], options["per"])
    budget = RedisBudget(
        limit,
        access_key=options["access_key"],
        base_url=options["base_url"],
        url=options["redis_url"],
        on_unavailable=options["on_unavailable"],
        expected_processes=options["processes"],
        backoff=0.05,
        max_backoff=0.25,
    )
    done: list[int] = []
    async with (
        budget,
        KarbonClient(
            bearer_token=options["bearer_token"],
            access_key=options["access_key"],
            base_url=options["base_url"],
            budget=budget,
        ) as client,
    ):
        sender = client._sender

        async def get(index: int) -> None:
            url = sender.url_for("/v3/Contacts", {"$top": "1", "$skip": str(index)})
            response = await sender.send("GET", url)
            assert response.status == 200
            done.append(index)

        await asyncio.gather(*(get(i) for i in options["indexes"]))
        snapshot = budget.snapshot()
    return {"done": sorted(done), "rate_limited": snapshot.rate_limited}


async def run_workers(
    fake: FakeKarbon,
    redis_url: str,
    *,
    processes: int,
    per_process: int,
    limit: RateLimit,
    on_unavailable: str = "wait",
) -> list[dict[str, Any]]:
    account = fake.accounts[0]
    procs = []
    for number in range(processes):
        options = {
            "requests": limit.requests,
            "per": limit.per,
            "base_url": fake.base_url,
            "bearer_token": account.bearer_token,
            "access_key": account.access_key,
            "redis_url": redis_url,
            "on_unavailable": on_unavailable,
            "processes": processes,
            "indexes": list(range(number * per_process, (number + 1) * per_process)),
        }
        procs.append(
            await asyncio.create_subprocess_exec(
                sys.executable,
                str(Path(__file__)),
                json.dumps(options),
                stdout=asyncio.subprocess.PIPE,
                stderr=asyncio.subprocess.PIPE,
            )
        )
    results = []
    for proc in procs:
        out, err = await proc.communicate()
        assert proc.returncode == 0, err.decode()[-3000:]
        results.append(json.loads(out))
    return results


async def test_four_processes_share_one_budget_without_a_429(redis_server: RedisServer) -> None:
    per_process = 15  # 60 requests at 20 per 2 s: about 6 s
    async with FakeKarbon(accounts=1, rate_limit=LIMIT, latency=(0.01, 0.05), size=500) as fake:
        results = await asyncio.wait_for(
            run_workers(
                fake, redis_server.url, processes=WORKERS, per_process=per_process, limit=LIMIT
            ),
            60,
        )
        account = fake.accounts[0]
        done = sorted(i for result in results for i in result["done"])
        assert done == list(range(WORKERS * per_process)), "all work done"
        assert account.rejected_429 == 0
        assert account.max_in_window() <= LIMIT.requests
        assert len(account.arrivals) == WORKERS * per_process


@pytest.mark.parametrize("on_unavailable", ["wait", "local"])
async def test_a_redis_restart_mid_run_loses_no_work(
    redis_server: RedisServer, on_unavailable: str
) -> None:
    per_process = 20  # 80 requests at 20 per 2 s: about 8 s, plus the outage
    async with FakeKarbon(accounts=1, rate_limit=LIMIT, latency=(0.01, 0.05), size=500) as fake:
        run = asyncio.ensure_future(
            run_workers(
                fake,
                redis_server.url,
                processes=WORKERS,
                per_process=per_process,
                limit=LIMIT,
                on_unavailable=on_unavailable,
            )
        )
        await asyncio.sleep(3.0)
        assert not run.done()
        redis_server.stop()
        await asyncio.sleep(1.0)
        redis_server.start()  # empty: persistence is off
        results = await asyncio.wait_for(run, 60)
        account = fake.accounts[0]
        done = sorted(i for result in results for i in result["done"])
        assert done == list(range(WORKERS * per_process)), "nothing lost"
        if on_unavailable == "wait":
            assert account.rejected_429 == 0
            assert account.max_in_window() <= LIMIT.requests
        else:
            # Local shares of 20 // 4 = 5 per process: bounded by the share, not exact across
            # the switch (see the module docstring); any 429 was cooled down and retried.
            assert account.max_in_window() <= 2 * LIMIT.requests


if __name__ == "__main__":
    print(json.dumps(asyncio.run(_worker(json.loads(sys.argv[1])))))
