"""The reaper: in every worker's main process, sends again the shards the broker lost.

Every ``interval`` seconds it asks each ledger it knows (``fleet worker --ledger``, and every
PostgreSQL database and schema of a shard this worker has held) for the shards nobody holds
(``_ledger.due``: not finished, no live lease, not enqueued for ``grace`` seconds). A shard
whose message the broker still has (waiting in the queue, or taken by a worker and not yet
acknowledged: kombu's ``unacked`` hash, which a live worker's sweep puts back) is left to it;
the others are sent again under their own task id. Several workers reaping at once do not
send one shard twice: each takes the rows it sends with ``FOR UPDATE SKIP LOCKED`` and marks
them enqueued in the same transaction.

What that covers: a Redis restarted without its data (the queue and the unacknowledged
messages are gone), a worker killed with the only copy of a message, a ``fleet submit`` that
died between recording a pass and enqueueing it, a Celery retry lost with its worker. Any of
them converges within ``grace + interval`` seconds of the broker and PostgreSQL being back.
"""

from __future__ import annotations

import asyncio
import json
import logging
import threading
from typing import Any

from . import _ledger
from ._shards import is_transient

log = logging.getLogger("karbon_async.fleet")

PRIORITY_SEP = "\x06\x16"
"""kombu's Redis transport keeps a queue's priorities in keys ``queue + sep + priority``."""


def broker_task_ids(app: Any) -> set[str]:
    """The ids of every task message the Redis broker holds: queued, or delivered and not yet
    acknowledged. Read straight from kombu's Redis keys (one LRANGE per priority of the default
    queue, one HVALS)."""
    import redis

    queue = app.conf.task_default_queue
    keys = [queue, *(f"{queue}{PRIORITY_SEP}{p}" for p in (3, 6, 9))]
    client = redis.Redis.from_url(app.conf.broker_url, socket_timeout=5, socket_connect_timeout=2)
    try:
        with client.pipeline(transaction=False) as pipe:
            for key in keys:
                pipe.lrange(key, 0, -1)
            pipe.hvals("unacked")
            *queued, unacked = pipe.execute()
    finally:
        client.close()
    ids = set()
    for raw in [m for messages in queued for m in messages]:
        ids.add(json.loads(raw).get("headers", {}).get("id"))
    for raw in unacked:
        message = json.loads(raw)[0]  # [message, exchange, routing key]
        ids.add(message.get("headers", {}).get("id"))
    ids.discard(None)
    return ids


class Reaper:
    """The thread (with its own event loop and PostgreSQL connections) that re-enqueues."""

    def __init__(
        self,
        app: Any,
        task: str,
        *,
        interval: float,
        grace: float,
        ledgers: list[tuple[str, str]],
    ) -> None:
        self.app = app
        self.task = task
        self.interval = interval
        self.grace = grace
        self.ledgers: set[tuple[str, str]] = set(ledgers)
        self.sent = 0
        self._connections: dict[str, Any] = {}
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def learn(self, dsn: str, schema: str) -> None:
        """Watch this ledger too (a shard this worker holds came from it)."""
        self.ledgers.add((dsn, schema))

    def start(self) -> None:
        self._stop.clear()
        self._thread = threading.Thread(target=self._run, name="karbon-fleet-reaper", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(10)
            self._thread = None

    def _run(self) -> None:
        loop = asyncio.new_event_loop()
        try:
            while not self._stop.wait(self.interval):
                for dsn, schema in sorted(self.ledgers):
                    try:
                        loop.run_until_complete(self.reap(dsn, schema))
                    except Exception as exc:  # the next round tries again
                        log.warning("reaper: %s", exc)
        finally:
            loop.run_until_complete(self._close())
            loop.close()

    async def _close(self) -> None:
        connections, self._connections = self._connections, {}
        for connection in connections.values():
            await connection.close()

    async def reap(self, dsn: str, schema: str) -> int:
        """One round on one ledger; how many shards it sent."""
        import asyncpg

        connection = self._connections.get(dsn)
        if connection is None or connection.is_closed():
            connection = self._connections[dsn] = await asyncpg.connect(dsn)
        try:
            if await connection.fetchval("SELECT to_regclass($1)", _ledger.table(schema)) is None:
                return 0
            async with connection.transaction():
                due = await _ledger.due(connection, schema, self.grace)
                if not due:
                    return 0
                held = await asyncio.to_thread(broker_task_ids, self.app)
                sent = 0
                for pass_id in sorted({row["pass_id"] for row in due}):
                    shards = [row for row in due if row["pass_id"] == pass_id]
                    for row in shards:
                        if row["task_id"] not in held:
                            self.app.send_task(
                                self.task,
                                args=[json.loads(row["spec"])],
                                task_id=row["task_id"],
                            )
                            sent += 1
                            log.warning(
                                "reaper: shard %s of pass %s was in no worker's hands and not "
                                "in the broker: sent again",
                                row["shard"],
                                pass_id,
                            )
                    await _ledger.enqueued(
                        connection, schema, pass_id, [r["shard"] for r in shards]
                    )
                self.sent += sent
                return sent
        except Exception as exc:
            if is_transient(exc):  # PostgreSQL restarting: a new connection next round
                self._connections.pop(dsn, None)
                connection.terminate()
            raise
