"""The Celery app of the fleet: one task, ``export_shard``, acknowledged late."""

from __future__ import annotations

import asyncio
from typing import Any

from celery import Celery

from ._shards import ShardSpec, run_shard

TASK = "karbon_async.fleet.export_shard"

VISIBILITY_TIMEOUT = 3600.0
"""Seconds before Redis hands an unacknowledged task to another worker when its whole worker
(not just the pool process running it) vanished. Longer than any shard should take: a shard
redelivered while it still runs waits for the accounts' locks in PostgreSQL, then finds their
streams done."""


def make_app(
    broker: str, *, backend: str | None = None, visibility_timeout: float = VISIBILITY_TIMEOUT
) -> Celery:
    """The fleet's Celery app on ``broker`` (results in ``backend``, by default the broker)."""
    app = Celery("karbon_async.fleet", broker=broker, backend=backend or broker)
    app.conf.update(
        task_acks_late=True,  # acknowledged when done: a lost worker's shard is redelivered
        task_reject_on_worker_lost=True,
        worker_prefetch_multiplier=1,  # a waiting shard never sits behind a busy one
        task_serializer="json",
        result_serializer="json",
        accept_content=["json"],
        broker_transport_options={"visibility_timeout": visibility_timeout},
        result_backend_transport_options={"visibility_timeout": visibility_timeout},
        broker_connection_retry_on_startup=True,
        result_expires=7 * 24 * 3600,
        worker_hijack_root_logger=False,
    )

    @app.task(name=TASK, acks_late=True, reject_on_worker_lost=True)  # type: ignore[untyped-decorator]
    def export_shard(spec: ShardSpec) -> dict[str, Any]:
        return asyncio.run(run_shard(spec))

    return app
