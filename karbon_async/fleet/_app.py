"""The Celery app of the fleet: one task, ``export_shard``, acknowledged late (the mirror adds
its own, ``mirror._fleet``, run on the same per-process event loop: ``run_in_process``).

How a lost worker's shard comes back, with kombu's Redis transport:

* its *pool process* died: the worker's main process rejects the message with requeue at once
  (``task_reject_on_worker_lost``);
* the *whole worker* died (main process and pool, or its machine): nobody rejects anything. The
  message sits in the transport's ``unacked`` hash, scored in ``unacked_index`` with the time it
  was delivered, until a live worker's sweep finds it older than ``visibility_timeout`` and puts
  it back in the queue. kombu never renews that score, so a visibility timeout shorter than the
  longest shard would hand *running* shards to a second worker, and it sweeps only every 100 s
  (recent kombu takes ``unacked_restore_interval``, older releases do not). ``_KeepVisible``
  does both in each worker's main process, every quarter of the timeout (at most 10 s): it
  re-scores the messages of the shards the worker holds, then sweeps. So only a worker that
  stopped renewing (it is dead, or its main process stalled for most of the timeout) loses its
  shards, and the timeout can be a minute instead of longer than any shard: a dead worker's
  shard runs again within about 1.25 timeouts.

A shard handed out twice anyway (a stalled main process; a main process killed while its pool
process went on, which billiard lets it do until the shard ends) is safe: the second copy waits
for the accounts' advisory locks in PostgreSQL (``LOCK_WAIT`` in ``_shards``), then resumes from
the checkpoints the first copy committed, skipping the streams it finished. What the short
timeout costs is that wasted wait, and one ZADD and one sweep per worker every few seconds.

What the broker cannot give back (Redis restarted without its data, a dead worker's only copy
of a message) the ledger in PostgreSQL does: each worker's main process runs a ``Reaper``
(``_reaper``) that sends again the shards nobody holds. A shard failing for a transient reason
is retried by Celery (``retry_countdown``), its ledger row left waiting, not failed.
"""

from __future__ import annotations

import asyncio
import logging
import os
import time
from collections.abc import Callable, Coroutine
from typing import Any, ClassVar, TypeVar

from celery import Celery, bootsteps

from .._retry import backoff_delay
from ._reaper import Reaper
from ._shards import (
    VISIBILITY_TIMEOUT,
    Connections,
    ShardSpec,
    TransientShardError,
    run_in_ledger,
)

TASK = "karbon_async.fleet.export_shard"

log = logging.getLogger("karbon_async.fleet")

T = TypeVar("T")


def _renew_every(visibility_timeout: float) -> float:
    """Seconds between renewals of held messages, and between sweeps for expired ones."""
    return min(10.0, visibility_timeout / 4)


class _KeepVisible(bootsteps.StartStopStep):  # type: ignore[misc]
    """In the worker's main process: keeps the messages of the shards it has reserved or is
    running from reaching the visibility timeout while it lives, and puts back those of workers
    that stopped doing so."""

    requires: ClassVar = {"celery.worker.consumer.tasks:Tasks"}

    def __init__(self, parent: Any, **kwargs: Any) -> None:
        super().__init__(parent, **kwargs)
        self._timer: Any = None

    def start(self, consumer: Any) -> None:
        options = consumer.app.conf.broker_transport_options
        every = _renew_every(options["visibility_timeout"])
        self._timer = consumer.timer.call_repeatedly(every, self.tick, (consumer,), priority=10)

    def stop(self, consumer: Any) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None

    def tick(self, consumer: Any) -> None:
        from celery.worker import state

        # Scheduled: a shard's Celery retry, held by this worker until its countdown ends.
        held = (*state.reserved_requests, *state.active_requests, *state.scheduled_requests)
        tags = {request.message.delivery_tag for request in held}
        reaper: Reaper | None = getattr(consumer.app, "karbon_reaper", None)
        if reaper is not None:  # the ledgers of the shards this worker holds: watch them too
            for request in held:
                spec = (request.args or [None])[0]
                # Other tasks on the fleet (the mirror's events) carry a dsn but no ledger.
                if request.name == TASK and isinstance(spec, dict) and "dsn" in spec:
                    reaper.learn(spec["dsn"], spec.get("schema", "public"))
        try:
            channel = consumer.connection.default_channel
            index = getattr(channel, "unacked_index_key", None)
            if index is None:  # not the Redis transport: the broker tracks deliveries itself
                return
            if tags:
                with channel.conn_or_acquire() as client:
                    # XX: a message already swept back to the queue is not brought back to life.
                    client.zadd(index, dict.fromkeys(tags, time.time()), xx=True)
            channel.qos.restore_visible(num=100, interval=1)
        except Exception as exc:  # the next tick tries again
            log.warning("could not renew or sweep shard messages in Redis: %s", exc)


