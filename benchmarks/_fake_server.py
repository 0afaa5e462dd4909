"""A FakeKarbon in a child process for benchmarks, so the measured process is the client alone.

``start_server(...)`` spawns ``python -m benchmarks._fake_server`` (this file) with the given
settings and returns the process, the base URL and the accounts; closing the child's stdin
stops it, after it printed its CPU seconds spent serving (the warm-up not included).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import resource
import subprocess
import sys
from typing import Any

import karbon_async as ka
from karbon_async.testing import FakeKarbon


def cpu_seconds() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


async def serve(args: argparse.Namespace) -> None:
    sizes = json.loads(args.sizes)
    latency = (args.latency_min, args.latency_max) if args.latency_max > 0 else None
    async with FakeKarbon(
        accounts=args.accounts,
        rate_limit=ka.RateLimit(args.requests, args.per),
        latency=latency,
        size=0,
        sizes=sizes,
    ) as fake:
        if args.warm:
            for account in fake.accounts:
                for name in sizes:
                    store = account.collection(name)
                    for index in store.iter_indexes():
                        store.summary_at(index)
        accounts = [
            {"name": a.name, "token": a.bearer_token, "key": a.access_key} for a in fake.accounts
        ]
        print(json.dumps({"base_url": fake.base_url, "accounts": accounts}), flush=True)
        warm = cpu_seconds()
        await asyncio.to_thread(sys.stdin.read)
        print(
            json.dumps(
                {
                    "cpu": cpu_seconds() - warm,
                    "rejected_429": sum(a.rejected_429 for a in fake.accounts),
                    "max_in_window": max(a.max_in_window() for a in fake.accounts),
                    "requests": sum(len(a.arrivals) for a in fake.accounts),
                }
            ),
            flush=True,
        )


def start_server(
    *,
    accounts: int,
    sizes: dict[str, int],
    limit: ka.RateLimit,
    latency: tuple[float, float] | None = None,
    warm: bool = True,
) -> tuple[subprocess.Popen[str], dict[str, Any]]:
    low, high = latency or (0.0, 0.0)
    command = [
        sys.executable, __file__, "--accounts", str(accounts), "--sizes", json.dumps(sizes),
        "--requests", str(limit.requests), "--per", str(limit.per),
        "--latency-min", str(low), "--latency-max", str(high),
    ]  # fmt: skip
    if warm:
        command.append("--warm")
    server = subprocess.Popen(command, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    assert server.stdout is not None
    return server, json.loads(server.stdout.readline())


def stop_server(server: subprocess.Popen[str]) -> dict[str, Any]:
    assert server.stdin is not None
    assert server.stdout is not None
    server.stdin.close()
    stats: dict[str, Any] = json.loads(server.stdout.readline())
    server.wait()
    return stats


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--accounts", type=int, default=1)
    parser.add_argument("--sizes", default='{"Contacts": 1000}')
    parser.add_argument("--requests", type=int, default=120)
    parser.add_argument("--per", type=float, default=60.0)
    parser.add_argument("--latency-min", type=float, default=0.0)
    parser.add_argument("--latency-max", type=float, default=0.0)
    parser.add_argument("--warm", action="store_true")
    asyncio.run(serve(parser.parse_args()))


if __name__ == "__main__":
    main()
