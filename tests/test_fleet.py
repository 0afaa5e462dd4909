"""The fleet: real Celery worker processes, a real Redis broker, a real PostgreSQL.

FakeKarbon serves in the test's event loop; three ``karbon-async fleet worker`` processes export
30 accounts in shards; in the middle of a shard, one worker's pool process, or the whole worker
(main process and pool), is killed with SIGKILL. The workers run with a visibility timeout
shorter than a shard lasts, so only their renewal keeps running shards from being handed out
again, and a whole dead worker's shard comes back within seconds.
"""

from __future__ import annotations

import asyncio
import itertools
import json
import os
import re
import signal
import subprocess
import time
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from _celery_workers import start_worker, stop_workers
from postgres_server import PostgresServer, postgres_server, schema
from redis_server import RedisServer, redis_server

import karbon_async as ka
from karbon_async.cli import build_parser, main
from karbon_async.cli._common import EXIT_USAGE
from karbon_async.export import Account, StreamState
from karbon_async.export._postgres import PostgresSink, quote_ident
from karbon_async.testing import FakeKarbon

__all__ = ["postgres_server", "redis_server", "schema"]  # the fixtures

celery = pytest.importorskip("celery")

from karbon_async.fleet import make_shards, run_shard  # noqa: E402
from karbon_async.fleet._app import TASK, make_app  # noqa: E402
from karbon_async.fleet._cli import visibility_timeout_of  # noqa: E402
from karbon_async.fleet._shards import Connections  # noqa: E402

LIMIT = ka.RateLimit(4, 1.0)
RESOURCE_NAMES = ["contacts", "users"]
COLLECTION = {"contacts": "Contacts", "users": "Users"}
WORKERS = 3
SIZE = 36  # records per collection: 9 pages of 4, so an account's streams take ~4 s at LIMIT
STARTS = 40
VISIBILITY = 2.5  # seconds: less than a shard takes, so running shards live by renewal alone


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


