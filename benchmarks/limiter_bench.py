"""Limiter benchmark: karbon_async's account budget vs aiolimiter.AsyncLimiter alone.

Both run side by side in one process against one FakeKarbon, each on its own account with the
same limit, the same latency jitter and the same number of concurrent workers paging through
Contacts. The fake counts arrivals in a sliding window and answers 429 beyond the limit.

Reported per side: requests accepted, 429s, the most arrivals seen in any window, and the
sustained rate / limit (accepted arrivals after the first window, per second, divided by
requests / per).

    python benchmarks/limiter_bench.py                      # 120 per 6 s, 60 s (10 windows)
    python benchmarks/limiter_bench.py --per 60 --duration 300   # Karbon's real 120 / 60 s
"""

from __future__ import annotations

import argparse
import asyncio
import json
import platform
import time
from typing import Any

import aiohttp
from aiolimiter import AsyncLimiter

import karbon_async as ka
from karbon_async.testing import FakeKarbon


async def sdk_side(fake: FakeKarbon, account: int, args: argparse.Namespace) -> dict[str, Any]:
    creds = fake.accounts[account]
    limit = ka.RateLimit(args.requests, args.per)
    async with ka.KarbonClient(
        bearer_token=creds.bearer_token,
        access_key=creds.access_key,
        base_url=fake.base_url,
        rate_limit=limit,
    ) as client:

        async def worker(offset: int) -> None:
            while True:
                paginator = client.contacts.list(skip=offset * 100 % max(1, args.size - 100))
                async for _ in paginator.pages():
                    pass

        tasks = [asyncio.ensure_future(worker(n)) for n in range(args.workers)]
        await asyncio.sleep(args.duration)
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        snapshot = client.budget.snapshot()
    return {"429s seen by client": snapshot.rate_limited}


async def baseline_side(fake: FakeKarbon, account: int, args: argparse.Namespace) -> dict[str, Any]:
    """What many users write first: one AsyncLimiter(requests, per) in front of aiohttp, and a
    sleep of Retry-After when a 429 comes back."""
    creds = fake.accounts[account]
    limiter = AsyncLimiter(args.requests, args.per)
    headers = {"Authorization": f"Bearer {creds.bearer_token}", "AccessKey": creds.access_key}
    seen_429 = 0
    async with aiohttp.ClientSession(headers=headers) as session:

        async def worker(offset: int) -> None:
            nonlocal seen_429
            url: str | None = f"{fake.base_url}/v3/Contacts?$top=100&$skip={offset * 100}"
            while True:
                url = url or f"{fake.base_url}/v3/Contacts?$top=100"
                async with limiter, session.get(url) as response:
                    status = response.status
                    retry_after = float(response.headers.get("Retry-After", "10"))
                    body = await response.read()
                if status == 429:
                    seen_429 += 1
                    await asyncio.sleep(retry_after)
                    continue
                url = json.loads(body).get("@odata.nextLink")

        tasks = [asyncio.ensure_future(worker(n)) for n in range(args.workers)]
        await asyncio.sleep(args.duration)
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
    return {"429s seen by client": seen_429}


def server_view(
    fake: FakeKarbon, account: int, started: float, args: argparse.Namespace
) -> dict[str, Any]:
    acct = fake.accounts[account]
    arrivals = [t - started for t in acct.arrivals]
    accepted = len(arrivals) - acct.rejected_429
    steady = [t for t in arrivals if args.per <= t <= args.duration]
    allowed_rate = args.requests / args.per
    steady_seconds = args.duration - args.per
    # 429s are arrivals too, but they are not progress: count accepted ones in the steady part.
    steady_accepted = len(steady) - min(acct.rejected_429, len(steady))
    return {
        "arrivals": len(arrivals),
        "accepted": accepted,
        "429s at server": acct.rejected_429,
        "max arrivals in any window": acct.max_in_window(),
        "sustained rate / limit": round(steady_accepted / steady_seconds / allowed_rate, 4),
    }


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=120)
    parser.add_argument("--per", type=float, default=6.0)
    parser.add_argument("--duration", type=float, default=60.0)
    parser.add_argument("--workers", type=int, default=8)
    parser.add_argument("--size", type=int, default=20_000)
    args = parser.parse_args()
    limit = ka.RateLimit(args.requests, args.per)
    async with FakeKarbon(
        accounts=2, rate_limit=limit, latency=(0.01, 0.05), size=args.size
    ) as fake:
        started = time.monotonic()
        sdk, baseline = await asyncio.gather(sdk_side(fake, 0, args), baseline_side(fake, 1, args))
        report = {
            "karbon_async": {**server_view(fake, 0, started, args), **sdk},
            "aiolimiter alone": {**server_view(fake, 1, started, args), **baseline},
        }
    print(
        f"limit {args.requests} per {args.per:g} s, {args.duration:g} s, {args.workers} workers, "
        f"latency 10-50 ms; {platform.python_version()} on {platform.machine()}"
    )
    names = list(report["karbon_async"])
    print(f"{'':28}{'karbon_async':>16}{'aiolimiter alone':>20}")
    for name in names:
        print(
            f"{name:28}{report['karbon_async'][name]!s:>16}{report['aiolimiter alone'][name]!s:>20}"
        )


if __name__ == "__main__":
    asyncio.run(main())
