"""RedisBudget benchmark: several processes on one account against FakeKarbon, and the cost of
one acquire.

    .venv/bin/python benchmarks/redis_budget_bench.py [--processes 4 8] [--windows 5]

Needs ``redis-server`` on the PATH (started here on a random loopback port, persistence off).
Prints one line per scenario; the figures in benchmarks/REDIS.md come from it.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from typing import Any

from karbon_async import AccountBudget, KarbonClient, Lane, RateLimit
from karbon_async._budget import Budget
from karbon_async._redis_budget import RedisBudget
from karbon_async.testing import FakeKarbon


def start_redis() -> tuple[subprocess.Popen[bytes], str, tempfile.TemporaryDirectory[str]]:
    executable = shutil.which("redis-server")
    if executable is None:
        sys.exit("redis-server not found (apt-get install redis-server)")
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    workdir = tempfile.TemporaryDirectory(prefix="karbon-bench-redis-")
    command = [executable, "--port", str(port), "--bind", "127.0.0.1", "--save", ""]
    command += ["--appendonly", "no", "--dir", workdir.name]
    process = subprocess.Popen(
        command,
        stdout=subprocess.DEVNULL,
    )
    for _ in range(500):
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.1).close()
            break
        except OSError:
            time.sleep(0.01)
    return process, f"redis://127.0.0.1:{port}/0", workdir


async def worker(options: dict[str, Any]) -> dict[str, Any]:
    """One process: ``concurrency`` tasks sending GETs until the wall-clock deadline."""
    limit = RateLimit(options["requests"], options["per"])
    budget = RedisBudget(
        limit, access_key=options["access_key"], base_url=options["base_url"], url=options["url"]
    )
    sent = 0
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
        url = sender.url_for("/v3/Contacts", {"$top": "1"})
        tag = {"X-Bench-Worker": str(options["number"])}

        async def loop() -> None:
            nonlocal sent
            while time.time() < options["deadline"]:
                await sender.send("GET", url, lane=Lane.BULK, extra_headers=tag)
                sent += 1

        await asyncio.gather(*(loop() for _ in range(options["concurrency"])))
        snapshot = budget.snapshot()
    return {
        "sent": sent,
        "granted": snapshot.granted,
        "round_trips": budget.round_trips,
        "rate_limited": snapshot.rate_limited,
    }


async def shared_account(url: str, processes: int, windows: int, limit: RateLimit) -> str:
    async with FakeKarbon(accounts=1, rate_limit=limit, latency=(0.01, 0.05), size=500) as fake:
        account = fake.accounts[0]
        deadline = time.time() + 2.0 + (windows + 1) * limit.per
        procs = []
        for number in range(processes):
            options = {
                "requests": limit.requests,
                "per": limit.per,
                "base_url": fake.base_url,
                "bearer_token": account.bearer_token,
                "access_key": account.access_key,
                "url": url,
                "deadline": deadline,
                "concurrency": 2 * limit.requests // processes + 2,
                "number": number,
            }
            procs.append(
                await asyncio.create_subprocess_exec(
                    sys.executable,
                    __file__,
                    "--worker",
                    json.dumps(options),
                    stdout=asyncio.subprocess.PIPE,
                )
            )
        results = [json.loads((await proc.communicate())[0]) for proc in procs]
        arrivals = sorted(account.arrivals)
        start = arrivals[0]
        measured = [t for t in arrivals if start <= t < start + windows * limit.per]
        ratio = len(measured) / (windows * limit.requests)
        # Whole cycles: the (k * requests)-th arrival starts cycle k; a perfect budget has
        # cycles of exactly `per` seconds, so this is rate / limit over k cycles.
        cycles = (len(arrivals) - 1) // limit.requests
        elapsed = arrivals[cycles * limit.requests] - start
        sustained = cycles * limit.per / elapsed
        sent = [r["sent"] for r in results]
        trips = sum(r["round_trips"] for r in results) / max(1, sum(r["granted"] for r in results))
        return (
            f"{processes} processes, {limit.requests}/{limit.per:g}s, latency 10-50 ms: "
            f"aggregate rate / limit = {ratio:.3f} over {windows} windows "
            f"({len(measured)} of {windows * limit.requests}), sustained "
            f"{sustained:.3f} ({cycles} cycles of {limit.requests} in {elapsed:.2f} s); "
            f"429s = {account.rejected_429}; "
            f"max in any window = {account.max_in_window()}; "
            f"requests per process min/max = {min(sent)}/{max(sent)}; "
            f"script calls per grant = {trips:.2f}"
        )


async def acquire_cost(url: str, count: int) -> list[str]:
    limit = RateLimit(10**6, 60.0)
    lines = []
    budgets: list[tuple[str, Budget]] = [
        ("AccountBudget (in-process)", AccountBudget(limit)),
        ("RedisBudget (loopback Redis)", RedisBudget(limit, access_key="bench", url=url)),
    ]
    for name, budget in budgets:
        loop = asyncio.get_running_loop()
        for _ in range(50):  # warm up: connections, script loading
            await (await budget.acquire()).release()
        acquire = release = 0.0
        for _ in range(count):
            started = loop.time()
            permit = await budget.acquire()
            middle = loop.time()
            await permit.release()
            acquire += middle - started
            release += loop.time() - middle
        started = loop.time()

        async def one(b: Budget = budget) -> None:
            await (await b.acquire()).release()

        await asyncio.gather(*(one() for _ in range(count)))
        concurrent = (loop.time() - started) / count
        lines.append(
            f"{name}: acquire {acquire / count * 1000:.3f} ms, release "
            f"{release / count * 1000:.3f} ms (sequential, slot free); "
            f"{count} concurrent acquire+release: {concurrent * 1000:.3f} ms each"
        )
        if isinstance(budget, RedisBudget):
            await budget.aclose()
    return lines


async def main(args: argparse.Namespace) -> None:
    process, url, workdir = start_redis()
    try:
        for line in await acquire_cost(url, args.count):
            print(line, flush=True)
        limit = RateLimit(args.requests, args.per)
        for processes in args.processes:
            print(await shared_account(url, processes, args.windows, limit), flush=True)
    finally:
        process.terminate()
        process.wait()
        workdir.cleanup()


if __name__ == "__main__":
    if len(sys.argv) == 3 and sys.argv[1] == "--worker":
        print(json.dumps(asyncio.run(worker(json.loads(sys.argv[2])))))
        sys.exit(0)
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--processes", type=int, nargs="+", default=[4, 8])
    parser.add_argument("--windows", type=int, default=5)
    parser.add_argument("--requests", type=int, default=60)
    parser.add_argument("--per", type=float, default=2.0)
    parser.add_argument("--count", type=int, default=2000)
    asyncio.run(main(parser.parse_args()))
