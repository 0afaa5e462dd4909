"""The fleet: real Celery worker processes, a real Redis broker, a real PostgreSQL.

FakeKarbon serves in the test's event loop; three ``karbon-async fleet worker`` processes export
30 accounts in shards; one worker's pool process is killed with SIGKILL in the middle of a shard.
"""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from postgres_server import PostgresServer, postgres_server
from redis_server import RedisServer, redis_server

import karbon_async as ka
from karbon_async.export import RESOURCES, Account
from karbon_async.testing import FakeKarbon

__all__ = ["postgres_server", "redis_server"]  # the fixtures

celery = pytest.importorskip("celery")

from karbon_async.fleet import make_shards  # noqa: E402
from karbon_async.fleet._app import TASK, make_app  # noqa: E402

LIMIT = ka.RateLimit(4, 1.0)
RESOURCE_NAMES = ["contacts", "users"]
COLLECTION = {"contacts": "Contacts", "users": "Users"}
WORKERS = 3


def test_shards_split_accounts_and_share_one_pass() -> None:
    accounts = [Account(f"a{i}", "token", f"key{i}") for i in range(7)]
    shards = make_shards(accounts, ["users"], dsn="postgresql://x", redis="redis://y", shard_size=3)
    assert [[a["name"] for a in s["accounts"]] for s in shards] == [
        ["a0", "a1", "a2"],
        ["a3", "a4", "a5"],
        ["a6"],
    ]
    assert len({s["pass_id"] for s in shards}) == 1
    with pytest.raises(ValueError, match="shard_size"):
        make_shards(accounts, ["users"], dsn="d", redis="r", shard_size=0)


def _children(pid: int) -> list[int]:
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
            except OSError:
                continue
            if int(fields[1]) == pid:
                found.append(int(entry.name))
    return found


@pytest.fixture
def workers(redis_server: RedisServer, tmp_path: Path) -> Iterator[list[subprocess.Popen[bytes]]]:
    processes = []
    for number in range(WORKERS):
        log = open(tmp_path / f"worker{number}.log", "wb")  # noqa: SIM115 - closed below
        processes.append(
            subprocess.Popen(
                [
                    sys.executable,
                    "-m",
                    "karbon_async._cli",
                    "fleet",
                    "worker",
                    "--broker",
                    redis_server.url,
                    "--concurrency",
                    "1",
                    "--name",
                    f"w{number}@test",
                    "--loglevel",
                    "INFO",
                ],
                stdout=log,
                stderr=subprocess.STDOUT,
            )
        )
        log.close()
    try:
        yield processes
    finally:
        for process in processes:
            process.terminate()
        for process in processes:
            try:
                process.wait(15)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait(5)


async def _checkpoints(dsn: str) -> list[dict[str, Any]]:
    import asyncpg

    connection = await asyncpg.connect(dsn)
    try:
        exists = await connection.fetchval("SELECT to_regclass('karbon_export_checkpoints')")
        if exists is None:
            return []
        rows = await connection.fetch(
            "SELECT account, resource, state->'run'->>'status' AS status, "
            "(state->'run'->>'pages')::int AS pages FROM karbon_export_checkpoints"
        )
        return [dict(r) for r in rows]
    finally:
        await connection.close()


async def _rows(dsn: str, resource: str) -> list[dict[str, Any]]:
    import asyncpg

    connection = await asyncpg.connect(dsn)
    try:
        table = "karbon_" + resource.replace("-", "_")
        rows = await connection.fetch(f"SELECT account, key, writes FROM {table}")
        return [dict(r) for r in rows]
    finally:
        await connection.close()


async def test_three_workers_one_killed_export_every_record_once_within_limits(
    postgres_server: PostgresServer,
    redis_server: RedisServer,
    workers: list[subprocess.Popen[bytes]],
    tmp_path: Path,
) -> None:
    async with FakeKarbon(accounts=30, rate_limit=LIMIT, size=24) as fake:
        accounts = [
            Account(f"acct-{a.index}", a.bearer_token, a.access_key, fake.base_url, LIMIT)
            for a in fake.accounts
        ]
        shards = make_shards(
            accounts,
            RESOURCE_NAMES,
            dsn=postgres_server.dsn,
            redis=redis_server.url,
            shard_size=3,
            page_size=4,
        )
        app = make_app(redis_server.url)
        for shard in shards:
            app.send_task(TASK, args=[shard])
        streams = len(accounts) * len(RESOURCE_NAMES)

        # Wait for worker 0 to be in the middle of a shard, then SIGKILL its pool process.
        victim_pid = None
        deadline = time.monotonic() + 40
        while victim_pid is None:
            assert time.monotonic() < deadline, "worker 0 never ran a shard"
            states = await _checkpoints(postgres_server.dsn)
            if any(s["pages"] for s in states):
                active = await asyncio.to_thread(
                    lambda: app.control.inspect(destination=["w0@test"], timeout=1.0).active()
                )
                tasks = (active or {}).get("w0@test") or []
                children = _children(workers[0].pid)
                if tasks and tasks[0]["worker_pid"] in children:
                    victim_pid = tasks[0]["worker_pid"]
            await asyncio.sleep(0.1)
        os.kill(victim_pid, signal.SIGKILL)

        deadline = time.monotonic() + 60
        while True:
            states = await _checkpoints(postgres_server.dsn)
            if len(states) == streams and all(s["status"] == "done" for s in states):
                break
            assert time.monotonic() < deadline, f"unfinished: {states}"
            await asyncio.sleep(0.2)

        for resource in RESOURCE_NAMES:
            stored = await _rows(postgres_server.dsn, resource)
            for account in fake.accounts:
                mine = [r for r in stored if r["account"] == f"acct-{account.index}"]
                expected = sorted(fake.collection(account.index, COLLECTION[resource]).keys())
                assert sorted(r["key"] for r in mine) == expected
                assert {r["writes"] for r in mine} == {1}, "a record was written twice"
            assert RESOURCES[resource].key_field
        assert all(a.max_in_window() <= LIMIT.requests for a in fake.accounts)
        assert sum(a.rejected_429 for a in fake.accounts) == 0
    log = (tmp_path / "worker0.log").read_text(errors="replace")
    assert "signal 9" in log or "SIGKILL" in log, log[-2000:]