class _Reap(bootsteps.StartStopStep):  # type: ignore[misc]
    """Runs the app's ``Reaper`` in the worker's main process while the worker runs."""

    requires: ClassVar = {"celery.worker.components:Pool"}

    def start(self, worker: Any) -> None:
        worker.app.karbon_reaper.start()

    def stop(self, worker: Any) -> None:
        worker.app.karbon_reaper.stop()


class _ProcessLoop:
    """One event loop per pool process, kept from task to task (a pool process runs one at a
    time) with the connections its tasks share."""

    def __init__(self) -> None:
        self._loop: asyncio.AbstractEventLoop | None = None
        self._connections = Connections()

    def run(self, work: Callable[[Connections], Coroutine[Any, Any, T]]) -> T:
        if self._loop is None:  # made in the pool process, never inherited through a fork
            self._loop = asyncio.new_event_loop()
        return self._loop.run_until_complete(work(self._connections))


_PROCESS = _ProcessLoop()


def run_in_process(work: Callable[[Connections], Coroutine[Any, Any, T]]) -> T:
    """Run ``work(connections)`` on this pool process's event loop, with the Redis clients and
    PostgreSQL pools kept there for every task of the fleet (shards, and the mirror's events):
    whatever ``work`` keeps between tasks lives on that loop too."""
    return _PROCESS.run(work)


RETRY_BASE = 1.0
"""Seconds: the first retry of a shard that failed for a transient reason waits up to this (full
jitter); each later one up to twice as long, capped at the visibility timeout."""


def retry_countdown(retries: int, visibility_timeout: float) -> float:
    """The wait before a shard's retry number ``retries + 1``: never longer than the time a
    dead worker's shard waits to be taken over."""
    return backoff_delay(retries + 1, RETRY_BASE, visibility_timeout)


def make_app(
    broker: str,
    *,
    backend: str | None = None,
    visibility_timeout: float = VISIBILITY_TIMEOUT,
    ledgers: list[tuple[str, str]] | None = None,
) -> Celery:
    """The fleet's Celery app on ``broker`` (results in ``backend``, by default the broker).
    Its workers re-enqueue what nobody holds in ``ledgers`` (``(dsn, schema)`` pairs) and in
    the ledgers of the shards they are given (``_reaper``)."""
    if visibility_timeout <= 0:
        raise ValueError("visibility_timeout must be positive")
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
        broker_connection_max_retries=None,  # a broker down for long: wait, never exit
        # A running shard goes on when the broker goes: its lease and checkpoints are in
        # PostgreSQL (Celery 6 is to cancel such tasks by default).
        worker_cancel_long_running_tasks_on_connection_loss=False,
        result_expires=7 * 24 * 3600,
        worker_hijack_root_logger=False,
    )
    app.steps["consumer"].add(_KeepVisible)
    app.steps["worker"].add(_Reap)
    app.karbon_reaper = Reaper(
        app,
        TASK,
        interval=_renew_every(visibility_timeout),
        grace=visibility_timeout,
        ledgers=list(ledgers or ()),
    )

    @app.task(name=TASK, bind=True, acks_late=True, reject_on_worker_lost=True, max_retries=None)  # type: ignore[untyped-decorator]
    def export_shard(task: Any, spec: ShardSpec) -> dict[str, Any]:
        countdown = retry_countdown(task.request.retries, visibility_timeout)
        try:
            return _PROCESS.run(
                lambda connections: run_in_ledger(
                    spec,
                    connections,
                    worker=f"{task.request.hostname} pid {os.getpid()}",
                    lease=visibility_timeout,
                    retry_in=countdown + visibility_timeout,
                )
            )
        except TransientShardError as exc:
            log.warning("shard %s: retry in %.1f s: %s", spec.get("shard"), countdown, exc)
            raise task.retry(exc=exc, countdown=countdown) from exc

    return app
