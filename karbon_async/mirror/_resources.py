"""What the mirror keeps: one row per resource, built on the exporter's registry.

Adding a resource is one line in ``MIRROR_RESOURCES``: the export resource (its table, list and
key field), the model its records decode to, the webhook type whose events announce its changes
and the field that orders its versions.
"""

from __future__ import annotations

import datetime as dt
import functools
import typing
from collections.abc import Iterable
from typing import Any

import attrs

from .. import models
from .._converter import api_name, structure
from .._exceptions import KarbonError
from .._model_base import KarbonEnum
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

    def same_value(self, field: str, a: Any, b: Any) -> bool:
        """Whether ``a`` and ``b`` mean the same as values of ``field``: equal, or spellings
        of one enum member or one moment (``In Progress`` / ``InProgress``; ``...00Z`` /
        ``...00.0000000Z``), as the model decodes them."""
        if a == b:
            return True
        kind = _typed_scalars(self.model).get(field)
        if kind is None or not isinstance(a, str) or not isinstance(b, str):
            return False
        try:
            return bool(structure(a, kind) == structure(b, kind))
        except (KarbonError, TypeError, ValueError):
            return False


_SCALARS = (KarbonEnum, dt.date)


@functools.cache
def _typed_scalars(model: type) -> dict[str, type]:
    """API field name -> enum, datetime or date type, for the fields of ``model`` holding one."""
    hints = typing.get_type_hints(model)
    found: dict[str, type] = {}
    for field in attrs.fields(model):
        hint = hints.get(field.name)
        kinds = [t for t in typing.get_args(hint) or (hint,) if t is not type(None)]
        # (A datetime is a date.)
        if len(kinds) == 1 and isinstance(kinds[0], type) and issubclass(kinds[0], _SCALARS):
            found[api_name(field)] = kinds[0]
    return found


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
