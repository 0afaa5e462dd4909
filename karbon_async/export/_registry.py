"""Which list resources can be exported: one row per resource.

Adding a resource is one line in ``RESOURCES``: its command-line name, the attribute of the
client whose ``.list`` streams it, the field that keys a record and, when the API can sort it
newest-changed first, the field an incremental sync stops on.
"""

from __future__ import annotations

from collections.abc import Iterable

import attrs


@attrs.frozen
class ExportResource:
    """How one list resource is exported."""

    name: str
    """The command-line and file name, e.g. ``"work-items"``."""
    attribute: str
    """The client attribute whose ``.list()`` streams it, e.g. ``"work_items"``."""
    key_field: str
    """The JSON field that identifies a record (used by sinks that upsert)."""
    modified_field: str | None = None
    """A field the list can be ordered by descending (``"<field> desc"``) that changes whenever
    the record changes. Set: ``since=`` syncs stop at the saved watermark. None: ``since=``
    falls back to a full export of this resource (see the package docs)."""

    @property
    def incremental(self) -> bool:
        return self.modified_field is not None


RESOURCES: dict[str, ExportResource] = {
    r.name: r
    for r in (
        ExportResource("contacts", "contacts", "ContactKey", "LastModifiedDateTime"),
        ExportResource("organizations", "organizations", "OrganizationKey", "LastModifiedDateTime"),
        ExportResource("work-items", "work_items", "WorkItemKey"),
        ExportResource("users", "users", "Id"),
        ExportResource("client-groups", "client_groups", "ClientGroupKey"),
        ExportResource("work-templates", "work_templates", "WorkTemplateKey"),
        ExportResource("timesheets", "timesheets", "TimesheetKey"),
        ExportResource("time-entries", "time_entries", "IndividualTimeEntryKey"),
        ExportResource("invoices", "invoices", "InvoiceKey"),
        ExportResource("payments", "payments", "PaymentKey"),
        ExportResource("teams", "teams", "TeamKey"),
        ExportResource("roles", "roles", "Key"),
        ExportResource("custom-fields", "custom_fields", "Key"),
    )
}
"""Every exportable resource by name; extend it with ``register_resource``.

Incremental (``since=``) syncs need a list Karbon can order by a last-modified time: only
contacts and organizations have one. The others are exported in full on every run: their lists
either have no modification time (work items, users, teams, ...) or only business dates
(a timesheet's ``StartDate``, an invoice's ``InvoiceDate``) that say nothing about later edits,
so a date filter would silently miss changed records."""

DEFAULT_RESOURCES = ("contacts", "organizations", "work-items", "users")
"""What ``karbon-async export`` exports when ``--resources`` is not given."""


def register_resource(resource: ExportResource) -> None:
    """Make another list resource exportable (e.g. one a newer client version adds)."""
    RESOURCES[resource.name] = resource


def resolve_resources(names: Iterable[str]) -> list[ExportResource]:
    """The resources named (``work_items`` and ``WorkItems`` spellings accepted), in order.

    Raises ``ValueError`` naming the unknown ones and listing the known ones.
    """
    wanted: list[ExportResource] = []
    unknown: list[str] = []
    folded = {_fold(name): r for name, r in RESOURCES.items()}
    for name in names:
        resource = folded.get(_fold(name))
        if resource is None:
            unknown.append(name)
        elif resource not in wanted:
            wanted.append(resource)
    if unknown:
        raise ValueError(
            f"unknown resource(s): {', '.join(unknown)} (known: {', '.join(sorted(RESOURCES))})"
        )
    if not wanted:
        raise ValueError("no resources given")
    return wanted


def _fold(name: str) -> str:
    return name.strip().lower().replace("-", "").replace("_", "")
