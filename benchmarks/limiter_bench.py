"""Limiter benchmark: karbon_async's account budget vs aiolimiter.AsyncLimiter alone.

Both run side by side in one process against one FakeKarbon, each on its own account with the
same limit, the same latency jitter and the same number of concurrent workers paging through
Contacts. The fake counts arrivals in a sliding window and answers 429 beyond the limit.

Reported per side: requests answered 2xx, 429s, the most arrivals the server saw in any window,
and the sustained rate / limit: successful requests beyond the first window's allowance, divided
by the time between the first and last success, over ``requests / per``. (From an empty start a
sliding window allows a full window at once; what matters for a long export is the rate after it.)

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


class RecordingTransport(ka.AiohttpTransport):
    """The SDK's own transport, noting when each successful response arrived."""

    def __init__(self) -> None:
        super().__init__()
        self.ok_times: list[float] = []

    async def send(self, request: ka.Request, **kwargs: Any) -> ka.Response:
        response = await super().send(request, **kwargs)
        if 200 <= response.status < 300:
            self.ok_times.append(time.monotonic())
        return response


def sustained(ok_times: list[float], args: argparse.Namespace) -> float:
    if len(ok_times) <= args.requests:
        return float("nan")
    span = ok_times[-1] - ok_times[0]
    return (len(ok_times) - args.requests) / span / (args.requests / args.per)


async def sdk_side(fake: FakeKarbon, account: int, args: argparse.Namespace) -> dict[str, Any]:
    creds = fake.accounts[account]
    limit = ka.RateLimit(args.requests, args.per)
    transport = RecordingTransport()
    async with ka.KarbonClient(
        bearer_token=creds.bearer_token,
        access_key=creds.access_key,
        base_url=fake.base_url,
        rate_limit=limit,
        transport=transport,
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
    await transport.aclose()
    return {
        "2xx responses": len(transport.ok_times),
        "sustained rate / limit": round(sustained(transport.ok_times, args), 4),
        "429s seen by client": snapshot.rate_limited,
    }


async def baseline_side(fake: FakeKarbon, account: int, args: argparse.Namespace) -> dict[str, Any]:
    """What many users write first: one AsyncLimiter(requests, per) in front of aiohttp, and a
    sleep of Retry-After when a 429 comes back."""
    creds = fake.accounts[account]
    limiter = AsyncLimiter(args.requests, args.per)
    headers = {"Authorization": f"Bearer {creds.bearer_token}", "AccessKey": creds.access_key}
    seen_429 = 0
    ok_times: list[float] = []
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
                ok_times.append(time.monotonic())
                url = json.loads(body).get("@odata.nextLink")

        tasks = [asyncio.ensure_future(worker(n)) for n in range(args.workers)]
        await asyncio.sleep(args.duration)
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
    return {
        "2xx responses": len(ok_times),
        "sustained rate / limit": round(sustained(ok_times, args), 4),
        "429s seen by client": seen_429,
    }


def server_view(fake: FakeKarbon, account: int) -> dict[str, Any]:
    acct = fake.accounts[account]
    return {
        "arrivals at server": len(acct.arrivals),
        "429s at server": acct.rejected_429,
        "max arrivals in any window": acct.max_in_window(),
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
        sdk, baseline = await asyncio.gather(sdk_side(fake, 0, args), baseline_side(fake, 1, args))
        report = {
            "karbon_async": {**server_view(fake, 0), **sdk},
            "aiolimiter alone": {**server_view(fake, 1), **baseline},
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
