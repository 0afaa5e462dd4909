"""All collections of the fake, in the order it serves them, and one account's data.

The domain seed modules each define their collections; this module puts them in one table
(:data:`COLLECTIONS`) and builds :class:`AccountData`, which owns an account's stores.
"""

from __future__ import annotations

import random
from collections.abc import Mapping

from . import _billing_seed, _clients_seed, _custom_fields_seed, _people_seed, _work_seed
from ._keys import Keyer, mix64
from ._store import CollectionDef, CollectionStore, Record, ascii_fold, pick

__all__ = ["COLLECTIONS", "AccountData"]


_BY_NAME: dict[str, CollectionDef] = {
    d.name: d
    for d in (
        *_clients_seed.COLLECTIONS,
        *_work_seed.COLLECTIONS,
        *_people_seed.COLLECTIONS,
        *_billing_seed.COLLECTIONS,
        *_custom_fields_seed.COLLECTIONS,
    )
}
_ORDER = (
    "Contacts", "Organizations", "ClientGroups", "WorkItems", "Users", "Roles", "Teams",
    "WorkTemplates", "Timesheets", "IndividualTimeEntries", "Invoices", "Payments",
    "CustomFields", "IntegrationTaskDefinitions", "IntegrationTasks", "WorkSchedules", "Notes",
    "Comments", "Expenses",
)  # fmt: skip
COLLECTIONS: dict[str, CollectionDef] = {name: _BY_NAME[name] for name in _ORDER}
"""Every collection the fake serves, in the order ``FakeKarbon.collections`` lists them."""
assert COLLECTIONS.keys() == _BY_NAME.keys(), "a collection is missing from _ORDER"


_FIRMS = (
    "Ledgerline Accounting", "Brightbooks CPA", "Tally & Thorne", "Kestrel Advisory",
    "Northstar Tax", "Fernhill Partners",
)  # fmt: skip


_DERIVED_SIZES: dict[str, tuple[str, int, int]] = {
    # collection: (source, numerator, denominator) -- sized from another so links stay valid
    "IndividualTimeEntries": ("Timesheets", _work_seed.ENTRIES_PER_TIMESHEET, 1),
    "Payments": ("Invoices", 1, 1),
    "Comments": ("Notes", _people_seed.COMMENTS_PER_NOTE, 1),
    "WorkSchedules": ("WorkItems", 1, 10),
}


class AccountData:
    """All collections of one fake account (tenant), created lazily on first use."""

    def __init__(
        self, seed: int, account: int, size: int, sizes: Mapping[str, int] | None = None
    ) -> None:
        self.seed = seed
        self.account = account
        self.size = size
        self._sizes = dict(sizes or {})
        self.salt = mix64(mix64(seed) ^ mix64(account + 0x5EED))
        self._keyers: dict[str, Keyer] = {}
        rng = random.Random(self.salt)
        self.firm = f"{pick(rng, _FIRMS)}"
        self.domain = f"{ascii_fold(self.firm)}.example"
        self.tenant_key = self.keyer("Tenant").key(0)
        self._stores: dict[str, CollectionStore] = {}

    def organization_of(self, contact: int) -> int | None:
        """The organization a generated contact works at (about 40% work at one).

        Links are structural (contacts 2j and 2j+1 may belong to organization j) rather than
        random so both directions can be computed without generating the other side: contact
        -> OrganizationKey on its card and organization -> ``Contacts`` expand agree.
        """
        if mix64(self.salt ^ 0xC0FFEE ^ contact) % 5 >= 2:
            return None
        org = contact // 2
        return org if org < self.store("Organizations").base_size else None

    def contacts_of(self, organization: int) -> list[int]:
        """Generated contacts linked to ``organization`` (inverse of ``organization_of``)."""
        size = self.store("Contacts").base_size
        return [
            i
            for i in (2 * organization, 2 * organization + 1)
            if i < size and self.organization_of(i) == organization
        ]

    def keyer(self, namespace: str) -> Keyer:
        """The key namespace ``namespace`` of this account (cached: building one hashes)."""
        keyer = self._keyers.get(namespace)
        if keyer is None:
            keyer = self._keyers[namespace] = Keyer(self.seed, self.account, namespace)
        return keyer

    def store(self, name: str) -> CollectionStore:
        """The store for collection ``name`` (one of :data:`COLLECTIONS`)."""
        store = self._stores.get(name)
        if store is None:
            definition = COLLECTIONS[name]
            derived = _DERIVED_SIZES.get(name)
            if name in self._sizes:
                size = self._sizes[name]
            elif derived is not None:
                source, num, den = derived
                size = self.store(source).base_size * num // den
            else:
                size = definition.size_of(self.size)
            store = CollectionStore(self, definition, max(0, size))
            self._stores[name] = store
        return store

    def tenant_settings(self) -> Record:
        """GET /v3/TenantSettings body (without @odata.context)."""
        return _work_seed.tenant_settings(self.keyer("TenantSettings"), self.tenant_key)
