"""A pass as ``fleet submit`` and ``fleet status`` see it: recorded, awaited and reported from
its ledger in PostgreSQL, never from the broker (which may have lost everything)."""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import Sequence
from typing import Any

from . import _ledger
from ._shards import ShardSpec, is_transient

WAIT_TIMEOUT = 6 * 3600.0
"""Seconds ``fleet submit --wait`` waits by default: a few hours' pass at Karbon's pace fits; a
broker or worker gone for longer is reported (exit 1) rather than waited on forever."""

POLL = 1.0
"""Seconds between two looks at the ledger while waiting."""


async def _connect(dsn: str) -> Any:
    import asyncpg

    return await asyncpg.connect(dsn)


async def record(dsn: str, schema: str, shards: Sequence[ShardSpec]) -> list[tuple[ShardSpec, str]]:
    """Record the pass's shards before anything is enqueued; the (shard, task id) pairs to
    send (all of them, but for shards a resubmitted pass had completed)."""
    task_ids = [uuid.uuid4().hex for _ in shards]
    connection = await _connect(dsn)
    try:
        to_send = set(await _ledger.record(connection, schema, shards, task_ids))
    finally:
        await connection.close()
    return [(s, t) for s, t in zip(shards, task_ids, strict=True) if s["shard"] in to_send]


async def wait(
    dsn: str, schema: str, pass_id: str, timeout: float, *, poll: float = POLL
) -> tuple[list[dict[str, Any]], bool]:
    """The pass's shards once all are finished (complete or failed), or as they are when
    ``timeout`` seconds have passed; and whether they all finished. PostgreSQL restarting in
    the meantime is waited out."""
    deadline = time.monotonic() + timeout
    connection: Any = None
    shards: list[dict[str, Any]] = []
    try:
        while True:
            try:
                if connection is None or connection.is_closed():
                    connection = await _connect(dsn)
                shards = await _ledger.shards_of(connection, schema, pass_id)
            except Exception as exc:
                if not is_transient(exc):
                    raise
                connection = None  # a new one next time
            if shards and all(s["state"] in _ledger.FINISHED for s in shards):
                return shards, True
            if time.monotonic() >= deadline:
                return shards, False
            await asyncio.sleep(min(poll, max(0.0, deadline - time.monotonic())))
    finally:
        if connection is not None and not connection.is_closed():
            await connection.close()


def account_states(
    shards: list[dict[str, Any]], progress: dict[str, dict[str, Any]]
) -> list[dict[str, Any]]:
    """Each account of the pass: ``state`` (complete, running, waiting or failed), ``worker``
    (running on), ``reason`` (failed: why; waiting: the last transient error), ``pages``."""
    accounts = []
    for shard in shards:
        for name in shard["accounts"]:
            mine = progress.get(name, {"streams_done": 0, "pages": 0})
            reason = None
            worker = None
            if mine["streams_done"] >= len(shard["resources"]) or shard["state"] == "complete":
                state = "complete"
            elif shard["state"] == "failed":
                state = "failed"
                reason = shard["failures"].get(name) or shard["error"] or "failed"
            elif shard["state"] == "running" and shard["leased"]:
                state, worker = "running", shard["worker"]
            else:
                state, reason = "waiting", shard["error"]
            accounts.append(
                {
                    "account": name,
                    "shard": shard["shard"],
                    "state": state,
                    "worker": worker,
                    "reason": reason,
                    "pages": mine["pages"],
                }
            )
    return accounts


async def status(dsn: str, schema: str, pass_id: str | None) -> dict[str, Any] | None:
    """The pass (default: the one submitted last) from PostgreSQL; None if there is none."""
    connection = await _connect(dsn)
    try:
        if await connection.fetchval("SELECT to_regclass($1)", _ledger.table(schema)) is None:
            return None
        shards = await _ledger.shards_of(connection, schema, pass_id)
        if not shards:
            return None
        pass_id = shards[0]["pass_id"]
        progress = await _ledger.progress(connection, schema, pass_id)
    finally:
        await connection.close()
    accounts = account_states(shards, progress)
    counts = {
        state: sum(a["state"] == state for a in accounts)
        for state in ("complete", "running", "waiting", "failed")
    }
    return {
        "pass_id": pass_id,
        "open": any(s["state"] not in _ledger.FINISHED for s in shards),
        "accounts": accounts,
        "counts": counts,
        "pages": sum(a["pages"] for a in accounts),
        "shards": [
            {k: s[k] for k in ("shard", "state", "worker", "attempts", "error", "failures")}
            for s in shards
        ],
    }
