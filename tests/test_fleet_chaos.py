"""An operator's bad day, with nobody there: the fleet heals itself.

Two ``fleet worker`` processes export a pass that ``fleet submit --wait`` (a real subprocess)
submitted. In the middle of a shard, worker 0 is killed whole (main process and pool) while
redis-server restarts empty (the queue, the unacknowledged messages and the results are gone);
then PostgreSQL restarts while worker 1 is idle between shards (its kept connections are all
closed). The test does nothing else. Within three visibility timeouts of the first fault:
every record of every account once in PostgreSQL, no account over its limit in any window
(counted by FakeKarbon), no 429, worker 1 alive and answering, and ``--wait`` exits 0.
"""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest
from postgres_server import PostgresServer, postgres_server, schema
from redis_server import RedisServer, redis_server

from karbon_async.export import Account
from karbon_async.testing import FakeKarbon

__all__ = ["postgres_server", "redis_server", "schema"]  # the fixtures

celery = pytest.importorskip("celery")

from test_fleet import (  # noqa: E402
    LIMIT,
    RESOURCE_NAMES,
    _assert_every_record_once,
    _checkpoints,
    _query,
)

from karbon_async.export._postgres import quote_ident  # noqa: E402
from karbon_async.fleet._app import make_app  # noqa: E402
from karbon_async.fleet._shards import is_transient  # noqa: E402

VISIBILITY = 6.0  # seconds; the lease of a running shard and the reaper's grace
ACCOUNTS = 12
SHARD_SIZE = 3  # 4 shards: at the first fault 2 run and 2 wait in the queue Redis loses
SIZE = 20  # records per collection: 5 pages of 4, a shard takes about 1.5 s at LIMIT


def _worker(
    redis_url: str, number: int, dsn: str, schema: str, log: Path
) -> subprocess.Popen[bytes]:
    with open(log, "wb") as out:
        return subprocess.Popen(
            [
                sys.executable,
                "-m",
                "karbon_async",
                "fleet",
                "worker",
                "--broker",
                redis_url,
                "--name",
                f"w{number}@chaos",
                "--visibility-timeout",
                str(VISIBILITY),
                "--ledger",
                dsn,
                "--schema",
                schema,
            ],
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,  # its own process group: the whole worker can be killed
        )


async def _shards(dsn: str, schema: str) -> list[dict[str, Any]]:
    return await _query(
        dsn,
        "SELECT shard, state, worker, lease_until > now() AS leased "
        f"FROM {quote_ident(schema)}.karbon_fleet_shards ORDER BY shard",
    )


def _ping(url: str, worker: str) -> list[Any]:
    """The worker's answer to a ping. kombu may hand out a connection the Redis restart closed
    (its first use fails): a second try takes a new one."""
    import redis.exceptions

    for attempt in range(3):
        app = make_app(url)
        try:
            replies: list[Any] = app.control.ping(destination=[worker], timeout=5.0)
            return replies
        except redis.exceptions.ConnectionError:
            if attempt == 2:
                raise
        finally:
            app.close()
    return []


async def _until(what: str, deadline: float, check: Any) -> Any:
    while True:
        try:
            found = await check()
        except Exception as exc:
            if not is_transient(exc):  # PostgreSQL restarting: look again
                raise
            found = None
        if found:
            return found
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        await asyncio.sleep(0.05)


