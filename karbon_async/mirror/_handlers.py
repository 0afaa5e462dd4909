"""Change handlers: who listens to which committed changes, and delivering the outbox to them.

Every change the store commits is an outbox row (``karbon_mirror_changes``, written in the same
transaction as the record). Each handler has its own deliveries (``karbon_mirror_deliveries``):
a change is acknowledged for a handler only after the handler returned, so delivery is at least
once per handler, in commit order, and a handler that raises gets the same change again at the
next dispatch while the others go on.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Iterable, Sequence
from typing import Any, TypeVar

import attrs

from ._changes import Change
from ._resources import MIRROR_RESOURCES, resources_for_model
from ._store import MirrorStore, loads_record

ChangeHandler = Callable[[Change], Awaitable[Any]]
H = TypeVar("H", bound=ChangeHandler)


@attrs.frozen
class Subscription:
    """A handler and what it listens to."""

    name: str
    """Its delivery cursor's name: stable across restarts (module and qualified name)."""
    resources: tuple[str, ...]
    fields: tuple[str, ...] | None
    handler: ChangeHandler


class ChangeHandlers:
    """The handlers of one mirror (``Mirror.on_change`` registers here)."""

    def __init__(self) -> None:
        self.subscriptions: list[Subscription] = []

    def on_change(
        self, model: str, *, fields: Iterable[str] | None = None, name: str | None = None
    ) -> Callable[[H], H]:
        """Run the decorated ``async def handler(change)`` for each committed change of the
        resources whose model is ``model`` (``"WorkItem"``, ``"Contact"``, or a resource name),
        only those touching one of ``fields`` (API names) when given. At least once per change
        (``change.id`` to deduplicate), in commit order per handler, after the change is
        committed; a handler that raises gets the same change again at the next dispatch.
        ``name`` (default: the function's module and qualified name) keys its deliveries, so it
        must stay the same across restarts."""
        resources = tuple(r.name for r in resources_for_model(model))
        wanted = None if fields is None else tuple(fields)

        def register(handler: H) -> H:
            label = name or f"{handler.__module__}.{handler.__qualname__}"
            if any(s.name == label for s in self.subscriptions):
                raise ValueError(f"a handler named {label!r} is already registered")
            self.subscriptions.append(Subscription(label, resources, wanted, handler))
            return handler

        return register

    async def dispatch(self, store: MirrorStore, *, limit: int = 100) -> int:
        """Deliver committed changes to every handler (up to ``limit`` each); how many were
        handled. A handler's failure stops only its own batch (it is retried next time)."""
        handled = 0
        for sub in self.subscriptions:
            changes = await pending(store, sub.name, sub.resources, sub.fields, limit)
            for change in changes:
                try:
                    await sub.handler(change)
                except Exception:
                    break
                await acknowledge(store, sub.name, [change.id])
                handled += 1
        return handled


async def pending(
    store: MirrorStore,
    handler: str,
    resources: Sequence[str],
    fields: Sequence[str] | None = None,
    limit: int = 100,
) -> list[Change]:
    """Committed changes of ``resources`` (touching one of ``fields``, when given) that
    ``handler`` has not acknowledged, oldest first."""
    rows = await store.pool.fetch(
        f"SELECT c.id, c.account, c.resource, c.key, c.action, c.changed, c.before::text, "
        f"c.after::text, c.source, c.committed_at FROM {store.changes_table} c "
        "WHERE c.resource = ANY($2::text[]) AND NOT EXISTS (SELECT 1 FROM "
        f"{store.deliveries_table} d WHERE d.handler = $1 AND d.change_id = c.id) "
        "AND ($4::text[] IS NULL OR c.changed && $4::text[]) ORDER BY c.id LIMIT $3",
        handler,
        list(resources),
        limit,
        None if fields is None else list(fields),
    )
    return [
        Change(
            id=row["id"],
            account=row["account"],
            resource=row["resource"],
            key=row["key"],
            action=row["action"],
            changed_fields=tuple(row["changed"]),
            before_json=None if row["before"] is None else loads_record(row["before"]),
            after_json=None if row["after"] is None else loads_record(row["after"]),
            source=row["source"],
            committed_at=row["committed_at"],
            model=MIRROR_RESOURCES[row["resource"]].model,
        )
        for row in rows
    ]


async def acknowledge(store: MirrorStore, handler: str, change_ids: Sequence[int]) -> None:
    await store.pool.execute(
        f"INSERT INTO {store.deliveries_table} (handler, change_id) "
        "SELECT $1, unnest($2::bigint[]) ON CONFLICT DO NOTHING",
        handler,
        list(change_ids),
    )
