"""``MirrorService``: one process keeping many accounts' mirrors fresh (``karbon-async mirror``).

Per account: a client on its own budget; subscriptions for the mirrored resources' webhook
types, kept alive (a subscription Karbon auto-cancelled is re-created, and a reconciliation
starts at once, since events were lost meanwhile); a ``WebhookWorker`` that coalesces events
per record, drops duplicates and retries failures, and hands each to ``Mirror.handle``; and
reconciliation: incremental at start and every ``reconcile_interval``, full (deletions too)
every ``full_interval``. One aiohttp app receives every account's deliveries at
``<public_url>/<account>``; one dispatcher runs the change handlers.

Sizing the default schedule: a full pass reads every record once (pages of 100): 10,000
records of each of five resources is 500 requests, about 4 minutes of an account's 120 a
minute, so a full pass every 6 hours uses about 1 % of the budget. Incremental passes read
contacts and organizations from their watermark (a page or two) and the others in full (work
items, client groups and invoices cannot be listed by last change): 10,000 work items every
15 minutes is 100 requests, about 6 % of the budget. Events cost one request per changed record.
Changes Karbon sends no event for (fields outside the triggering set, invoice edits that do not
move the status) reach the mirror within ``reconcile_interval`` for those read in full, and
within ``full_interval`` at worst.

State is in PostgreSQL only: a restarted service (on any machine) resumes every pass where it
stopped; the receiver itself keeps nothing (its replay guard and the worker's dedupe can be
shared in Redis with ``seen_store``, so instances behind a load balancer act as one).

With ``events_to`` (``FleetEvents``) the fetches leave the service: each verified delivery is
sent to the Celery fleet, where any worker fetches and commits it (``_fleet``), instead of to
the local ``WebhookWorker``; Karbon is answered 202 once the broker has it, 503 if it cannot
take it. Every account's budget is then a ``RedisBudget`` on the fleet's Redis (unless
``budgets`` says otherwise), so the service's reconciliation and every worker's fetches share
one window. Subscriptions, reconciliation and the change handlers stay here (one service per
set of accounts); the handlers see the workers' commits at the next ``dispatch_interval``.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import statistics
import time
from collections.abc import Callable, Sequence
from typing import Any
from urllib.parse import quote

import attrs
from aiohttp import web

from .._budget import Budget
from .._client import KarbonClient
from .._exceptions import KarbonError
from .._redis_budget import RedisBudget
from ..export._progress import Account, check_accounts
from ..webhooks import (
    ANY,
    EnsuredSubscription,
    SeenStore,
    SubmitOutcome,
    SubscriptionKeeper,
    WebhookEvent,
    WebhookReceiver,
    WebhookWorker,
    aiohttp_handler,
)
from ..webhooks._receiver import EventSink
from ..webhooks._router import Router
from ._fleet import FleetEvents
from ._mirror import Mirror

logger = logging.getLogger("karbon_async.mirror")

DEFAULT_RECONCILE_INTERVAL = 900.0
DEFAULT_FULL_INTERVAL = 6 * 3600.0
DEFAULT_SUBSCRIPTION_INTERVAL = 300.0


def account_path(name: str) -> str:
    """The URL path an account's deliveries arrive at (its name, percent-encoded)."""
    return "/" + quote(name, safe="")


@attrs.define
class AccountStats:
    """What one account's mirror did since the service started."""

    events: int = 0
    """Events handed to the worker (after the receiver's replay guard)."""
    coalesced: int = 0
    """Events merged into one already queued for the same record."""
    duplicates: int = 0
    changes: int = 0
    """Changes committed (from events and reconciliation)."""
    stale_or_unchanged: int = 0
    """Events whose fetch changed nothing (older, duplicate or equal state)."""
    drift: int = 0
    """Changes found by reconciliation (no event had brought them)."""
    reconciliations: int = 0
    reconcile_errors: int = 0
    freshness: list[float] = attrs.field(factory=list, repr=False)
    """Seconds from an event's arrival to its change committed (the last 1,000)."""
    lag: list[float] = attrs.field(factory=list, repr=False)
    """Seconds from Karbon's TimeStamp to the change committed (the last 1,000)."""

    def summary(self) -> dict[str, Any]:
        def quantiles(values: list[float]) -> dict[str, float] | None:
            if len(values) < 2:
                return None
            cuts = statistics.quantiles(values, n=100)
            return {"p50": cuts[49], "p99": cuts[98]}

        out = attrs.asdict(self, filter=lambda a, _: a.name not in ("freshness", "lag"))
        out["freshness"] = quantiles(self.freshness)
        out["lag"] = quantiles(self.lag)
        return out


def _keep(values: list[float], value: float) -> None:
    values.append(value)
    if len(values) > 1000:
        del values[: len(values) - 1000]


