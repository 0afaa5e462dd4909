"""A live mirror of Karbon in PostgreSQL, kept fresh by webhooks, with field-level change events.

::

    from karbon_async import mirror as mr

    mirror = mr.Mirror("postgresql://...", resources=["contacts", "work-items"])

    @mirror.on_change("WorkItem", fields=["PrimaryStatus"])
    async def moved(change: mr.Change) -> None: ...

See ``Mirror`` for the pieces, ``_decide`` for the ordering argument (never older over newer),
``_store`` for the tables (the same record tables as ``export --to postgresql``) and
``_handlers`` for delivering committed changes, ``_fleet`` for fetching on the Celery fleet.
"""

from ._changes import Change
from ._decide import Decision, Stored, Verdict, changed_fields, decide, decide_delete
from ._fleet import EVENT_TASK, MIRROR_QUEUE, FleetEvents, register_mirror_task
from ._handlers import ChangeHandler, ChangeHandlers, Subscription
from ._mirror import Mirror, ReconcileResult
from ._resources import (
    DEFAULT_MIRROR_RESOURCES,
    MIRROR_RESOURCES,
    MirrorResource,
    resolve_mirror_resources,
)
from ._service import AccountStats, MirrorService
from ._store import MirrorStore, StreamRow

__all__ = [
    "AccountStats",
    "DEFAULT_MIRROR_RESOURCES",
    "EVENT_TASK",
    "MIRROR_QUEUE",
    "MIRROR_RESOURCES",
    "Change",
    "ChangeHandler",
    "ChangeHandlers",
    "Decision",
    "FleetEvents",
    "Mirror",
    "MirrorResource",
    "MirrorService",
    "MirrorStore",
    "ReconcileResult",
    "Stored",
    "StreamRow",
    "Subscription",
    "Verdict",
    "changed_fields",
    "decide",
    "decide_delete",
    "register_mirror_task",
    "resolve_mirror_resources",
]
