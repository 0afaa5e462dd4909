"""Shard size, measured: one fleet worker process exporting N accounts at a scaled real limit.

Starts PostgreSQL and redis-server (the test suite's helpers), FakeKarbon in a child process
(pages generated before the clock starts; 20-40 ms of latency per response), and one
``fleet worker --concurrency 1``. For each N it sends one shard of N accounts (contacts and work
items, pages of 100 records) limited to 4 requests per 2 s each: Karbon's pace of 120 a minute
(2 requests/s), in windows short enough for a benchmark. Reported per N: the worker's CPU
seconds (main and pool process, from /proc) over wall seconds, i.e. the share of one core it
needs; each account's pace as a share of its limit (pages after the first window over the time
from its first page to its last, over 2/s: mean and slowest); the shard's pace (the least time
its accounts' pages can take, over the export's time); pages/s; 429s; the CPU of the fake
server, PostgreSQL and Redis, and how busy the whole machine was (other work shares its cores).

The shard size to use is the largest N whose worker stays below ``--max-core`` of a core while
its accounts keep at least ``--min-rate`` of their limit: printed last.

    python benchmarks/fleet_shard_bench.py                       # N = 10 25 50 100 200
    python benchmarks/fleet_shard_bench.py --accounts 10 25      # a quick look
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import sys
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(ROOT / "tests"), str(ROOT)]

from postgres_server import PostgresServer, require_postgres  # noqa: E402
from redis_server import RedisServer, require_redis_server  # noqa: E402

import karbon_async as ka  # noqa: E402
from benchmarks._fake_server import start_server, stop_server  # noqa: E402
from benchmarks.fleet_bench import start_workers, stop_workers, tree_cpu, wait_ready  # noqa: E402
from karbon_async.export import Account  # noqa: E402
from karbon_async.fleet import make_shards  # noqa: E402
from karbon_async.fleet._app import TASK, make_app  # noqa: E402

LIMIT = ka.RateLimit(4, 2.0)
RESOURCES = ["contacts", "work-items"]


def minimum_seconds(args: argparse.Namespace) -> float:
    """How long an account's pages take at best: the first window's at once, then a window's
    worth every ``per`` seconds."""
    return (args.windows - 1) * LIMIT.per


def machine_busy() -> tuple[float, float]:
    """(busy, all) CPU seconds of the whole machine so far, from /proc/stat."""
    fields = [int(f) for f in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
    idle = fields[3] + fields[4]  # idle, iowait
    ticks = os.sysconf("SC_CLK_TCK")
    return (sum(fields) - idle) / ticks, sum(fields) / ticks


async def measure(
    n: int, accounts: list[Account], app: Any, pids: dict[str, int], args: argparse.Namespace
) -> dict[str, Any]:
    [shard] = make_shards(
        accounts[:n],
        RESOURCES,
        dsn=args.dsn,
        redis=args.redis_url,
        shard_size=n,
        page_size=args.page_size,
        schema=f"shard_{n}",
    )
    before = {name: tree_cpu(pid) for name, pid in pids.items()}
    busy, total = machine_busy()
    started = time.monotonic()
    summary = await asyncio.to_thread(app.send_task(TASK, args=[shard]).get, timeout=1800)
    wall = time.monotonic() - started
    cpu = {name: tree_cpu(pid) - before[name] for name, pid in pids.items()}
    busy, total = (a - b for a, b in zip(machine_busy(), (busy, total), strict=True))
    assert not summary["failures"], summary["failures"]
    assert summary["error"] is None, summary["error"]
    return {
        "accounts": n,
        "pages": summary["pages"],
        "seconds": round(wall, 1),
        "pages_per_s": round(summary["pages"] / wall, 1),
        "worker_core_share": round(cpu["worker"] / wall, 3),
        "worker_cpu_ms_per_page": round(1000 * cpu["worker"] / summary["pages"], 2),
        "shard_pace": round(minimum_seconds(args) / summary["seconds"], 3),
        "rate_over_limit_mean": round(summary["rate_over_limit_mean"], 3),
        "rate_over_limit_min": round(summary["rate_over_limit_min"], 3),
        "rate_limited": summary["rate_limited"],
        "server_core_share": round(cpu["server"] / wall, 3),
        "postgres_core_share": round(cpu["postgres"] / wall, 3),
        "redis_core_share": round(cpu["redis"] / wall, 3),
        "machine_busy_share": round(busy / total, 3),
    }


async def main(args: argparse.Namespace) -> None:
    largest = max(args.accounts)
    pages = args.windows * LIMIT.requests  # per account, half contacts and half work items
    size = pages // len(RESOURCES) * args.page_size
    postgres = PostgresServer(require_postgres())
    redis = RedisServer(require_redis_server())
    postgres.start()
    redis.start()
    server, served = start_server(
        accounts=largest,
        sizes={"Contacts": size, "WorkItems": size},
        limit=LIMIT,
        latency=(args.latency_min, args.latency_max),
    )
    workers = start_workers(redis.url, 1)
    rows = []
    try:
        app = make_app(redis.url)
        await wait_ready(app, 1)
        accounts = [
            Account(a["name"], a["token"], a["key"], served["base_url"], LIMIT)
            for a in served["accounts"]
        ]
        pids = {
            "worker": workers[0].pid,
            "server": server.pid,
            "postgres": int((postgres.data / "postmaster.pid").read_text().split()[0]),
            "redis": redis._process.pid,  # type: ignore[union-attr]
        }
        args.dsn, args.redis_url = postgres.dsn, redis.url
        for n in args.accounts:
            row = await measure(n, accounts, app, pids, args)
            rows.append(row)
            print(json.dumps(row), flush=True)
            await asyncio.sleep(LIMIT.per)  # the same accounts again: let their windows empty
    finally:
        stop_workers(workers)
        print(json.dumps({"server": stop_server(server)}), flush=True)
        redis.close()
        postgres.close()
    fit = [
        r["accounts"]
        for r in rows
        if r["worker_core_share"] < args.max_core and r["rate_over_limit_mean"] >= args.min_rate
    ]
    print(
        json.dumps(
            {
                "shard_size": max(fit, default=None),
                "rule": f"worker < {args.max_core} core, rate/limit >= {args.min_rate}",
                "cores": os.cpu_count(),
                "python": platform.python_version(),
                "pages_per_account": pages,
                "minimum_seconds": minimum_seconds(args),
            }
        )
    )


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--accounts", type=int, nargs="+", default=[10, 25, 50, 100, 200])
    parser.add_argument("--windows", type=int, default=8, help="limit windows per account")
    parser.add_argument("--page-size", type=int, default=100)
    parser.add_argument("--latency-min", type=float, default=0.02)
    parser.add_argument("--latency-max", type=float, default=0.04)
    parser.add_argument("--max-core", type=float, default=0.7)
    parser.add_argument("--min-rate", type=float, default=0.9)
    asyncio.run(main(parser.parse_args()))