class _Arrivals:
    """The receiver's sink: notes when each record's news arrived, then hands it on."""

    def __init__(self, worker: WebhookWorker, stats: AccountStats) -> None:
        self.worker = worker
        self.stats = stats
        self.arrived: dict[tuple[str, str], float] = {}

    def submit(self, event: WebhookEvent) -> SubmitOutcome:
        outcome = self.worker.submit(event)
        self.stats.events += 1
        if outcome is SubmitOutcome.COLLAPSED:
            self.stats.coalesced += 1
        elif outcome is SubmitOutcome.DUPLICATE:
            self.stats.duplicates += 1
        self.arrived.setdefault(event.resource_key, time.monotonic())
        return outcome


class _ToFleet:
    """The receiver's sink with ``events_to``: sends each event to the fleet."""

    def __init__(self, events: FleetEvents, account: Account, stats: AccountStats) -> None:
        self.events = events
        self.account = account
        self.stats = stats

    async def submit(self, event: WebhookEvent) -> SubmitOutcome:
        try:
            await self.events.submit(self.account, event)
        except Exception as error:  # the broker unreachable: Karbon delivers it again later
            logger.warning("account %s: event not sent to the fleet: %s", self.account.name, error)
            return SubmitOutcome.STOPPED
        self.stats.events += 1
        return SubmitOutcome.ACCEPTED


class _AccountMirror:
    """Everything one account needs; see ``MirrorService``."""

    arrivals: _Arrivals
    """Without ``events_to`` only: the local worker's events."""
    _own_budget: RedisBudget | None = None
    """Made here (with ``events_to``): closed here."""

    def __init__(self, service: MirrorService, account: Account) -> None:
        self.service = service
        self.account = account
        self.stats = AccountStats()
        events_to = service.events_to
        self.budget: Budget | None = None
        if service.budgets is not None:
            self.budget = service.budgets(account)
        elif events_to is not None:
            self.budget = self._own_budget = events_to.budget_for(account)
        self.client = KarbonClient(
            bearer_token=account.bearer_token,
            access_key=account.access_key,
            base_url=account.base_url,
            rate_limit=account.rate_limit,
            budget=self.budget,
        )
        router = Router()
        router.on(ANY, ANY)(self._on_event)
        self.worker: WebhookWorker | None = None
        sink: EventSink
        if events_to is not None:
            sink = _ToFleet(events_to, account, self.stats)
        else:
            self.worker = WebhookWorker(
                router,
                retry_delay=service.retry_delay,
                seen_store=service.seen_store,
            )
            sink = self.arrivals = _Arrivals(self.worker, self.stats)
        self.receiver = WebhookReceiver(service.signing_key, sink, seen_store=service.seen_store)
        webhook_types = sorted({r.webhook_type for r in service.mirror.resources})
        self.keeper = SubscriptionKeeper(
            self.client,
            webhook_types,
            service.public_url.rstrip("/") + account_path(account.name),
            service.signing_key,
            on_recreated=self._on_recreated,
            allow_insecure_loopback=service.allow_insecure_loopback,
        )
        self.wake = asyncio.Event()
        self.tasks: list[asyncio.Task[Any]] = []

    async def _on_event(self, event: WebhookEvent) -> None:
        changes = await self.service.mirror.handle(self.client, self.account.name, event)
        arrived = self.arrivals.arrived.pop(event.resource_key, None)
        if not changes:
            self.stats.stale_or_unchanged += 1
            return
        self.stats.changes += len(changes)
        if arrived is not None:
            _keep(self.stats.freshness, time.monotonic() - arrived)
        age = event.age()
        if age is not None:
            _keep(self.stats.lag, age)
        self.service.wake_dispatcher()

    def _on_recreated(self, ensured: EnsuredSubscription) -> None:
        logger.warning(
            "account %s: %s subscription re-created; reconciling now",
            self.account.name,
            ensured.webhook_type.value,
        )
        self.wake.set()

    async def start(self) -> None:
        await self.client.__aenter__()
        if self.worker is not None:
            await self.worker.start()
        self.tasks = [
            asyncio.create_task(self.keeper.run(self.service.subscription_interval)),
            asyncio.create_task(self._reconcile_forever()),
        ]

    async def stop(self) -> None:
        for task in self.tasks:
            task.cancel()
        for task in self.tasks:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
        if self.worker is not None:
            await self.worker.stop(drain_timeout=self.service.drain_timeout)
        await self.client.aclose()
        if self._own_budget is not None:
            await self._own_budget.aclose()

    async def _reconcile_forever(self) -> None:
        service = self.service
        loop = asyncio.get_running_loop()
        last_full: float | None = None
        while True:
            full = last_full is not None and loop.time() - last_full >= service.full_interval
            try:
                results = await service.mirror.reconcile(self.client, self.account.name, full=full)
            except (KarbonError, OSError) as error:
                # Nothing to retry here: the next pass resumes from the last committed page.
                self.stats.reconcile_errors += 1
                logger.warning("account %s: reconciliation failed: %s", self.account.name, error)
            else:
                self.stats.reconciliations += 1
                drift = sum(r.drift for r in results)
                self.stats.drift += drift
                self.stats.changes += drift
                if drift:
                    service.wake_dispatcher()
                if last_full is None or all(r.full for r in results):
                    last_full = loop.time()
            self.wake.clear()
            with contextlib.suppress(asyncio.TimeoutError):
                await asyncio.wait_for(self.wake.wait(), service.reconcile_interval)


