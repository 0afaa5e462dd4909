"""How long the fleet takes to heal itself after each kind of fault, with nobody acting.

One PostgreSQL cluster; per run a fresh redis-server, two ``fleet worker`` processes (visibility
timeout ``--visibility``, each watching the ledger) and FakeKarbon in a child process with a
scaled per-account limit. A pass is recorded and sent as ``fleet submit`` does; once both
workers are in a shard, one fault is injected:

* ``none``: the baseline;
* ``worker kill``: worker 0's main process and pool SIGKILLed, then started again (as a
  supervisor would);
* ``redis crash``: redis-server SIGKILLed and started again, empty;
* ``redis restart``: redis-server stopped (SIGTERM) and started again, empty (no persistence);
* ``postgres restart``: ``pg_ctl stop -m fast`` and start.

*Recovery* is the time the fault added: the pass's time from the fault to every shard complete
in the ledger, minus the same for the baseline run. Writes one JSON line per run.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import signal
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
from benchmarks.fleet_bench import wait_ready  # noqa: E402
from karbon_async.export import Account  # noqa: E402
from karbon_async.fleet import _passes, make_shards  # noqa: E402
from karbon_async.fleet._app import TASK, make_app  # noqa: E402

RESOURCES = ["contacts", "work-items"]
FAULTS = ["none", "worker kill", "redis crash", "redis restart", "postgres restart"]


def start_worker(redis: str, number: int, dsn: str, schema: str, visibility: float) -> Any:
    return subprocess.Popen(
        [
            sys.executable,
            "-m",
            "karbon_async",
            "fleet",
            "worker",
            "--broker",
            redis,
            "--name",
            f"r{number}@bench",
            "--loglevel",
            "WARNING",
            "--visibility-timeout",
            str(visibility),
            "--ledger",
            dsn,
            "--schema",
            schema,
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )


async def _shards(connection: Any, schema: str) -> list[dict[str, Any]] | None:
    try:
        return [
            dict(r)
            for r in await connection.fetch(
                f'SELECT state, worker FROM "{schema}".karbon_fleet_shards'
            )
        ]
    except (OSError, asyncpg.PostgresError, asyncpg.InterfaceError):
        return None


async def one_run(
    fault: str, accounts: list[Account], args: argparse.Namespace, postgres: PostgresServer
) -> dict[str, Any]:
    dsn = postgres.dsn
    schema = "bench_" + fault.replace(" ", "_")
    redis = RedisServer(require_redis_server())
    redis.start()
    workers = [start_worker(redis.url, n, dsn, schema, args.visibility) for n in range(2)]
    connection: Any = None
    try:
        app = make_app(redis.url)
        await wait_ready(app, 2)
        shards = make_shards(
            accounts,
            RESOURCES,
            dsn=dsn,
            redis=redis.url,
            shard_size=args.shard_size,
            page_size=args.page_size,
            schema=schema,
        )
        for shard, task_id in await _passes.record(dsn, schema, shards):
            app.send_task(TASK, args=[shard], task_id=task_id)
        connection = await asyncpg.connect(dsn)
        started = time.monotonic()
        while True:  # both workers in a shard
            rows = await _shards(connection, schema) or []
            running = {r["worker"].split(" ")[0] for r in rows if r["state"] == "running"}
            if len(running) == 2:
                break
            await asyncio.sleep(0.05)
        await asyncio.sleep(args.into_shard)
        faulted = time.monotonic()
        if fault == "worker kill":
            os.kill(workers[0].pid, signal.SIGKILL)
            os.killpg(workers[0].pid, signal.SIGKILL)
            workers[0].wait()
            workers[0] = start_worker(redis.url, 0, dsn, schema, args.visibility)
        elif fault == "redis crash":
            assert redis._process is not None
            redis._process.kill()
            redis._process.wait()
            redis._process = None
            redis.start()
        elif fault == "redis restart":
            redis.stop()
            redis.start()
        elif fault == "postgres restart":
            await asyncio.to_thread(postgres.stop, "fast")
            await asyncio.to_thread(postgres.start)
        while True:
            if connection.is_closed():
                try:
                    connection = await asyncpg.connect(dsn)
                except (OSError, asyncpg.PostgresError):
                    await asyncio.sleep(0.1)
                    continue
            rows = await _shards(connection, schema)
            if rows is None:
                connection.terminate()
                continue
            if rows and all(r["state"] == "complete" for r in rows):
                break
            assert time.monotonic() < faulted + args.give_up, f"{fault}: not healed: {rows}"
            await asyncio.sleep(0.1)
        done = time.monotonic()
    finally:
        if connection is not None:
            connection.terminate()
        for process in workers:
            process.terminate()
        for process in workers:
            try:
                process.wait(20)
            except subprocess.TimeoutExpired:
                process.kill()
        redis.close()
    return {
        "fault": fault,
        "after_fault_s": round(done - faulted, 2),
        "pass_s": round(done - started, 2),
        "visibility_timeout_s": args.visibility,
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
            baseline = None
            for fault in args.faults:
                result = await one_run(fault, accounts, args, postgres)
                if fault == "none":
                    baseline = result["after_fault_s"]
                elif baseline is not None:
                    result["recovery_s"] = round(result["after_fault_s"] - baseline, 2)
                print(json.dumps(result), flush=True)
        finally:
            print(json.dumps({"server": stop_server(server)}), flush=True)
    finally:
        postgres.close()


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--accounts", type=int, default=12)
    parser.add_argument("--size", type=int, default=40, help="records per collection")
    parser.add_argument("--page-size", type=int, default=4)
    parser.add_argument("--requests", type=int, default=4, help="per account per second")
    parser.add_argument("--shard-size", type=int, default=3)
    parser.add_argument("--visibility", type=float, default=5.0)
    parser.add_argument("--into-shard", type=float, default=0.5, help="seconds before the fault")
    parser.add_argument("--give-up", type=float, default=120.0)
    parser.add_argument("--faults", nargs="+", default=FAULTS, choices=FAULTS)
    asyncio.run(main(parser.parse_args()))
