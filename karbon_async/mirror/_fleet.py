"""Webhook events handled on the Celery fleet, so fetch work spreads over machines.

::

    events = FleetEvents("redis://broker:6379/0", dsn="postgresql://...", resources=[...],
                         redis="redis://broker:6379/0")
    MirrorService(mirror, accounts, ..., events_to=events)   # the receiver sends, workers fetch

    register_mirror_task(make_app("redis://broker:6379/0"))  # in each worker: mirror worker

The receiver stays stateless: it verifies a delivery, checks its replay guard, and sends the
event as one task message (``EventSpec``) to ``MIRROR_QUEUE``; it answers Karbon 202 only once
the broker has the message, and 503 when the broker cannot take it (Karbon delivers it again
later). A worker runs ``Mirror.handle`` on its pool process's event loop (``run_in_process``,
the fleet's), over the PostgreSQL pool and Redis client the fleet keeps there; each account's
client has a ``RedisBudget`` on that Redis, keyed as every other process of the account keys it
(the service's reconciliation too), so all of them share one window.

What coalescing and dedupe were in the service's ``WebhookWorker`` are, on the fleet, just
duplicates: several events of one record are several fetches, and a message redelivered after
its worker died is fetched again. Both are harmless, since a state equal to or older than the
stored one is a no-op (``_decide``); they cost a request each. A task that fails for a reason
that passes (``is_transient``: a connection lost, Karbon's 5xx after the client's own retries)
is retried by Celery with the fleet's backoff; one that fails for good (a 401) is logged once
and dropped: the next reconciliation repairs the record.
"""

from __future__ import annotations

import asyncio
import collections
import logging
from collections.abc import Iterable
from typing import Any

from .._client import KarbonClient
from .._converter import unstructure
from .._limits import RateLimit
from .._redis_budget import RedisBudget
from ..export._progress import Account
from ..fleet._shards import Connections, account_spec, is_transient
from ..webhooks._events import WebhookEvent, parse_event
from ._mirror import Mirror
from ._resources import resolve_mirror_resources

log = logging.getLogger("karbon_async.mirror")

EVENT_TASK = "karbon_async.mirror.handle_event"
MIRROR_QUEUE = "karbon_async.mirror"
"""The queue of the events: their own, so they never wait behind a long export shard, and a
``fleet worker`` (which has no mirror task) never takes one."""

KEPT_CLIENTS = 64
"""Accounts whose client (and budget, with its Redis connection for wake-ups) a pool process
keeps between events; the least recently used goes beyond that."""

EventSpec = dict[str, Any]
"""JSON: ``account`` (``fleet.account_spec``), ``dsn``, ``schema``, ``resources`` (names),
``redis`` (the URL of the budgets) and ``event`` (the webhook's JSON object)."""


class FleetEvents:
    """Sends each event to the fleet (see the module docstring). ``app``: the fleet's Celery
    app (``fleet._app.make_app``), or its broker's ``redis://`` URL to make one; ``dsn``,
    ``schema`` and ``resources``: the mirror's; ``redis``: the Redis of the accounts' budgets
    (``budget_for`` makes them)."""

    def __init__(
        self,
        app: Any,
        *,
        dsn: str,
        redis: str,
        schema: str = "public",
        resources: Iterable[str] | None = None,
    ) -> None:
        if isinstance(app, str):
            from ..fleet._app import make_app

            app = make_app(app)
        self.app = app
        self.dsn = dsn
        self.redis = redis
        self.schema = schema
        self.resources = [r.name for r in resolve_mirror_resources(resources)]

    def spec(self, account: Account, event: WebhookEvent) -> EventSpec:
        return {
            "account": account_spec(account),
            "dsn": self.dsn,
            "schema": self.schema,
            "resources": self.resources,
            "redis": self.redis,
            "event": unstructure(event),
        }

    async def submit(self, account: Account, event: WebhookEvent) -> None:
        """Send the event's task; returns once the broker has it, raises if it cannot."""
        # A publish is a blocking round trip to the broker (longer while kombu retries a lost
        # connection): a thread keeps the receiver's event loop answering meanwhile.
        await asyncio.to_thread(
            self.app.send_task,
            EVENT_TASK,
            args=[self.spec(account, event)],
            queue=MIRROR_QUEUE,
            ignore_result=True,  # nobody waits for it: no result, no result subscription
        )

    def budget_for(self, account: Account) -> RedisBudget:
        """The account's budget as the workers key it (the service's reconciliation uses it)."""
        return RedisBudget(
            account.rate_limit,
            access_key=account.access_key,
            base_url=account.base_url,
            url=self.redis,
        )


