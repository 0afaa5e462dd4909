"""Shards: what one fleet task exports, as plain JSON, and how it is run."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
import uuid
from collections.abc import Sequence
from typing import Any

from .._cli_inputs import parse_since
from .._exceptions import KarbonError, RateLimitError, ServerError, TransportError
from .._limits import RateLimit
from .._redis_budget import RedisBudget
from ..export import Account, Exporter, ExportEvent
from ..export._postgres import PostgresSink, acquire_alive, connect_pool
from . import _ledger

log = logging.getLogger("karbon_async.fleet")

ShardSpec = dict[str, Any]
"""JSON: ``accounts`` (see ``account_spec``), ``resources``, ``dsn``, ``redis``, ``pass_id``,
``shard`` (its index in the pass, its key in the ledger), ``page_size``, ``schema``, ``since``
(None, ``"last"`` or an ISO date/time) and optionally
``lock_wait`` (seconds, default ``LOCK_WAIT``)."""

VISIBILITY_TIMEOUT = 60.0
"""Seconds without renewal before Redis hands a whole lost worker's shard to another worker
(``fleet worker --visibility-timeout``, ``$KARBON_FLEET_VISIBILITY_TIMEOUT``; see ``_app``)."""

LOCK_WAIT = 600.0
"""Seconds a shard waits for its accounts' locks in PostgreSQL before it fails. Another copy of
the same shard is what holds them (a redelivery whose first copy still runs): waiting lets that
copy finish, after which this one finds its streams done. A dead holder's locks go when
PostgreSQL notices its connection closed: at once for a killed process, within about a minute
for a lost machine (``PostgresSink`` sets TCP keepalives)."""


def account_spec(account: Account) -> dict[str, Any]:
    """An account as JSON for a task message (credentials included: secure the broker)."""
    return {
        "name": account.name,
        "bearer_token": account.bearer_token,
        "access_key": account.access_key,
        "base_url": account.base_url,
        "requests": account.rate_limit.requests,
        "per": account.rate_limit.per,
    }


def accounts_of(spec: ShardSpec) -> list[Account]:
    return [
        Account(
            a["name"],
            a["bearer_token"],
            a["access_key"],
            a["base_url"],
            RateLimit(a["requests"], a["per"]),
        )
        for a in spec["accounts"]
    ]


def make_shards(
    accounts: Sequence[Account],
    resources: Sequence[str],
    *,
    dsn: str,
    redis: str,
    shard_size: int,
    page_size: int = 100,
    schema: str = "public",
    since: str | None = None,
    pass_id: str | None = None,
) -> list[ShardSpec]:
    """One spec per ``shard_size`` accounts, all of one pass."""
    if shard_size < 1:
        raise ValueError("shard_size must be at least 1")
    pass_id = pass_id or uuid.uuid4().hex
    return [
        {
            "shard": number,
            "accounts": [account_spec(a) for a in accounts[start : start + shard_size]],
            "resources": list(resources),
            "dsn": dsn,
            "redis": redis,
            "pass_id": pass_id,
            "page_size": page_size,
            "schema": schema,
            "since": since,
        }
        for number, start in enumerate(range(0, len(accounts), shard_size))
    ]


def is_transient(error: BaseException) -> bool:
    """Whether ``error`` (or what it was raised from) is the kind that passes by itself: a
    connection lost or refused, a server restarting (PostgreSQL's "terminating connection due
    to administrator command", "the database system is starting up"), Redis loading, Karbon's
    5xx, timeouts and 429s after the client's own retries. Everything else (bad credentials, a
    401, a malformed record) fails the same way when tried again."""
    kinds: tuple[type[BaseException], ...] = (OSError, TransportError, ServerError, RateLimitError)
    with contextlib.suppress(ImportError):
        import asyncpg

        kinds += (
            asyncpg.PostgresConnectionError,
            asyncpg.InterfaceError,
            asyncpg.exceptions.OperatorInterventionError,
        )
    with contextlib.suppress(ImportError):
        import redis.exceptions

        kinds += (redis.exceptions.ConnectionError, redis.exceptions.TimeoutError)
    seen: set[int] = set()
    current: BaseException | None = error
    while current is not None and id(current) not in seen:
        if isinstance(current, kinds):
            return True
        seen.add(id(current))
        current = current.__cause__ or current.__context__
    return False


class TransientShardError(KarbonError):
    """The shard stopped for a reason that passes by itself: try it again later."""


class Connections:
    """The Redis client and PostgreSQL pools a worker process keeps between the shards it runs
    (all on one event loop). Connecting is not free: each new Redis connection costs redis-py a
    package-metadata lookup and two handshake commands, each new PostgreSQL connection a server
    process. Per shard and per account's budget that was most of the fleet's overhead over one
    process (benchmarks/FLEET.md)."""

    def __init__(self) -> None:
        self._redis: dict[str, tuple[Any, int]] = {}
        self._pools: dict[str, Any] = {}

    async def redis(self, url: str, accounts: int) -> Any:
        """A client for ``accounts`` budgets: each holds a connection for its pub/sub wake-ups
        and briefly one per command, so the pool has room for all of them (it blocks rather
        than fail when full, as a budget's own pool does)."""
        import redis.asyncio as redis_asyncio

        needed = 16 + 2 * accounts
        client, size = self._redis.get(url, (None, 0))
        if client is None or size < needed:
            if client is not None:
                await client.aclose()
            # The settings of a RedisBudget's own pool, but for all the shard's budgets.
            pool = redis_asyncio.BlockingConnectionPool.from_url(
                url,
                max_connections=needed,
                timeout=None,
                socket_connect_timeout=2.0,
                socket_timeout=5.0,
                health_check_interval=5,
            )
            client = redis_asyncio.Redis.from_pool(pool)
            self._redis[url] = (client, needed)
        # Before the budgets use it: they would wait for a Redis that is down (as they should
        # mid-shard); a shard that cannot start is better retried later.
        await _check_redis(client)
        return client

    async def pool(self, dsn: str) -> Any:
        """The pool on ``dsn``, its connections checked: after a PostgreSQL restart they are
        all replaced (``acquire_alive``); the server still down raises (a transient error)."""
        pool = self._pools.get(dsn)
        if pool is None:
            pool = self._pools[dsn] = await connect_pool(dsn)
        await pool.release(await acquire_alive(pool))
        return pool

    async def aclose(self) -> None:
        clients, self._redis = self._redis, {}
        pools, self._pools = self._pools, {}
        for client, _ in clients.values():
            await client.aclose()
        for pool in pools.values():
            await pool.close()


async def _check_redis(client: Any) -> None:
    """Kept connections of a Redis that restarted are closed ones: on the first failed PING
    they are all dropped, and the next command connects afresh (a Redis still down raises)."""
    import redis.exceptions

    try:
        await client.ping()
    except (redis.exceptions.ConnectionError, redis.exceptions.TimeoutError, OSError):
        await client.connection_pool.disconnect()
        await client.ping()


async def run_shard(spec: ShardSpec, connections: Connections | None = None) -> dict[str, Any]:
    """Export one shard (what a fleet task does); a summary as JSON. ``connections`` (kept by
    the caller) are reused; without them the shard opens its own and closes them."""
    if connections is None:
        own = Connections()
        try:
            return await run_shard(spec, own)
        finally:
            await own.aclose()
    budgets: list[RedisBudget] = []
    errors: list[BaseException] = []
    redis = await connections.redis(spec["redis"], len(spec["accounts"]))

    def budget_for(account: Account) -> RedisBudget:
        budget = RedisBudget(
            account.rate_limit,
            access_key=account.access_key,
            base_url=account.base_url,
            client=redis,
        )
        budgets.append(budget)
        return budget

    sink = PostgresSink(
        spec["dsn"],
        schema=spec.get("schema", "public"),
        pass_id=spec["pass_id"],
        lock_wait=spec.get("lock_wait", LOCK_WAIT),
        pool=await connections.pool(spec["dsn"]),
    )
    exporter = Exporter(
        accounts_of(spec),
        spec["resources"],
        sink=sink,
        resume=True,  # a redelivered shard goes on where its checkpoints are
        since=parse_since(spec.get("since")),  # type: ignore[arg-type]
        page_size=spec.get("page_size", 100),
        budgets=budget_for,
        on_event=lambda event: _keep_error(event, errors),
    )
    cpu = time.process_time()  # the process's; a pool process runs one shard at a time
    try:
        report = await exporter.run()
    finally:
        for budget in budgets:
            await budget.aclose()
    rates = [r for r in (a.sustained_rate() for a in report.accounts) if r is not None]
    return {
        "accounts": [a["name"] for a in spec["accounts"]],
        "records": report.records,
        "pages": sum(a.pages_fetched for a in report.accounts),
        "rows_written": sink.rows_written,
        "requests": report.requests,
        "rate_limited": report.rate_limited,
        "seconds": report.seconds,
        # A worker process short of CPU shows here first: accounts fall behind their limit.
        "cpu_seconds": time.process_time() - cpu,
        "rate_over_limit_min": min(rates, default=None),
        "rate_over_limit_mean": sum(rates) / len(rates) if rates else None,
        "failures": [f"{f.account}/{f.resource}: {f.error}" for f in report.failures],
        "error": report.error,
        # Failures that pass by themselves: the shard is worth running again.
        "transient": any(is_transient(e) for e in errors),
    }


def _keep_error(event: ExportEvent, errors: list[BaseException]) -> None:
    if event.kind == "stream-failed" and event.error is not None:
        errors.append(event.error)


async def run_in_ledger(
    spec: ShardSpec, connections: Connections, *, worker: str, lease: float, retry_in: float
) -> dict[str, Any]:
    """``run_shard`` as a fleet task runs it: claimed in the pass's ledger under a ``lease``
    renewed while it runs, then recorded complete, or failed (once, each account's reason).
    Failing for a transient reason it is left waiting for ``retry_in`` seconds (the caller's
    retry) and ``TransientShardError`` is raised. A shard the ledger has finished is skipped."""
    try:
        pool = await connections.pool(spec["dsn"])
        async with pool.acquire() as connection:
            before = await _ledger.claim(connection, spec, worker, lease)
    except Exception as exc:
        if is_transient(exc):
            raise TransientShardError(f"PostgreSQL: {exc}") from exc
        raise
    if before in _ledger.FINISHED:
        return {"accounts": [a["name"] for a in spec["accounts"]], "skipped": before}
    if before is None:  # submitted without a ledger (by an older version): run it as it is
        return await run_shard(spec, connections)
    renewing = asyncio.ensure_future(_renew(pool, spec, worker, lease))
    try:
        summary = await run_shard(spec, connections)
    except Exception as exc:
        if is_transient(exc):
            await _record(pool, _ledger.release, spec, _describe(exc), retry_in)
            raise TransientShardError(_describe(exc)) from exc
        await _record(pool, _ledger.fail, spec, _describe(exc), {}, None)
        raise
    finally:
        renewing.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await renewing
    problems = summary["failures"] + ([summary["error"]] if summary["error"] else [])
    if summary["transient"]:
        reason = "; ".join(problems)
        await _record(pool, _ledger.release, spec, reason, retry_in)
        raise TransientShardError(reason)
    if problems:
        failures: dict[str, str] = {}
        for failure in summary["failures"]:
            account = failure.split("/", 1)[0]
            failures[account] = "; ".join(filter(None, [failures.get(account), failure]))
        await _record(pool, _ledger.fail, spec, summary["error"], failures, summary)
    else:
        await _record(pool, _ledger.complete, spec, summary)
    return summary


def _describe(error: BaseException) -> str:
    return f"{type(error).__name__}: {error}"


async def _record(pool: Any, write: Any, spec: ShardSpec, *args: Any) -> None:
    """One ledger write. PostgreSQL unreachable, it is left undone: the lease then expires and
    the reaper sends the shard again, which finds its streams done (or fails them again)."""
    try:
        async with pool.acquire() as connection:
            await write(connection, spec, *args)
    except Exception as exc:
        if not is_transient(exc):
            raise
        log.warning(
            "shard %s of pass %s: ledger not updated: %s", spec["shard"], spec["pass_id"], exc
        )


async def _renew(pool: Any, spec: ShardSpec, worker: str, lease: float) -> None:
    while True:
        await asyncio.sleep(lease / 4)
        try:
            async with pool.acquire() as connection:
                await _ledger.renew(connection, spec, worker, lease)
        except Exception as exc:  # PostgreSQL restarting: the next renewal tries again
            log.warning("shard %s: lease not renewed: %s", spec["shard"], exc)