async def test_a_killed_worker_an_emptied_redis_and_a_postgres_restart_need_nobody(
    postgres_server: PostgresServer, redis_server: RedisServer, schema: str, tmp_path: Path
) -> None:
    dsn = postgres_server.dsn
    logs = [tmp_path / f"worker{n}.log" for n in range(2)]
    workers = [_worker(redis_server.url, n, dsn, schema, logs[n]) for n in range(2)]
    submit: subprocess.Popen[bytes] | None = None
    try:
        app = make_app(redis_server.url)

        async def both_ready() -> bool:  # so that worker 0 gets its share of the shards
            replies = await asyncio.to_thread(lambda: app.control.ping(timeout=0.5))
            return len(replies) == 2

        await _until("both workers to answer", time.monotonic() + 60, both_ready)
        app.close()  # its connections would not survive the Redis restart
        async with FakeKarbon(accounts=ACCOUNTS, rate_limit=LIMIT, size=SIZE) as fake:
            accounts = tmp_path / "accounts.toml"
            accounts.write_text(
                "".join(
                    f'["acct-{a.index}"]\nbearer_token = "{a.bearer_token}"\n'
                    f'access_key = "{a.access_key}"\nbase_url = "{fake.base_url}"\n'
                    f"requests = {LIMIT.requests}\nper = {LIMIT.per}\n"
                    for a in fake.accounts
                )
            )
            submit = subprocess.Popen(  # noqa: ASYNC220 - runs while the test acts
                [
                    sys.executable,
                    "-m",
                    "karbon_async",
                    "fleet",
                    "submit",
                    str(accounts),
                    "--to",
                    dsn,
                    "--schema",
                    schema,
                    "--broker",
                    redis_server.url,
                    "--resources",
                    ",".join(RESOURCE_NAMES),
                    "--page-size",
                    "4",
                    "--shard-size",
                    str(SHARD_SIZE),
                    "--wait",  # with its default timeout
                ],
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
            )
            started = time.monotonic()

            async def w0_mid_shard() -> bool:
                shards = await _shards(dsn, schema)
                mine = {s["shard"] for s in shards if (s["worker"] or "").startswith("w0@")}
                running = [s for s in shards if s["state"] == "running" and s["shard"] in mine]
                return bool(running) and any(c["pages"] for c in await _checkpoints(dsn, schema))

            await _until("worker 0 in a shard", started + 60, w0_mid_shard)
            os.kill(workers[0].pid, signal.SIGKILL)  # first, so it cannot requeue its shard
            os.killpg(workers[0].pid, signal.SIGKILL)
            redis_server.stop()
            redis_server.start()  # empty
            faulted = time.monotonic()

            async def w1_idle() -> bool:
                shards = await _shards(dsn, schema)
                ran = any((s["worker"] or "").startswith("w1@") for s in shards)
                busy = any(
                    s["state"] == "running" and s["leased"] and s["worker"].startswith("w1@")
                    for s in shards
                )
                return ran and not busy

            await _until("worker 1 idle between shards", faulted + 3 * VISIBILITY, w1_idle)
            await asyncio.to_thread(postgres_server.stop, "fast")
            await asyncio.to_thread(postgres_server.start)
            restarted = time.monotonic()

            async def exited() -> bool:
                return submit.poll() is not None

            await _until("fleet submit --wait to exit", faulted + 3 * VISIBILITY, exited)
            recovered = time.monotonic() - faulted
            out, err = submit.communicate()
            assert submit.returncode == 0, (out + err).decode(errors="replace")[-3000:]
            await _assert_every_record_once(fake, dsn, schema)
        shards = await _shards(dsn, schema)
        assert {s["state"] for s in shards} == {"complete"}
        assert len(shards) == ACCOUNTS // SHARD_SIZE
        assert workers[0].poll() == -signal.SIGKILL
        resent = logs[1].read_text(errors="replace").count("sent again")
        assert resent >= 2, "the reaper did not send the lost shards again"
        assert workers[1].poll() is None, "worker 1 exited"
        replies = await asyncio.to_thread(_ping, redis_server.url, "w1@chaos")
        assert replies, "worker 1 does not answer"
        print(
            f"recovered {recovered:.1f} s after the worker kill and Redis restart "
            f"({time.monotonic() - restarted:.1f} s after the PostgreSQL restart ended; "
            f"{resent} shard(s) sent again; "
            f"visibility timeout {VISIBILITY:g} s)"
        )
    finally:
        if submit is not None and submit.poll() is None:
            submit.kill()
            submit.wait(5)
        for process in workers:
            if process.poll() is None:
                process.terminate()
        for process in workers:
            try:
                process.wait(15)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait(5)


async def test_a_shard_failing_for_a_transient_reason_is_retried_by_celery_not_failed(
    postgres_server: PostgresServer,
    redis_server: RedisServer,
    schema: str,
    tmp_path: Path,
) -> None:
    """The shard's budgets' Redis is down when it starts: the ledger says waiting (with the
    error), Celery retries it with backoff, and once that Redis is up it completes."""
    from redis_server import require_redis_server

    from karbon_async.fleet import _passes, make_shards
    from karbon_async.fleet._app import TASK

    dsn = postgres_server.dsn
    budgets = RedisServer(require_redis_server())  # not started yet
    worker = _worker(redis_server.url, 0, dsn, schema, tmp_path / "worker.log")
    try:
        async with FakeKarbon(accounts=2, rate_limit=LIMIT, size=8) as fake:
            shards = make_shards(
                [
                    Account(f"acct-{a.index}", a.bearer_token, a.access_key, fake.base_url, LIMIT)
                    for a in fake.accounts
                ],
                RESOURCE_NAMES,
                dsn=dsn,
                redis=budgets.url,
                shard_size=2,
                page_size=4,
                schema=schema,
            )
            app = make_app(redis_server.url)
            for shard, task_id in await _passes.record(dsn, schema, shards):
                app.send_task(TASK, args=[shard], task_id=task_id)

            async def waiting_with_error() -> bool:
                rows = await _query(
                    dsn,
                    f"SELECT state, error, attempts FROM {quote_ident(schema)}.karbon_fleet_shards",
                )
                return rows[0]["state"] == "waiting" and rows[0]["attempts"] >= 1

            await _until("the first attempt to fail", time.monotonic() + 60, waiting_with_error)
            budgets.start()
            result, finished = await _passes.wait(dsn, schema, shards[0]["pass_id"], 60, poll=0.2)
            assert finished
            assert result[0]["state"] == "complete"
            assert result[0]["attempts"] >= 2
            await _assert_every_record_once(fake, dsn, schema)
        log = (tmp_path / "worker.log").read_text(errors="replace")
        assert "retry in" in log
        assert "Retry in" in log  # Celery's own line: the task was retried, not failed
    finally:
        worker.terminate()
        try:
            worker.wait(15)
        except subprocess.TimeoutExpired:
            worker.kill()
            worker.wait(5)
        budgets.close()
