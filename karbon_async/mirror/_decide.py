"""Whether a fetched state replaces the stored one: never older over newer.

Everything here is pure (no I/O): the store calls :func:`decide` and :func:`decide_delete` for
each record while it holds the (account, table) transaction lock, so two appliers never decide
on the same row at once.

The ordering argument
---------------------
Karbon's webhooks say only that a record changed; the mirror fetches it. Deliveries arrive
late, twice, or out of order, and two fetches of one record (an event's and a reconciliation
page's, or two processes') can commit in either order. Each fetched state carries:

* its *version*: the record's last-modified field where the resource has one
  (``LastModifiedDateTime`` on contacts, organizations and client groups, ``UpdatedAt`` on
  invoices), which Karbon moves forward on every change;
* its *fetch time*: when the request that returned it was *sent*. The response reflects the
  record at some moment after that, so a fetch sent later never shows an older state than one
  whose response had already arrived.

A state replaces the stored one only if it is not older: a lower version loses; an equal or
unknown version is a tie, which the later-sent fetch wins. A deletion is stored as a tombstone
(``deleted_at``, the time the deletion was seen: a ``Deleted`` event's arrival or the send time
of a fetch that got 404), and a fetch sent before that time cannot bring the record back; one
sent after it (Karbon restored the record, or a reconciliation pass wrongly took it for gone)
does. A state equal to the stored one changes nothing: duplicates are no-ops.

A list page holds summaries: fewer fields than a single GET, and some of their own (a contact's
``FullName``). So a fetched state is merged into the stored record (its fields replace those
fields; the others are kept), never replacing it whole: the row holds everything last known.
A field the stored record did not carry was unknown, not absent: its first value is stored, but
not announced as a change. (A field Karbon stops sending is therefore kept, not removed.)

What is not guaranteed: a resource without a version (work items) relies on fetch times alone,
which are this machine's clock; mirrors on several machines need clocks in sync to well under
the time between two changes of one record (Karbon coalesces changes over 60 s).
"""

from __future__ import annotations

import datetime as dt
import enum
from collections.abc import Callable, Mapping
from typing import Any

import attrs

from .._converter import parse_datetime_or_none


class Verdict(enum.Enum):
    INSERTED = "Inserted"
    UPDATED = "Updated"
    DELETED = "Deleted"
    UNCHANGED = "Unchanged"
    """Equal to the stored state (a duplicate): nothing is written."""
    STALE = "Stale"
    """Older than the stored state, or fetched before a deletion that was recorded."""

    @property
    def writes(self) -> bool:
        return self in (Verdict.INSERTED, Verdict.UPDATED, Verdict.DELETED)


@attrs.frozen
class Stored:
    """A row as the store holds it."""

    record: Mapping[str, Any]
    fetched_at: dt.datetime
    deleted_at: dt.datetime | None = None


@attrs.frozen
class Decision:
    verdict: Verdict
    record: Mapping[str, Any] | None = None
    """The record to store (None unless the verdict writes one)."""
    changed: tuple[str, ...] = ()
    """Top-level fields whose values differ between the stored and the new record (an update
    with none only adds fields the stored record did not carry: written, not announced)."""


def version_of(record: Mapping[str, Any], field: str | None) -> dt.datetime | None:
    """The record's version, or None when the resource has none or the value is unreadable
    (a record with a malformed version is then ordered by fetch time)."""
    if field is None:
        return None
    return parse_datetime_or_none(record.get(field))


Same = Callable[[str, Any, Any], bool]
"""``same(field, a, b)``: whether two values of ``field`` mean the same (Karbon spells some
values differently by endpoint: ``In Progress`` listed, ``InProgress`` from a single GET)."""


def _equal(field: str, a: Any, b: Any) -> bool:
    return bool(a == b)


def changed_fields(
    before: Mapping[str, Any] | None, after: Mapping[str, Any] | None, same: Same = _equal
) -> tuple[str, ...]:
    """The top-level fields added, removed or changed, sorted."""
    old = before or {}
    new = after or {}
    return tuple(
        sorted(
            k
            for k in old.keys() | new.keys()
            if (k in old) != (k in new) or not same(k, old[k], new[k])
        )
    )


_ABSENT = object()


def decide(
    stored: Stored | None,
    record: Mapping[str, Any],
    fetched_at: dt.datetime,
    *,
    version_field: str | None,
    same: Same = _equal,
) -> Decision:
    """What to do with ``record`` (a single GET's or a list item), fetched by a request sent at
    ``fetched_at``."""
    if stored is None:
        return Decision(Verdict.INSERTED, dict(record), changed_fields(None, record))
    if stored.deleted_at is not None and fetched_at <= stored.deleted_at:
        return Decision(Verdict.STALE)
    old, new = version_of(stored.record, version_field), version_of(record, version_field)
    if old is not None and new is not None and new != old:
        if new < old:
            return Decision(Verdict.STALE)
    elif fetched_at < stored.fetched_at:
        return Decision(Verdict.STALE)  # a tie: the later-sent fetch wins
    old_record = stored.record
    if stored.deleted_at is not None:  # back from the dead
        merged = {**old_record, **record}
        return Decision(Verdict.INSERTED, merged, changed_fields(None, merged))
    # A value spelt otherwise but meaning the same keeps its stored spelling: no churn.
    fresh = {
        k: v for k, v in record.items() if k not in old_record or not same(k, old_record[k], v)
    }
    if not fresh:
        return Decision(Verdict.UNCHANGED)
    merged = {**old_record, **fresh}
    # A field the stored record lacked was unknown, not absent (a list item carries fewer
    # fields than a single GET): storing it is learning, not a change to announce.
    changed = tuple(sorted(f for f in fresh if f in old_record))
    return Decision(Verdict.UPDATED, merged, changed)


def decide_delete(stored: Stored | None, seen_at: dt.datetime) -> Decision:
    """What to do when the record was seen gone at ``seen_at``: a tombstone, unless a fetch sent
    later found it (then the deletion is the stale news)."""
    if stored is None:
        return Decision(Verdict.DELETED, None, ())
    if stored.deleted_at is not None:
        return Decision(Verdict.UNCHANGED)
    if stored.fetched_at > seen_at:
        return Decision(Verdict.STALE)
    return Decision(Verdict.DELETED, None, tuple(sorted(stored.record)))
