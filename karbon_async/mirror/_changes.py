"""A committed change of one mirrored record, as handlers receive it."""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from typing import Any

import attrs

from .._converter import structure


@attrs.frozen
class Change:
    """One change the mirror committed (an outbox row, written in the same transaction).

    ``id`` is unique and stable: a handler may see a change more than once (delivery is at
    least once), and ``id`` is the key to deduplicate on. ``before_json``/``after_json`` are the
    stored records (the API's JSON; None before an insert and after a delete); ``before`` and
    ``after`` decode them to the resource's model on first use.
    """

    id: int
    account: str
    resource: str
    """The mirror resource, e.g. ``"work-items"``."""
    key: str
    action: str
    """``"Inserted"``, ``"Updated"`` or ``"Deleted"``."""
    changed_fields: tuple[str, ...]
    """Top-level API fields whose values differ (every field of an insert or a delete)."""
    before_json: Mapping[str, Any] | None = attrs.field(repr=False)
    after_json: Mapping[str, Any] | None = attrs.field(repr=False)
    source: str
    """What found it: ``"webhook"``, ``"reconcile"`` or ``"backfill"``."""
    committed_at: dt.datetime
    model: type = attrs.field(repr=False)

    @property
    def before(self) -> Any:
        """The record before the change, typed (None for an insert)."""
        return None if self.before_json is None else structure(dict(self.before_json), self.model)

    @property
    def after(self) -> Any:
        """The record after the change, typed (None for a delete)."""
        return None if self.after_json is None else structure(dict(self.after_json), self.model)
