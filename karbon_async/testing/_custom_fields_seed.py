"""Seed data for custom field definitions (their values are seeded by ``_custom_fields``)."""

from __future__ import annotations

from ._store import CollectionDef, GenContext, Record, plain

__all__ = ["COLLECTIONS"]


_CUSTOM_FIELDS: tuple[tuple[str, str, list[str]], ...] = (
    ("Industry", "ListSingleSelect", ["Construction", "Healthcare", "Hospitality", "Retail"]),
    ("Client Since", "Date", []),
    ("Annual Fee Estimate", "Number", []),
    ("Engagement Letter Signed", "Boolean", []),
    ("Client Partner", "Colleague", []),
    ("Referral Source", "Text", []),
)


def _gen_custom_field(ctx: GenContext) -> Record:
    name, kind, options = _CUSTOM_FIELDS[ctx.index % len(_CUSTOM_FIELDS)]
    return {
        "Key": ctx.key(),
        "Name": name if ctx.index < len(_CUSTOM_FIELDS) else f"{name} {ctx.index}",
        "Type": kind,
        "IsVisibleToContacts": kind != "Number",
        "IsVisibleToOrganizations": True,
        "ListOptions": list(options),
    }


COLLECTIONS: tuple[CollectionDef, ...] = (
    plain(
        "CustomFields",
        "Key",
        _gen_custom_field,
        "Not Found",
        ("Name",),
        paged=False,
        size_of=lambda size: len(_CUSTOM_FIELDS),
    ),
)