def _check_same_mirror(events: FleetEvents, mirror: Mirror) -> None:
    """The workers must write where the service reconciles and dispatches from."""
    ours = (mirror.schema, sorted(r.name for r in mirror.resources), mirror.table_prefix)
    theirs = (events.schema, sorted(events.resources), "karbon_")
    if ours != theirs or (mirror.dsn is not None and mirror.dsn != events.dsn):
        raise ValueError(
            "events_to must name the mirror's database, schema and resources (and the mirror "
            "the default table prefix)"
        )


class MirrorService:
    """See the module docstring. ``accounts`` as for the exporter; ``public_url`` is what
    Karbon calls (each account's deliveries at ``public_url/<account>``); ``signing_key`` signs
    every subscription (keep it stable: it is how deliveries are verified after a restart)."""

    def __init__(
        self,
        mirror: Mirror,
        accounts: Sequence[Account],
        *,
        public_url: str,
        signing_key: str,
        reconcile_interval: float = DEFAULT_RECONCILE_INTERVAL,
        full_interval: float = DEFAULT_FULL_INTERVAL,
        subscription_interval: float = DEFAULT_SUBSCRIPTION_INTERVAL,
        dispatch_interval: float = 1.0,
        drain_timeout: float = 30.0,
        retry_delay: float = 1.0,
        allow_insecure_loopback: bool = False,
        budgets: Callable[[Account], Budget] | None = None,
        seen_store: SeenStore | None = None,
        events_to: FleetEvents | None = None,
    ) -> None:
        check_accounts(accounts)
        if events_to is not None:
            _check_same_mirror(events_to, mirror)
        self.mirror = mirror
        self.accounts = list(accounts)
        self.public_url = public_url
        self.signing_key = signing_key
        self.reconcile_interval = reconcile_interval
        self.full_interval = full_interval
        self.subscription_interval = subscription_interval
        self.dispatch_interval = dispatch_interval
        self.drain_timeout = drain_timeout
        self.retry_delay = retry_delay
        self.allow_insecure_loopback = allow_insecure_loopback
        self.budgets = budgets
        self.seen_store = seen_store
        self.events_to = events_to
        self._mirrors = {account.name: _AccountMirror(self, account) for account in accounts}
        self._dispatch_wake = asyncio.Event()
        self._dispatcher: asyncio.Task[None] | None = None

    def app(self) -> web.Application:
        """The aiohttp app receiving every account's deliveries (``POST /<account>``); serve it
        at ``public_url`` before ``start()``, which subscribes."""
        handlers = {name: aiohttp_handler(m.receiver) for name, m in self._mirrors.items()}

        async def deliver(request: web.Request) -> web.StreamResponse:
            # The account from the decoded path segment: names may hold spaces or parentheses
            # (``Firm (0)``), which a route registered per name would have to match encoded.
            handler = handlers.get(request.match_info["account"])
            if handler is None:
                raise web.HTTPNotFound(text="no such account")
            return await handler(request)

        app = web.Application(client_max_size=64 * 1024)
        app.router.add_post("/{account}", deliver)
        return app

    def stats(self) -> dict[str, dict[str, Any]]:
        return {
            name: {**m.stats.summary(), "queued": m.worker.queued if m.worker else 0}
            for name, m in self._mirrors.items()
        }

    def wake_dispatcher(self) -> None:
        self._dispatch_wake.set()

    async def start(self) -> None:
        await self.mirror.open()
        for mirror in self._mirrors.values():
            await mirror.start()
        self._dispatcher = asyncio.create_task(self._dispatch_forever())

    async def stop(self) -> None:
        if self._dispatcher is not None:
            self._dispatcher.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._dispatcher
            self._dispatcher = None
        for mirror in self._mirrors.values():
            await mirror.stop()
        await self.mirror.aclose()

    async def __aenter__(self) -> MirrorService:
        await self.start()
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.stop()

    async def _dispatch_forever(self) -> None:
        while True:
            try:
                while await self.mirror.dispatch():
                    pass
            except (OSError, KarbonError) as error:  # the database away: try again later
                logger.warning("change dispatch failed: %s", error)
            self._dispatch_wake.clear()
            with contextlib.suppress(asyncio.TimeoutError):
                await asyncio.wait_for(self._dispatch_wake.wait(), self.dispatch_interval)
