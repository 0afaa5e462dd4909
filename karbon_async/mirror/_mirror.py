"""``Mirror``: Karbon's records in PostgreSQL, kept fresh by webhook events and reconciliation.

::

    from karbon_async import mirror as mr

    mirror = mr.Mirror("postgresql://...")

    @mirror.on_change("WorkItem", fields=["PrimaryStatus"])
    async def status_moved(change: mr.Change) -> None:
        print(change.key, change.before.primary_status, "->", change.after.primary_status)

    async with mirror, ka.KarbonClient.from_env() as client:
        await mirror.reconcile(client, "acme")          # backfill, then incremental
        await mirror.handle(client, "acme", event)      # for each webhook event
        await mirror.dispatch()                         # run the handlers on committed changes

``MirrorService`` (``karbon-async mirror``) runs all of it for many accounts: subscriptions,
the receiver, fetches coalesced per key and reconciliation on a schedule.

Where each concern lives: the ordering rule in ``_decide`` (pure), the tables and the outbox in
``_store``, the resource table in ``_resources``; this module fetches and routes. It has no
retry loop of its own: a fetch goes through the client (which retries what is safe to
retry), and an event that still fails is retried by the ``WebhookWorker`` that called
``handle``; a reconciliation pass that fails resumes from its last committed page next time.

What reaches the mirror when: Karbon sends an event for some changes only (Invoice events on
status changes, and only some fields trigger a Contact or Work event at all), coalesces changes
over 60 s, and cancels a subscription after 10 failed deliveries. Every other change, and every
event lost meanwhile, reaches the mirror at the next reconciliation: incremental (records
changed since the watermark, where the list can be ordered by last change: contacts and
organizations; the others read in full) and full (also finds deletions).
"""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Callable, Iterable, Sequence
from typing import Any

import attrs

from .._converter import parse_datetime_or_none
from .._exceptions import NotFoundError
from .._json_records import field_values
from .._limits import Lane
from .._resources import ResourceSet
from ..export._postgres import connect_pool
from ..webhooks._events import WebhookEvent
from ._changes import Change
from ._handlers import ChangeHandlers, H
from ._resources import MirrorResource, resolve_mirror_resources
from ._store import MirrorStore, loads_record


def _now() -> dt.datetime:
    return dt.datetime.now(dt.timezone.utc)


@attrs.define
class ReconcileResult:
    """What one reconciliation of one (account, resource) did."""

    account: str
    resource: str
    full: bool
    records: int = 0
    pages: int = 0
    changes: list[Change] = attrs.field(factory=list, repr=False)
    deleted: int = 0

    @property
    def drift(self) -> int:
        """Records the pass found different from the mirror (missed events, other fields)."""
        return len(self.changes)