def test_worker_visibility_timeout_from_flag_or_environment(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    worker = ["fleet", "worker", "--broker", "redis://127.0.0.1:1/0"]

    def timeout(*extra: str) -> float:
        return visibility_timeout_of(build_parser().parse_args([*worker, *extra]))

    monkeypatch.delenv("KARBON_FLEET_VISIBILITY_TIMEOUT", raising=False)
    assert timeout() == 60.0
    monkeypatch.setenv("KARBON_FLEET_VISIBILITY_TIMEOUT", "7.5")
    assert timeout() == 7.5
    assert timeout("--visibility-timeout", "9") == 9.0
    assert main([*worker, "--visibility-timeout", "0"]) == EXIT_USAGE
    assert "--visibility-timeout: visibility_timeout must be positive" in capsys.readouterr().err
    monkeypatch.setenv("KARBON_FLEET_VISIBILITY_TIMEOUT", "soon")
    assert main(worker) == EXIT_USAGE
    assert "KARBON_FLEET_VISIBILITY_TIMEOUT must be a number" in capsys.readouterr().err
    with pytest.raises(ValueError, match="visibility_timeout"):
        make_app("redis://127.0.0.1:1/0", visibility_timeout=-1)


@pytest.fixture
def workers(redis_server: RedisServer, tmp_path: Path) -> Iterator[list[subprocess.Popen[bytes]]]:
    processes = []
    for number in range(WORKERS):
        args = ["fleet", "worker", "--broker", redis_server.url, "--concurrency", "1"]
        args += ["--name", f"w{number}@test", "--visibility-timeout", str(VISIBILITY)]
        processes.append(start_worker(args, tmp_path / f"worker{number}.log"))
    try:
        yield processes
    finally:
        stop_workers(processes)


async def _query(dsn: str, sql: str) -> list[dict[str, Any]]:
    import asyncpg

    connection = await asyncpg.connect(dsn)
    try:
        return [dict(r) for r in await connection.fetch(sql)]
    except asyncpg.UndefinedTableError:
        return []
    finally:
        await connection.close()


async def _checkpoints(dsn: str, schema: str) -> list[dict[str, Any]]:
    return await _query(
        dsn,
        "SELECT account, resource, state->'run'->>'status' AS status, "
        "(state->'run'->>'pages')::int AS pages "
        f"FROM {quote_ident(schema)}.karbon_export_checkpoints",
    )


async def _wait_until_done(dsn: str, schema: str, streams: int, seconds: float) -> None:
    deadline = time.monotonic() + seconds
    while True:
        states = await _checkpoints(dsn, schema)
        if len(states) == streams and all(s["status"] == "done" for s in states):
            return
        assert time.monotonic() < deadline, f"unfinished after {seconds} s: {states}"
        await asyncio.sleep(0.2)


def _keys(fake: FakeKarbon, account: int, resource: str) -> list[str]:
    return sorted(fake.collection(account, COLLECTION[resource]).keys())


async def _assert_every_record_once(fake: FakeKarbon, dsn: str, schema: str) -> None:
    for resource in RESOURCE_NAMES:
        table = f"{quote_ident(schema)}.{quote_ident('karbon_' + resource)}"
        stored = await _query(dsn, f"SELECT account, key, writes FROM {table}")
        for account in fake.accounts:
            mine = [r for r in stored if r["account"] == f"acct-{account.index}"]
            assert sorted(r["key"] for r in mine) == _keys(fake, account.index, resource)
            assert {r["writes"] for r in mine} == {1}, "a record was written twice"
    assert all(a.max_in_window() <= LIMIT.requests for a in fake.accounts)
    assert sum(a.rejected_429 for a in fake.accounts) == 0


def _accounts(fake: FakeKarbon) -> list[Account]:
    return [
        Account(f"acct-{a.index}", a.bearer_token, a.access_key, fake.base_url, LIMIT)
        for a in fake.accounts
    ]


async def test_the_same_shard_running_twice_at_once_writes_every_record_once(
    postgres_server: PostgresServer, redis_server: RedisServer, schema: str
) -> None:
    """What a redelivery whose first copy still runs does: the second copy waits for the
    accounts' locks, then finds their streams done in this pass and exports nothing."""
    async with FakeKarbon(accounts=3, rate_limit=LIMIT, size=SIZE) as fake:
        [spec] = make_shards(
            _accounts(fake),
            RESOURCE_NAMES,
            dsn=postgres_server.dsn,
            redis=redis_server.url,
            shard_size=3,
            page_size=4,
            schema=schema,
        )
        first = asyncio.ensure_future(run_shard(spec))
        while not any(s["pages"] for s in await _checkpoints(postgres_server.dsn, schema)):
            assert not first.done(), first
            await asyncio.sleep(0.05)
        second = asyncio.ensure_future(run_shard(spec))
        await asyncio.sleep(0.5)
        assert not second.done()  # waiting for the locks the first copy holds
        one, two = await asyncio.gather(first, second)
        assert (one["error"], one["failures"]) == (None, [])
        assert (two["error"], two["failures"]) == (None, [])
        assert one["records"] == sum(
            len(_keys(fake, a.index, r)) for a in fake.accounts for r in RESOURCE_NAMES
        )
        assert (two["pages"], two["requests"], two["rows_written"]) == (0, 0, 0)
        assert one["cpu_seconds"] > 0
        assert 0.5 < one["rate_over_limit_min"] <= one["rate_over_limit_mean"] < 1.5
        assert (two["rate_over_limit_min"], two["rate_over_limit_mean"]) == (None, None)
        await _assert_every_record_once(fake, postgres_server.dsn, schema)


async def test_shards_run_by_one_process_share_its_connections_and_leave_no_locks(
    postgres_server: PostgresServer, redis_server: RedisServer, schema: str
) -> None:
    """What a pool process does between shards: one PostgreSQL pool and one Redis client for
    them all, and no account lock left behind on a pooled connection."""
    dsn = postgres_server.dsn
    locks = "SELECT count(*) AS n FROM pg_locks WHERE locktype = 'advisory'"
    async with FakeKarbon(accounts=4, rate_limit=LIMIT, size=8) as fake:
        first, second = make_shards(
            _accounts(fake),
            RESOURCE_NAMES,
            dsn=dsn,
            redis=redis_server.url,
            shard_size=2,
            page_size=4,
            schema=schema,
        )
        connections = Connections()
        try:
            one = await run_shard(first, connections)
            pool = await connections.pool(dsn)
            client = await connections.redis(redis_server.url, 2)
            assert await _query(dsn, locks) == [{"n": 0}]
            two = await run_shard(second, connections)
            assert await connections.pool(dsn) is pool
            assert await connections.redis(redis_server.url, 2) is client
            assert await connections.redis(redis_server.url, 100) is not client  # more room
            again = await run_shard({**first, "lock_wait": 0}, connections)
        finally:
            await connections.aclose()
        assert (one["error"], two["error"], again["error"]) == (None, None, None)
        assert one["pages"] > 0
        assert two["pages"] > 0
        assert again["pages"] == 0  # the pass's streams are done
        await _assert_every_record_once(fake, dsn, schema)


async def test_streams_committing_at_once_wait_for_one_flush_together(
    postgres_server: PostgresServer, schema: str
) -> None:
    """Streams starting while others write pages: each start's commit waits for a flush that
    took its mark, not for a flush of its own after every one queued before it (which made the
    last of 200 streams start seconds late)."""
    store = PostgresSink(postgres_server.dsn, schema=schema).checkpoint_store(["acct-0"])
    await store.open()

    async def pages() -> None:  # other streams' pages, marked all the time
        for number in itertools.count():
            store.mark("acct-0", f"busy-{number % 5}", StreamState(), None)
            await asyncio.sleep(0)

    feeder = asyncio.ensure_future(pages())
    try:
        async with store._commit_lock:  # as if a long flush were under way
            starts = [
                asyncio.ensure_future(store.commit("acct-0", f"start-{n}", StreamState(), None))
                for n in range(STARTS)
            ]
            await asyncio.sleep(0.05)
            before = store.commits
        await asyncio.gather(*starts)
        flushes = store.commits - before
    finally:
        feeder.cancel()
        await store.close()
    table = f"{quote_ident(schema)}.karbon_export_checkpoints"
    stored = {
        r["resource"] for r in await _query(postgres_server.dsn, f"SELECT resource FROM {table}")
    }
    assert {f"start-{n}" for n in range(STARTS)} <= stored
    assert flushes <= 2, flushes


async def test_sink_connections_have_the_server_probe_a_silent_client(
    postgres_server: PostgresServer, schema: str
) -> None:
    """So a lost machine's account locks are freed in about a minute (TCP, as workers connect)."""
    store = PostgresSink(postgres_server.dsn, schema=schema).checkpoint_store(["acct-0"])
    await store.open()
    try:
        async with store._pool.acquire() as connection:
            settings = [
                await connection.fetchval(f"SHOW tcp_keepalives_{name}")
                for name in ("idle", "interval", "count")
            ]
    finally:
        await store.close()
    assert settings == ["30", "10", "3"]


def _received(logs: list[str]) -> Counter[str]:
    """How often each task id was delivered to a worker, over all workers' logs."""
    return Counter(
        task_id
        for log in logs
        for task_id in re.findall(rf"Task {re.escape(TASK)}\[([0-9a-f-]+)\] received", log)
    )


@pytest.mark.parametrize("kill", ["pool process", "whole worker"])
async def test_three_workers_one_killed_export_every_record_once_within_limits(
    kill: str,
    postgres_server: PostgresServer,
    redis_server: RedisServer,
    workers: list[subprocess.Popen[bytes]],
    schema: str,
    tmp_path: Path,
) -> None:
    dsn = postgres_server.dsn
    async with FakeKarbon(accounts=30, rate_limit=LIMIT, size=SIZE) as fake:
        shards = make_shards(
            _accounts(fake),
            RESOURCE_NAMES,
            dsn=dsn,
            redis=redis_server.url,
            shard_size=5,
            page_size=4,
            schema=schema,
        )
        app = make_app(redis_server.url)
        sent = [app.send_task(TASK, args=[shard]).id for shard in shards]
        started = time.monotonic()

        # Wait for worker 0 to be in the middle of a shard, then SIGKILL its pool process, or
        # its main process and then everything in its process group.
        victim: dict[str, Any] | None = None
        while victim is None:
            assert time.monotonic() < started + 40, "worker 0 never ran a shard"
            if any(s["pages"] for s in await _checkpoints(dsn, schema)):
                active = await asyncio.to_thread(
                    lambda: app.control.inspect(destination=["w0@test"], timeout=1.0).active()
                )
                tasks = (active or {}).get("w0@test") or []
                if tasks and tasks[0]["worker_pid"] in _children(workers[0].pid):
                    victim = tasks[0]
            await asyncio.sleep(0.1)
        if kill == "pool process":
            os.kill(victim["worker_pid"], signal.SIGKILL)
        else:
            os.kill(workers[0].pid, signal.SIGKILL)  # first, so it cannot requeue the shard
            os.killpg(workers[0].pid, signal.SIGKILL)
        killed = time.monotonic()

        await _wait_until_done(dsn, schema, len(shards) * 5 * len(RESOURCE_NAMES), 30)
        recovered = time.monotonic() - killed
        await _assert_every_record_once(fake, dsn, schema)

    logs = [(tmp_path / f"worker{n}.log").read_text(errors="replace") for n in range(WORKERS)]
    received = _received(logs)
    # The killed shard was delivered again; no other shard was (renewal kept them).
    assert received == Counter({**dict.fromkeys(sent, 1), victim["id"]: 2}), received
    if kill == "pool process":
        assert "signal 9" in logs[0] or "SIGKILL" in logs[0], logs[0][-2000:]
    else:
        assert workers[0].poll() == -signal.SIGKILL
        assert _received(logs[1:])[victim["id"]] == 1, "another worker ran the dead one's shard"
    print(f"{kill} killed: all done {recovered:.1f} s later, {killed - started:.1f} s after start")


def test_transient_failures_are_told_from_permanent_ones() -> None:
    import asyncpg
    import redis.exceptions

    from karbon_async.export._writers import ExportStateError
    from karbon_async.fleet._shards import is_transient

    def wrapped(cause: BaseException) -> ExportStateError:
        try:
            raise ExportStateError(f"PostgreSQL: {cause}") from cause
        except ExportStateError as exc:
            return exc

    assert is_transient(wrapped(asyncpg.ConnectionDoesNotExistError("connection was closed")))
    assert is_transient(wrapped(asyncpg.AdminShutdownError("terminating connection")))
    assert is_transient(wrapped(asyncpg.CannotConnectNowError("the database system is starting")))
    assert is_transient(wrapped(ConnectionRefusedError(111, "refused")))
    assert is_transient(redis.exceptions.ConnectionError("Connection closed by server."))
    answer = {"method": "GET", "url": "https://api.karbonhq.com/v3/Users", "body": b""}
    assert is_transient(ka.ServerError(status=503, **answer))  # type: ignore[arg-type]
    assert not is_transient(ka.AuthenticationError(status=401, **answer))  # type: ignore[arg-type]
    assert not is_transient(wrapped(asyncpg.InvalidPasswordError("password authentication")))
    assert not is_transient(ExportStateError("a record of acct-0 has no Id"))


async def test_connections_kept_between_shards_survive_a_postgres_and_redis_restart(
    postgres_server: PostgresServer, redis_server: RedisServer, schema: str
) -> None:
    """A worker idle between shards while PostgreSQL and Redis restart: its kept pool and
    client notice before the next shard, which runs as if nothing had happened."""
    dsn = postgres_server.dsn
    async with FakeKarbon(accounts=2, rate_limit=LIMIT, size=8) as fake:
        first, second = make_shards(
            _accounts(fake),
            RESOURCE_NAMES,
            dsn=dsn,
            redis=redis_server.url,
            shard_size=1,
            page_size=4,
            schema=schema,
        )
        connections = Connections()
        try:
            one = await run_shard(first, connections)
            pool = await connections.pool(dsn)
            client = await connections.redis(redis_server.url, 1)
            # Blocking calls: the event loop does not run while the servers restart, as in a
            # pool process between shards, so nothing has noticed the connections closed.
            postgres_server.stop("fast")
            postgres_server.start()
            redis_server.stop()
            redis_server.start()
            two = await run_shard(second, connections)
            assert await connections.pool(dsn) is pool
            assert await connections.redis(redis_server.url, 1) is client
        finally:
            await connections.aclose()
        assert (one["error"], one["failures"], one["transient"]) == (None, [], False)
        assert (two["error"], two["failures"], two["transient"]) == (None, [], False)
        assert two["pages"] > 0
        await _assert_every_record_once(fake, dsn, schema)


async def _ledger_rows(dsn: str, schema: str) -> list[dict[str, Any]]:
    return await _query(
        dsn,
        "SELECT shard, state, worker, error, failures::text AS failures, "
        "lease_until > now() AS leased FROM "
        f"{quote_ident(schema)}.karbon_fleet_shards ORDER BY shard",
    )


async def test_the_ledger_records_each_shard_complete_failed_or_waiting_and_status_shows_it(
    postgres_server: PostgresServer,
    redis_server: RedisServer,
    schema: str,
    capsys: pytest.CaptureFixture[str],
) -> None:
    """Shards run as a worker runs them: one completes, one fails for good (401: recorded once,
    with the reason), one fails for a reason that passes (Redis unreachable: waiting again,
    leased to its retry). ``fleet status`` tells each account's state from PostgreSQL."""
    from karbon_async.fleet import _passes
    from karbon_async.fleet._shards import TransientShardError, run_in_ledger

    dsn = postgres_server.dsn
    async with FakeKarbon(accounts=3, rate_limit=LIMIT, size=8) as fake:
        accounts = _accounts(fake)
        accounts[1] = Account("acct-1", "wrong-token", accounts[1].access_key, fake.base_url, LIMIT)
        shards = make_shards(
            accounts,
            RESOURCE_NAMES,
            dsn=dsn,
            redis=redis_server.url,
            shard_size=1,
            page_size=4,
            schema=schema,
        )
        shards[2]["redis"] = "redis://127.0.0.1:1/0"  # nothing listens there
        sent = await _passes.record(dsn, schema, shards)
        assert [s["shard"] for s, _ in sent] == [0, 1, 2]
        pass_id = shards[0]["pass_id"]
        connections = Connections()
        ledger = {"worker": "w@test pid 1", "lease": 30.0, "retry_in": 20.0}
        try:
            done = await run_in_ledger(shards[0], connections, **ledger)
            failed = await run_in_ledger(shards[1], connections, **ledger)
            with pytest.raises(TransientShardError, match="ConnectionError"):
                await run_in_ledger(shards[2], connections, **ledger)
            again = await run_in_ledger(shards[0], connections, **ledger)  # a redelivery
        finally:
            await connections.aclose()
        assert done["pages"] > 0
        assert "401" in failed["failures"][0]
        assert again == {"accounts": ["acct-0"], "skipped": "complete"}
        rows = await _ledger_rows(dsn, schema)
        assert [(r["shard"], r["state"], r["leased"]) for r in rows] == [
            (0, "complete", None),
            (1, "failed", None),
            (2, "waiting", True),  # left to the Celery retry for now
        ]
        assert "401" in json.loads(rows[1]["failures"])["acct-1"]
        assert "Connection" in rows[2]["error"]

        # Nothing runs shard 2: waiting (for whoever takes it) is what --wait reports.
        shards_now, finished = await _passes.wait(dsn, schema, pass_id, 0.3, poll=0.1)
        assert not finished
        assert [s["state"] for s in shards_now] == ["complete", "failed", "waiting"]

    status = ["fleet", "status", "--to", dsn, "--schema", schema]
    assert await asyncio.to_thread(main, [*status, pass_id, "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    states = {a["account"]: (a["state"], a["reason"]) for a in report["accounts"]}
    assert states["acct-0"] == ("complete", None)
    assert states["acct-1"][0] == "failed"
    assert "401" in states["acct-1"][1]
    assert states["acct-2"][0] == "waiting"
    assert "Connection" in states["acct-2"][1]
    assert report["counts"] == {"complete": 1, "running": 0, "waiting": 1, "failed": 1}
    assert report["open"] is True
    assert report["pages"] == done["pages"]
    assert await asyncio.to_thread(main, status) == 0  # the pass submitted last
    text = capsys.readouterr().out
    assert f"pass {pass_id} (open): 1/3 accounts complete" in text
    assert "wrong-token" not in text
    assert "bearer" not in text
    assert await asyncio.to_thread(main, [*status, "nope"]) == EXIT_USAGE


def _unreachable_accounts(directory: Path, count: int) -> Path:
    """An accounts file of ``count`` accounts ``a0``... on a port where nothing listens."""
    path = directory / f"accounts{count}.toml"
    path.write_text(
        "".join(
            f'[a{n}]\nbearer_token = "t"\naccess_key = "k{n}"\nbase_url = "http://127.0.0.1:1"\n'
            for n in range(count)
        )
    )
    return path


async def test_submit_wait_reports_every_shard_and_exits_1_when_they_do_not_finish(
    postgres_server: PostgresServer,
    redis_server: RedisServer,
    schema: str,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    """No worker runs: --wait does not hang, names every unfinished shard, exits 1; the shards
    are in the ledger, and a reaper sends them again only once the broker has lost them."""
    from karbon_async.fleet._app import make_app

    accounts = _unreachable_accounts(tmp_path, 3)
    argv = ["fleet", "submit", str(accounts), "--to", postgres_server.dsn, "--schema", schema]
    argv += ["--broker", redis_server.url, "--shard-size", "2", "--wait", "--timeout", "0.5"]
    code = await asyncio.to_thread(main, argv)
    out, err = capsys.readouterr()
    assert code == 1
    assert [json.loads(line)["state"] for line in out.splitlines()[1:]] == ["waiting"] * 2
    assert "TIMED OUT shard 0 (a0, a1): waiting" in err
    assert "TIMED OUT shard 1 (a2): waiting" in err
    assert "0 of 2 shard(s) complete (timed out)" in err
    assert main([*argv[:-5], "--shard-size", "0"]) == EXIT_USAGE

    app = make_app(redis_server.url, visibility_timeout=0.1)
    reaper = app.karbon_reaper
    assert await reaper.reap(postgres_server.dsn, schema) == 0  # both are in the queue
    redis_server.stop()
    redis_server.start()  # empty: the broker lost them
    await asyncio.sleep(0.2)  # longer than the grace (the visibility timeout)
    assert await reaper.reap(postgres_server.dsn, schema) == 2
    await asyncio.sleep(0.2)
    assert await reaper.reap(postgres_server.dsn, schema) == 0  # queued again: left alone
    await reaper._close()


async def test_a_pass_submitted_again_with_other_shards_is_refused_before_anything_is_sent(
    postgres_server: PostgresServer,
    redis_server: RedisServer,
    schema: str,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    """A shard completed in the first submission is skipped in the next: with another shard
    size, other accounts, resources or since it would be skipped holding work it never did."""

    def submit(count: int, shard_size: int, *more: str) -> int:
        accounts = str(_unreachable_accounts(tmp_path, count))
        argv = ["fleet", "submit", accounts, "--to", postgres_server.dsn]
        argv += ["--schema", schema, "--broker", redis_server.url, "--pass-id", "p1"]
        return main([*argv, "--shard-size", str(shard_size), *more])

    async def recorded() -> list[tuple[int, list[str]]]:
        rows = await _query(
            postgres_server.dsn,
            f"SELECT shard, accounts FROM {quote_ident(schema)}.karbon_fleet_shards "
            "WHERE pass_id = 'p1' ORDER BY shard",
        )
        return [(r["shard"], list(r["accounts"])) for r in rows]

    assert await asyncio.to_thread(submit, 4, 2) == 0
    assert await asyncio.to_thread(submit, 4, 2) == 0  # the same shards: resumed
    first = [(0, ["a0", "a1"]), (1, ["a2", "a3"])]
    assert await recorded() == first
    capsys.readouterr()
    assert await asyncio.to_thread(submit, 4, 1) == EXIT_USAGE
    assert await asyncio.to_thread(submit, 3, 2) == EXIT_USAGE  # shard 1 would lose a3
    assert await asyncio.to_thread(submit, 4, 2, "--resources", "users") == EXIT_USAGE
    assert await asyncio.to_thread(submit, 4, 2, "--since", "2026-01-01") == EXIT_USAGE
    err = capsys.readouterr().err
    assert "pass p1 was recorded with other shards (shard 0 held 2 account(s) from 'a0'" in err
    assert "(shard 1 held 2 account(s) from 'a2', now 1 from 'a2')" in err
    assert "(shard 0 exported contacts, organizations, " in err
    assert ", now users): submit it again with the same accounts file, --shard-size, " in err
    assert "(shard 0 read changes since None, now 2026-01-01" in err
    assert await recorded() == first  # nothing recorded
    assert await asyncio.to_thread(submit, 5, 2) == 0  # a shard added after them is new
    assert await recorded() == [*first, (2, ["a4"])]


def test_an_accounts_state_comes_from_its_checkpoints_and_its_shards_lease() -> None:
    from karbon_async.fleet._passes import account_states

    def shard(number: int, state: str, **fields: Any) -> dict[str, Any]:
        base = {"shard": number, "accounts": [f"a{number}"], "resources": ["users", "contacts"]}
        base.update({"state": state, "worker": None, "leased": None, "error": None})
        return {**base, "failures": {}, **fields}

    shards = [
        shard(0, "running", worker="w0@x pid 1", leased=True),
        shard(1, "running", worker="w1@x pid 2", leased=False, error=None),  # its worker died
        shard(2, "waiting", error="ConnectionError: refused"),
        shard(3, "failed", failures={"a3": "a3/users: 401"}),
        shard(4, "running", worker="w0@x pid 1", leased=True),  # streams all done: complete
    ]
    progress = {"a0": {"streams_done": 1, "pages": 5}, "a4": {"streams_done": 2, "pages": 9}}
    states = [
        (a["account"], a["state"], a["worker"], a["reason"], a["pages"])
        for a in account_states(shards, progress)
    ]
    assert states == [
        ("a0", "running", "w0@x pid 1", None, 5),
        ("a1", "waiting", None, None, 0),
        ("a2", "waiting", None, "ConnectionError: refused", 0),
        ("a3", "failed", None, "a3/users: 401", 0),
        ("a4", "complete", None, None, 9),
    ]
