"""Fleet throughput: 1, 2 and 4 Celery worker processes against one exporting process, each
fleet size with and without the pass's ledger in PostgreSQL.

Starts redis-server and a PostgreSQL cluster (the test suite's helpers), serves FakeKarbon in
a child process with a generous per-account limit (so CPU, not the rate limit, is what is
measured), and times each configuration from the first task sent until every stream's
checkpoint in PostgreSQL says done. *ledger* runs record the shards first, as ``fleet submit``
does, and the workers claim, lease, renew and finish them there; *no ledger* runs send the
tasks alone (what the fleet did before it had one). Writes one JSON line per configuration.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import asyncpg

ROOT = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(ROOT / "tests"), str(ROOT)]

from postgres_server import PostgresServer, require_postgres  # noqa: E402
from redis_server import RedisServer, require_redis_server  # noqa: E402

import karbon_async as ka  # noqa: E402
from benchmarks._fake_server import start_server, stop_server  # noqa: E402
from karbon_async.export import Account, Exporter  # noqa: E402
from karbon_async.export._postgres import PostgresSink  # noqa: E402
from karbon_async.fleet import _passes, make_shards  # noqa: E402
from karbon_async.fleet._app import TASK, make_app  # noqa: E402

RESOURCES = ["contacts", "work-items"]


async def _done(connection: Any, schema: str, streams: int) -> int | None:
    """Pages exported when all ``streams`` are done, else None (one connection for every poll:
    a new one each time would fork a PostgreSQL process, CPU the workers need)."""
    table = f'"{schema}".karbon_export_checkpoints'
    if await connection.fetchval("SELECT to_regclass($1)", table) is None:
        return None
    rows = await connection.fetch(
        f"SELECT state->'run'->>'status' AS s, (state->'run'->>'pages')::int AS p FROM {table}"
    )
    if len(rows) < streams or any(r["s"] != "done" for r in rows):
        return None
    return int(sum(r["p"] for r in rows))


def start_workers(
    redis_url: str, count: int, *, name: str = "bench"
) -> list[subprocess.Popen[bytes]]:
    """``count`` ``fleet worker --concurrency 1`` processes on ``redis_url``."""
    return [
        subprocess.Popen(
            [
                sys.executable,
                "-m",
                "karbon_async",
                "fleet",
                "worker",
                "--broker",
                redis_url,
                "--name",
                f"bench{n}@local",
                "--loglevel",
                "WARNING",
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        for n in range(count)
    ]


def stop_workers(processes: list[subprocess.Popen[bytes]]) -> None:
    for process in processes:
        process.terminate()
    for process in processes:
        process.wait(30)


async def wait_ready(app: Any, count: int) -> None:
    while len(await asyncio.to_thread(lambda: app.control.ping(timeout=0.5))) < count:  # noqa: ASYNC110
        await asyncio.sleep(0.2)


def tree_cpu(pid: int) -> float:
    """CPU seconds of process ``pid`` and its descendants, living and reaped, from /proc."""
    ticks = os.sysconf("SC_CLK_TCK")
    children: dict[int, list[int]] = {}
    stats: dict[int, list[str]] = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
            except OSError:
                continue
            stats[int(entry.name)] = fields
            children.setdefault(int(fields[1]), []).append(int(entry.name))
    total, todo = 0, [pid]
    while todo:
        current = todo.pop()
        stat = stats.get(current)
        if stat is not None:  # utime, stime, cutime, cstime (fields 14-17 of stat)
            total += sum(int(f) for f in stat[11:15])
            todo += children.get(current, [])
    return total / ticks


async def fleet_run(
    accounts: list[Account], args: argparse.Namespace, workers: int, dsn: str, ledger: bool
) -> dict[str, Any]:
    redis = RedisServer(require_redis_server())
    redis.start()
    processes = start_workers(redis.url, workers)
    try:
        app = make_app(redis.url)
        await wait_ready(app, workers)
        schema = f"bench_w{workers}_{'ledger' if ledger else 'plain'}"
        shards = make_shards(
            accounts,
            RESOURCES,
            dsn=dsn,
            redis=redis.url,
            shard_size=args.shard_size,
            page_size=args.page_size,
            schema=schema,
        )
        poller = await asyncpg.connect(dsn)
        cpu = sum(tree_cpu(p.pid) for p in processes)
        started = time.monotonic()
        if ledger:  # as fleet submit does: recorded, then sent
            for shard, task_id in await _passes.record(dsn, schema, shards):
                app.send_task(TASK, args=[shard], task_id=task_id)
        else:
            for shard in shards:
                app.send_task(TASK, args=[shard])
        streams = len(accounts) * len(RESOURCES)
        while (pages := await _done(poller, schema, streams)) is None:  # noqa: ASYNC110
            await asyncio.sleep(0.05)
        seconds = time.monotonic() - started
        cpu = sum(tree_cpu(p.pid) for p in processes) - cpu
        await poller.close()
    finally:
        stop_workers(processes)
        redis.close()
    name = f"fleet, {workers} worker(s), {'ledger' if ledger else 'no ledger'}"
    figures = _figures(name, len(accounts), pages, seconds)
    return {**figures, "worker_cpu_s": round(cpu, 2)}


async def one_process(
    accounts: list[Account], args: argparse.Namespace, dsn: str
) -> dict[str, Any]:
    sink = PostgresSink(dsn, schema="bench_single")
    cpu = time.process_time()
    started = time.monotonic()
    report = await Exporter(accounts, RESOURCES, sink=sink, page_size=args.page_size).run()
    seconds = time.monotonic() - started
    cpu = time.process_time() - cpu
    assert report.ok, report.failures
    pages = sum(a.pages for a in report.accounts)
    figures = _figures("one process (Exporter + PostgresSink)", len(accounts), pages, seconds)
    return {**figures, "worker_cpu_s": round(cpu, 2)}


def _figures(name: str, accounts: int, pages: int, seconds: float) -> dict[str, Any]:
    return {
        "run": name,
        "accounts": accounts,
        "pages": pages,
        "seconds": round(seconds, 2),
        "accounts_per_s": round(accounts / seconds, 2),
        "pages_per_s": round(pages / seconds, 1),
    }


async def main(args: argparse.Namespace) -> None:
    postgres = PostgresServer(require_postgres())
    postgres.start()
    try:
        limit = ka.RateLimit(args.requests, 1.0)
        sizes = {"Contacts": args.size, "WorkItems": args.size}
        server, served = start_server(accounts=args.accounts, sizes=sizes, limit=limit)
        try:
            accounts = [
                Account(a["name"], a["token"], a["key"], served["base_url"], limit)
                for a in served["accounts"]
            ]
            print(json.dumps(await one_process(accounts, args, postgres.dsn)), flush=True)
            for workers in args.workers:
                for ledger in (False, True):  # side by side: the ledger's cost
                    result = await fleet_run(accounts, args, workers, postgres.dsn, ledger)
                    print(json.dumps(result), flush=True)
        finally:
            print(json.dumps({"server": stop_server(server)}), flush=True)
    finally:
        postgres.close()


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--accounts", type=int, default=60)
    parser.add_argument("--size", type=int, default=200, help="records per collection")
    parser.add_argument("--page-size", type=int, default=20)
    parser.add_argument("--requests", type=int, default=1000, help="per account per second")
    parser.add_argument("--shard-size", type=int, default=5)
    parser.add_argument("--workers", type=int, nargs="+", default=[1, 2, 4])
    asyncio.run(main(parser.parse_args()))