class Mirror:
    """See the module docstring. ``dsn`` (or an asyncpg ``pool``, not closed by the mirror)
    names the database; ``resources``: names as ``export --resources`` takes (default: every
    resource in ``MIRROR_RESOURCES``)."""

    def __init__(
        self,
        dsn: str | None = None,
        *,
        pool: Any = None,
        resources: Iterable[str] | None = None,
        schema: str = "public",
        table_prefix: str = "karbon_",
        page_size: int = 100,
    ) -> None:
        if dsn is None and pool is None:
            raise ValueError("give dsn= (a postgresql:// URL) or pool=")
        self.dsn = dsn
        self.resources = resolve_mirror_resources(resources)
        self.schema = schema
        self.table_prefix = table_prefix
        self.page_size = page_size
        self._pool = pool
        self._own_pool = pool is None
        self._store: MirrorStore | None = None
        self.handlers = ChangeHandlers()

    # -- lifecycle
    @property
    def store(self) -> MirrorStore:
        if self._store is None:
            raise RuntimeError("the Mirror is not open: use `async with mirror:`")
        return self._store

    async def open(self) -> None:
        if self._store is not None:
            return
        if self._pool is None:
            assert self.dsn is not None
            self._pool = await connect_pool(self.dsn)
        store = MirrorStore(self._pool, schema=self.schema, table_prefix=self.table_prefix)
        await store.setup(self.resources)
        self._store = store

    async def aclose(self) -> None:
        self._store = None
        pool = self._pool
        if self._own_pool and pool is not None:
            self._pool = None
            await pool.close()

    async def __aenter__(self) -> Mirror:
        await self.open()
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.aclose()

    # -- handlers
    def on_change(
        self, model: str, *, fields: Iterable[str] | None = None, name: str | None = None
    ) -> Callable[[H], H]:
        """See ``ChangeHandlers.on_change``."""
        return self.handlers.on_change(model, fields=fields, name=name)

    async def dispatch(self, *, limit: int = 100) -> int:
        """See ``ChangeHandlers.dispatch``."""
        return await self.handlers.dispatch(self.store, limit=limit)

    # -- events
    def resources_for(self, event: WebhookEvent) -> list[MirrorResource]:
        webhook_type = event.webhook_type
        if webhook_type is None:
            return []
        return [r for r in self.resources if r.webhook_type == webhook_type.value]

    async def handle(self, client: ResourceSet, account: str, event: WebhookEvent) -> list[Change]:
        """Fetch the record ``event`` is about (BULK lane) and commit it; a ``Deleted`` event,
        or a 404, records a deletion. Errors other than 404 propagate (the caller retries)."""
        candidates = self.resources_for(event)
        if not candidates:
            return []
        key = event.resource_perma_key
        holder = await self.store.locate(account, key, candidates)
        # A Contact event's key may be any of three resources: one that holds it goes first.
        ordered = [holder, *(r for r in candidates if r is not holder)] if holder else candidates
        if event.action_type.value == "Deleted":
            if holder is not None:
                return await self.store.delete(account, holder, key, _now(), source="webhook")
            if len(candidates) == 1:
                return await self.store.delete(
                    account, candidates[0], key, _now(), source="webhook"
                )
            return []
        for resource in ordered:
            sent_at = _now()
            try:
                record = await getattr(client, resource.export.attribute).get.raw(
                    key, lane=Lane.BULK
                )
            except NotFoundError:
                if resource is holder or len(candidates) == 1:
                    return await self.store.delete(
                        account, resource, key, sent_at, source="webhook"
                    )
                continue
            return await self.store.apply(account, resource, [record], sent_at, source="webhook")
        return []

    # -- reconciliation
    async def reconcile(
        self,
        client: ResourceSet,
        account: str,
        *,
        full: bool = False,
        resources: Sequence[str] | None = None,
    ) -> list[ReconcileResult]:
        """One reconciliation pass of each resource (all of the mirror's by default): records
        changed since the watermark where the list is ordered by last change (the first pass
        reads everything: the backfill), a full read otherwise or when ``full``, which also
        records the deletions. A pass interrupted (killed, an error) resumes from its last
        committed page at the next call."""
        chosen = self.resources if resources is None else resolve_mirror_resources(resources)
        results = []
        for resource in chosen:
            results.append(await self._reconcile_one(client, account, resource, full))
        return results

    async def _reconcile_one(
        self, client: ResourceSet, account: str, resource: MirrorResource, full: bool
    ) -> ReconcileResult:
        store = self.store
        state = await store.stream(account, resource.name)
        modified = resource.export.modified_field
        if state.run is None:  # a new pass
            state.run = uuid.uuid4().hex
            state.full = full or modified is None or state.watermark is None
            state.started_at = _now()
            state.next_link = None
        result = ReconcileResult(account, resource.name, state.full)
        source = (
            "backfill" if state.last_full_at is None and state.watermark is None else "reconcile"
        )
        since = None
        if not state.full and state.watermark is not None:
            since = parse_datetime_or_none(state.watermark)
        listing = getattr(client, resource.export.attribute).list
        paginator = (
            listing(resume_from=state.next_link, lane=Lane.BULK)
            if state.next_link is not None
            else listing(
                page_size=self.page_size,
                orderby=f"{modified} desc" if modified is not None else None,
                lane=Lane.BULK,
            )
        )
        new_watermark = state.watermark
        stopped = False
        async for page in paginator.json().pages():
            items = list(page.items)
            if since is not None and modified is not None:
                fresh = _fresh(items, modified, since)
                stopped = fresh < len(items)
                items = items[:fresh]
            if modified is not None and items and result.pages == 0 and state.next_link is None:
                [newest] = field_values(items[:1], modified)
                if isinstance(newest, str):
                    new_watermark = newest
            state.next_link = None if stopped else page.next_link
            # Every page was asked for after the pass began: its start is the fetch time that
            # never claims an item is newer than it is (see _decide).
            assert state.started_at is not None
            records: list[Any] = list(items)
            # A list item says that a record changed, not everything that did: those the
            # mirror holds are fetched whole, so handlers get every changed field.
            await self._fetch_drifted(client, account, resource, records, state.started_at)
            changes = await store.apply(
                account,
                resource,
                records,
                state.started_at,
                source=source,
                seen_run=state.run if state.full else None,
                stream=(resource.name, state),
            )
            result.pages += 1
            result.records += len(items)
            result.changes += changes
            if stopped:
                break
        if state.full:
            assert state.started_at is not None
            deleted = await store.sweep(
                account, resource, state.run, state.started_at, source=source
            )
            result.changes += deleted
            result.deleted = len(deleted)
            state.last_full_at = state.started_at
        state.last_incremental_at = state.started_at
        if modified is not None and new_watermark is not None:
            state.watermark = new_watermark
        state.run, state.next_link, state.started_at = None, None, None
        await store.save_stream(account, resource.name, state)
        return result

    async def _fetch_drifted(
        self,
        client: ResourceSet,
        account: str,
        resource: MirrorResource,
        records: list[Any],
        fetched_at: dt.datetime,
    ) -> None:
        """Replace, in ``records``, the list items that would update a stored record by the
        record fetched whole."""
        drifted = await self.store.drifted(account, resource, records, fetched_at)
        if not drifted:
            return
        field = resource.export.key_field
        get = getattr(client, resource.export.attribute).get.raw
        whole: dict[str, Any] = {}
        for key in drifted:
            try:
                whole[key] = await get(key, lane=Lane.BULK)
            except NotFoundError:
                continue  # gone since the page: the summary stands until a sweep or an event
        for index, (record, key) in enumerate(
            zip(records, field_values(records, field), strict=True)
        ):
            if isinstance(key, str) and key in whole:
                # The list item's own fields (a contact's FullName) stay as listed.
                records[index] = {**loads_record(record), **whole[key]}


def _fresh(items: list[bytes], field: str, since: dt.datetime) -> int:
    """How many leading items (newest first) changed at or after ``since`` (an equal time may
    hide a second change in the same instant, so it is read again; an unreadable time does not
    end the page)."""
    for index, value in enumerate(field_values(items, field)):
        moment = parse_datetime_or_none(value)
        if moment is not None and moment < since:
            return index
    return len(items)
