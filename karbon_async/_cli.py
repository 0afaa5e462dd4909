"""The ``karbon-async`` command line."""

from __future__ import annotations

import argparse
import asyncio
import sys
import time
from collections.abc import Sequence

import attrs

from ._client import KarbonClient
from ._limits import RateLimit


@attrs.define
class _AccountResult:
    name: str
    records: int = 0
    requests: int = 0
    rejected_429: int = 0
    peak_window: int = 0
    seconds: float = 0.0


async def _export_account(
    base_url: str, token: str, key: str, limit: RateLimit, result: _AccountResult
) -> None:
    started = time.monotonic()
    async with KarbonClient(
        bearer_token=token, access_key=key, base_url=base_url, rate_limit=limit
    ) as client:

        async def drain(paginator: object) -> None:
            async for _ in paginator:  # type: ignore[attr-defined]
                result.records += 1

        await asyncio.gather(
            drain(client.contacts.list()),
            drain(client.organizations.list()),
            drain(client.work_items.list()),
            drain(client.users.list()),
        )
    result.seconds = time.monotonic() - started


async def run_demo(accounts: int, size: int, limit: RateLimit) -> int:
    """Export several accounts of an in-process FakeKarbon at once; report what the server saw."""
    from .testing import FakeKarbon

    print(
        f"Starting FakeKarbon with {accounts} accounts, {size} records per collection, "
        f"limit {limit.requests} requests per {limit.per:g} s per account, latency 10-50 ms."
    )
    async with FakeKarbon(
        accounts=accounts, rate_limit=limit, latency=(0.01, 0.05), size=size
    ) as fake:
        results = [_AccountResult(name=account.name) for account in fake.accounts]
        started = time.monotonic()
        await asyncio.gather(
            *(
                _export_account(fake.base_url, a.bearer_token, a.access_key, limit, result)
                for a, result in zip(fake.accounts, results, strict=True)
            )
        )
        elapsed = time.monotonic() - started
        for account, result in zip(fake.accounts, results, strict=True):
            result.requests = len(account.arrivals)
            result.rejected_429 = account.rejected_429
            result.peak_window = account.max_in_window()
    header = (
        f"{'account':34} {'records':>8} {'requests':>8} {'429s':>5} "
        f"{'peak window':>12} {'rate/limit':>10}"
    )
    print(header)
    print("-" * len(header))
    allowed_rate = limit.requests / limit.per
    for result in results:
        rate = result.requests / max(result.seconds, limit.per) / allowed_rate
        print(
            f"{result.name[:34]:34} {result.records:8} {result.requests:8} {result.rejected_429:5} "
            f"{result.peak_window:>5}/{limit.requests:<6} {rate:10.2f}"
        )
    total_429 = sum(r.rejected_429 for r in results)
    print(
        f"\n{sum(r.records for r in results)} records, {sum(r.requests for r in results)} "
        f"requests, {total_429} 429s, in {elapsed:.1f} s. The peak window is the most requests "
        f"the server saw arrive in any {limit.per:g} s for one account (never above the limit)."
    )
    return 1 if total_429 else 0


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="karbon-async", description="Karbon API v3 tools.")
    commands = parser.add_subparsers(dest="command", required=True)
    demo = commands.add_parser("demo", help="export several fake accounts concurrently")
    demo.add_argument("--accounts", type=int, default=5)
    demo.add_argument("--size", type=int, default=5000, help="records per collection")
    demo.add_argument("--requests", type=int, default=120)
    demo.add_argument("--per", type=float, default=60.0)
    args = parser.parse_args(argv)
    if args.command == "demo":
        return asyncio.run(run_demo(args.accounts, args.size, RateLimit(args.requests, args.per)))
    parser.error(f"unknown command {args.command}")
    return 2


if __name__ == "__main__":
    sys.exit(main())