def register_mirror_task(app: Any) -> Any:
    """Add the mirror's task to a fleet app (``fleet._app.make_app``); the task."""
    from ..fleet._app import retry_countdown, run_in_process

    visibility_timeout = app.conf.broker_transport_options["visibility_timeout"]

    @app.task(  # type: ignore[untyped-decorator]
        name=EVENT_TASK,
        bind=True,
        acks_late=True,  # a lost worker's event is redelivered (a duplicate at worst)
        reject_on_worker_lost=True,
        max_retries=None,
        ignore_result=True,
    )
    def handle_event(task: Any, spec: EventSpec) -> dict[str, Any]:
        try:
            return run_in_process(lambda connections: _KEPT.handle(spec, connections))
        except Exception as exc:
            where = f"account {spec['account']['name']}: event for {_key(spec)}"
            if is_transient(exc):
                countdown = retry_countdown(task.request.retries, visibility_timeout)
                log.warning("%s: retry in %.1f s: %s", where, countdown, exc)
                raise task.retry(exc=exc, countdown=countdown) from exc
            log.error("%s dropped (reconciliation repairs it): %s: %s", where, _name(exc), exc)
            return {"error": f"{_name(exc)}: {exc}"}

    return handle_event


def _key(spec: EventSpec) -> str:
    event = spec.get("event") or {}
    return f"{event.get('ResourceType')} {event.get('ResourcePermaKey')}"


def _name(error: BaseException) -> str:
    return type(error).__name__


class _Kept:
    """What one pool process keeps between events, all on its event loop: a ``Mirror`` per
    (dsn, schema, resources) over the fleet's pool, and a client per account whose budget is a
    ``RedisBudget`` on the fleet's Redis client."""

    def __init__(self) -> None:
        self._mirrors: dict[tuple[str, str, tuple[str, ...]], Mirror] = {}
        self._clients: collections.OrderedDict[tuple[Any, ...], tuple[KarbonClient, RedisBudget]]
        self._clients = collections.OrderedDict()
        self._redis: dict[str, Any] = {}

    async def handle(self, spec: EventSpec, connections: Connections) -> dict[str, Any]:
        mirror = await self._mirror(spec, connections)
        client = await self._client(spec, connections)
        event = parse_event(spec["event"])
        changes = await mirror.handle(client, spec["account"]["name"], event)
        return {"changes": len(changes)}

    async def _mirror(self, spec: EventSpec, connections: Connections) -> Mirror:
        pool = await connections.pool(spec["dsn"])  # checked: a restarted server reconnects
        key = (spec["dsn"], spec["schema"], tuple(spec["resources"]))
        mirror = self._mirrors.get(key)
        if mirror is None:
            mirror = Mirror(pool=pool, schema=spec["schema"], resources=spec["resources"])
            await mirror.open()
            self._mirrors[key] = mirror
        return mirror

    async def _client(self, spec: EventSpec, connections: Connections) -> KarbonClient:
        url = spec["redis"]
        redis = await connections.redis(url, KEPT_CLIENTS)
        old = self._redis.get(url, redis)
        if old is not redis:  # the fleet replaced it: a shard wanted a bigger pool
            await self._forget([key for key in self._clients if key[0] == url])
            await old.aclose()  # the connections closing the budgets took from it again
        self._redis[url] = redis
        account = spec["account"]
        key = (url, *(account[field] for field in sorted(account)))
        kept = self._clients.get(key)
        if kept is not None:
            self._clients.move_to_end(key)
            return kept[0]
        await self._forget(list(self._clients)[: max(0, len(self._clients) - KEPT_CLIENTS + 1)])
        limit = RateLimit(account["requests"], account["per"])
        budget = RedisBudget(
            limit, access_key=account["access_key"], base_url=account["base_url"], client=redis
        )
        client = KarbonClient(
            bearer_token=account["bearer_token"],
            access_key=account["access_key"],
            base_url=account["base_url"],
            rate_limit=limit,
            budget=budget,
        )
        self._clients[key] = (client, budget)
        return client

    async def _forget(self, keys: list[tuple[Any, ...]]) -> None:
        """Close these clients and their budgets."""
        for key in keys:
            client, budget = self._clients.pop(key)
            await client.aclose()
            await budget.aclose()


_KEPT = _Kept()
