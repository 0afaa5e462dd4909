"""What the mirror keeps: one row per resource, built on the exporter's registry.

Adding a resource is one line in ``MIRROR_RESOURCES``: the export resource (its table, list and
key field), the model its records decode to, the webhook type whose events announce its changes
and the field that orders its versions.
"""

from __future__ import annotations

from collections.abc import Iterable

import attrs

from .. import models
from ..export._registry import RESOURCES, ExportResource, resolve_resources


@attrs.frozen
class MirrorResource:
    export: ExportResource
    """Table name, list endpoint and key field, as ``export --to postgresql`` uses them."""
    model: type
    """The attrs model a stored record decodes to (``Change.before`` / ``.after``)."""
    webhook_type: str
    """The subscription whose events announce changes (Karbon's ``WebhookType``)."""
    version_field: str | None
    """A last-modified field Karbon moves forward on every change, or None (fetch order then
    decides; see ``_decide``)."""

    @property
    def name(self) -> str:
        return self.export.name

    @property
    def model_name(self) -> str:
        return self.model.__name__


MIRROR_RESOURCES: dict[str, MirrorResource] = {
    r.name: r
    for r in (
        MirrorResource(RESOURCES["contacts"], models.Contact, "Contact", "LastModifiedDateTime"),
        MirrorResource(
            RESOURCES["organizations"], models.Organization, "Contact", "LastModifiedDateTime"
        ),
        MirrorResource(
            RESOURCES["client-groups"], models.ClientGroup, "Contact", "LastModifiedDateTime"
        ),
        MirrorResource(RESOURCES["work-items"], models.WorkItem, "Work", None),
        MirrorResource(RESOURCES["invoices"], models.Invoice, "Invoice", "UpdatedAt"),
    )
}
"""Every resource the mirror can keep. A ``Contact`` event's key may be a contact, an
organization or a client group (Karbon: one webhook type for the three), so the three share it.
Notes (and their comments) and custom field values have webhook types but no list to backfill
or reconcile from in the same shape; they are not mirrored yet."""

DEFAULT_MIRROR_RESOURCES = tuple(MIRROR_RESOURCES)


def resolve_mirror_resources(names: Iterable[str] | None) -> list[MirrorResource]:
    """The mirror resources named (any spelling the exporter accepts), or all of them."""
    if names is None:
        return list(MIRROR_RESOURCES.values())
    wanted = resolve_resources(names)
    unknown = [r.name for r in wanted if r.name not in MIRROR_RESOURCES]
    if unknown:
        raise ValueError(
            f"not mirrored: {', '.join(unknown)} (mirrored: {', '.join(MIRROR_RESOURCES)})"
        )
    return [MIRROR_RESOURCES[r.name] for r in wanted]


def resources_for_model(name: str) -> list[MirrorResource]:
    """The resources whose records decode to the model named ``name`` (or named ``name``)."""
    found = [
        r for r in MIRROR_RESOURCES.values() if name in (r.model_name, r.name, r.export.attribute)
    ]
    if not found:
        known = sorted({r.model_name for r in MIRROR_RESOURCES.values()})
        raise ValueError(f"no mirrored resource {name!r} (known: {', '.join(known)})")
    return found
