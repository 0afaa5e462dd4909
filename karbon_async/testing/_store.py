"""The fake's data engine: lazily generated, deterministic collections with write overlays.

Each record is a pure function of ``(seed, account, collection, index)``: nothing is generated
until asked for, so a collection of a million records costs nothing until it is paged through,
and the same seed always yields the same data (tests can compute what they expect). Changes made
through :class:`CollectionStore` (``put``/``delete``/``create``) live in overlays, never in the
generated base.

A collection is a :class:`CollectionDef` (a generator and a summary projection plus Karbon's
OData names); the domain modules (``_clients_seed``, ``_work_seed``, ...) define theirs and
``_data`` assembles them. Records are stored in their *canonical* shape: the single-GET shape
with every expandable navigation property filled in and ``PrimaryStatus`` in its unspaced enum
form. List items are a projection of it (``summary``); single GETs drop navigation properties
that were not expanded.
"""

from __future__ import annotations

import bisect
import copy
import functools
import random
import uuid
from collections.abc import Callable, Iterator, Mapping
from datetime import datetime, timezone
from typing import Any, Protocol

import attrs

from ._keys import Keyer, hash_str, mix64

__all__ = ["CollectionDef", "CollectionStore", "GenContext", "Record", "Tenant"]

Record = dict[str, Any]


# --------------------------------------------------------------------------- generation helpers


FIRST_NAMES = (
    "Aisha", "Liam", "Priya", "Noah", "Mei", "Oliver", "Sofia", "Mateo", "Grace", "Ethan",
    "Zara", "Lucas", "Hannah", "Kenji", "Chloe", "Arjun", "Isla", "Diego", "Amara", "Jack",
    "Fatima", "Samuel", "Ruby", "Tariq", "Emily", "Connor", "Nadia", "Hugo", "Leah", "Ravi",
    "Siobhan", "Declan", "Maeve", "Tomás", "Zoë", "André", "Ngozi", "Wei", "Olga", "Kai",
)  # fmt: skip


LAST_NAMES = (
    "O'Brien", "Sharma", "Nguyen", "Smith", "O'Connor", "Garcia", "Chen", "Williams", "Patel",
    "D'Angelo", "Kowalski", "Murphy", "Okafor", "Tanaka", "McAllister", "Johansson", "Silva",
    "O'Neill", "Dubois", "Rossi", "Müller", "Haddad", "Fitzgerald", "Kim", "Walsh", "Brown",
    "Ivanova", "Mendes", "Van der Berg", "Taylor", "Singh", "Lopez", "N'Diaye", "Cohen",
)  # fmt: skip


EPOCH_2022 = 1_640_995_200  # 2022-01-01T00:00:00Z


SPAN = 4 * 365 * 86_400


@functools.lru_cache(maxsize=4096)
def ascii_fold(text: str) -> str:
    """Fold a name to something usable in an email address or identifier."""
    table = str.maketrans("üöéáàñô", "uoeaano")
    return "".join(c for c in text.translate(table).lower() if c.isalnum())


def ticks_datetime(seconds: int, ticks: int) -> str:
    """A .NET-style timestamp with 7 fractional digits, like Karbon's LastModifiedDateTime."""
    dt = datetime.fromtimestamp(seconds, tz=timezone.utc)
    return f"{dt:%Y-%m-%dT%H:%M:%S}.{ticks:07d}Z"


def midnight(seconds: int) -> str:
    dt = datetime.fromtimestamp(seconds - seconds % 86_400, tz=timezone.utc)
    return f"{dt:%Y-%m-%dT%H:%M:%S}Z"


def guid(rng: random.Random) -> str:
    return str(uuid.UUID(int=rng.getrandbits(128), version=4))


def pick(rng: random.Random, seq: tuple[Any, ...]) -> Any:
    return seq[rng.randrange(len(seq))]


def udi(prefix: str, infix: str, index: int) -> str:
    """A UserDefinedIdentifier whose trailing number is index + 1, so it is reversible."""
    return f"{(ascii_fold(prefix)[:4] or 'X').upper()}-{infix}-{index + 1:04d}"


def money(value: float) -> float:
    """Round to cents the way a decimal amount serialises (1607.13, never 1607.1300001)."""
    return round(value + 1e-9, 2)


def identity(r: Record) -> Record:
    return r


# --------------------------------------------------------------------------- definitions


class Tenant(Protocol):
    """What generators and stores see of an account (``_data.AccountData``)."""

    salt: int
    domain: str

    def store(self, name: str) -> CollectionStore: ...
    def keyer(self, namespace: str) -> Keyer: ...
    def organization_of(self, contact: int) -> int | None: ...
    def contacts_of(self, organization: int) -> list[int]: ...
    def tenant_settings(self) -> Record: ...


@attrs.frozen
class Ref:
    """A generated record of another collection, for cross-references (owner, client, ...)."""

    key: str
    record: Record


class GenContext:
    """What a generator may see: the account, its RNG and other collections' base records."""

    def __init__(self, account: Tenant, collection: str, index: int) -> None:
        self.account = account
        self.collection = collection
        self.index = index
        self.rng = random.Random(mix64(account.salt ^ _collection_hash(collection) ^ index))

    def key(self) -> str:
        return self.account.store(self.collection).key_of(self.index)

    def sub_key(self, kind: str, n: int = 0) -> str:
        """A stable key for a nested object (a business card, a team) of this record."""
        return self.account.keyer(f"{self.collection}/{kind}").key(self.index * 16 + n)

    def ref(self, collection: str, index: int | None = None) -> Ref:
        """Another collection's record: ``index`` or one picked with this record's RNG."""
        store = self.account.store(collection)
        if index is None:
            index = self.rng.randrange(max(1, store.base_size))
        return Ref(store.key_of(index), store.base_record(index))

    def modified(self) -> str:
        return ticks_datetime(EPOCH_2022 + self.rng.randrange(SPAN), self.rng.randrange(10_000_000))


_HASHES: dict[str, int] = {}


def _collection_hash(name: str) -> int:
    value = _HASHES.get(name)
    if value is None:
        value = _HASHES[name] = mix64(hash_str(name))
    return value


Generator = Callable[[GenContext], Record]


Projection = Callable[[Record], Record]


@attrs.frozen
class CollectionDef:
    """Everything the server needs to serve one entity set.

    ``generate`` builds the canonical record; ``summary`` projects it to a list item; ``expand``
    names navigation properties that single GETs return only when asked for via ``$expand``.
    The OData context/type strings are Karbon's own, per the spec's examples.
    """

    name: str
    key_field: str
    generate: Generator
    summary: Projection
    not_found: Callable[[str], str]
    list_context: str  # after "<base>/v3/", e.g. "$metadata#Contacts/KarbonService.X"
    list_item_type: str | None  # "@odata.type" of list items, None when Karbon sends none
    single_context: str
    single_type: str | None
    orderby: frozenset[str]
    expand: frozenset[str] = frozenset()
    case_insensitive: frozenset[str] = frozenset()
    max_top: int = 100
    size_of: Callable[[int], int] = attrs.field(default=lambda size: size)
    udi_function: str | None = None  # e.g. "GetContactByUserDefinedIdentifier"
    udi_entity: str = ""  # for the UDI 404 message
    guid_keys: bool = False  # keys look like GUIDs (IndividualTimeEntries)
    count_default: bool = True  # "@odata.count" without "$count=true"
    list_expand: bool = False  # "$expand" also works on the list (Timesheets)
    filter_fields: frozenset[str] | None = None  # what $filter may name (None: any list field)
    paged: bool = True  # False: the list is one unpaged envelope, no $top/$skip
    envelope: str = "value"  # IntegrationTaskDefinitions says "values"
    listable: bool = True  # False: only single GETs (Notes, Comments, WorkSchedules)

    @property
    def filter_type(self) -> str:
        """Type named in "Could not find a property" messages."""
        return (self.list_item_type or f"#KarbonService.{self.name}").split(".", 1)[1]


def gen_nothing(ctx: GenContext) -> Record:
    """Collections that start empty (created only through the API) never generate."""
    raise LookupError(f"{ctx.collection} has no generated records")


def defn(
    name: str,
    key_field: str,
    dto: str,
    generate: Generator,
    summary: Projection,
    not_found: str,
    orderby: tuple[str, ...],
    **extra: Any,
) -> CollectionDef:
    """A definition with Karbon's usual context/type naming (``XSummaryDTO``/``XDTO``)."""
    defaults: dict[str, Any] = {
        "list_context": f"$metadata#{name}/KarbonService.{dto}SummaryDTO",
        "list_item_type": f"#KarbonService.{dto}SummaryDTO",
        "single_context": f"$metadata#{name}/KarbonService.{dto}DTO/$entity",
        "single_type": f"#KarbonService.{dto}DTO",
    }
    defaults.update(extra)
    return CollectionDef(
        name=name,
        key_field=key_field,
        generate=generate,
        summary=summary,
        not_found=lambda key: not_found.replace("{key}", key),
        orderby=frozenset((*orderby, key_field)),
        **defaults,
    )


def plain(
    name: str,
    key_field: str,
    generate: Generator,
    not_found: str,
    orderby: tuple[str, ...],
    *,
    summary: Projection = identity,
    **extra: Any,
) -> CollectionDef:
    """A definition for the newer endpoints, whose responses carry no "@odata.type"."""
    defaults: dict[str, Any] = {
        "list_context": f"$metadata#{name}",
        "list_item_type": None,
        "single_context": f"$metadata#{name}/$entity",
        "single_type": None,
    }
    defaults.update(extra)
    return defn(name, key_field, "", generate, summary, not_found, orderby, **defaults)


# --------------------------------------------------------------------------- stores


class CollectionStore:
    """One account's view of one collection: lazy base records plus overlays.

    Default order is generation order (index order), then records created later. Logical
    positions skip deleted indexes with a bisect over the sorted deletion list, so fetching a
    page is O(page size + log deletions) however large the collection is.
    """

    _CACHE_LIMIT = 20_000

    def __init__(self, account: Tenant, definition: CollectionDef, base_size: int) -> None:
        self.account = account
        self.definition = definition
        self.base_size = base_size
        self._keyer = account.keyer(definition.name)
        self._overlay: dict[int, Record] = {}
        self._deleted: list[int] = []
        self._deleted_set: set[int] = set()
        self._created = 0
        self._cache: dict[int, Record] = {}
        self._fields: frozenset[str] | None = None
        self._summaries: dict[int, Record] = {}
        self._versions: dict[int, int] = {}

    # -- identity
    @property
    def name(self) -> str:
        return self.definition.name

    def key_of(self, index: int) -> str:
        if self.definition.guid_keys:
            return self._keyer.guid(index)
        return self._keyer.key(index)

    def is_key_shaped(self, key: str) -> bool:
        """Whether ``key`` has the shape of this collection's keys (GUID or PermaKey)."""
        if self.definition.guid_keys:
            try:
                uuid.UUID(key)
            except ValueError:
                return False
        return True

    def index_of(self, key: str) -> int | None:
        """The live index ``key`` names, or None (unknown, deleted or never created)."""
        keyer = self._keyer
        index = keyer.guid_index(key) if self.definition.guid_keys else keyer.index(key)
        if index is None or index >= self.base_size + self._created:
            return None
        if index in self._deleted_set:
            return None
        return index

    # -- records
    def base_record(self, index: int) -> Record:
        """The generated record at ``index`` (ignores overlays). Callers must not mutate it."""
        cached = self._cache.get(index)
        if cached is None:
            if len(self._cache) >= self._CACHE_LIMIT:
                self._cache.clear()
            cached = self.definition.generate(GenContext(self.account, self.name, index))
            self._cache[index] = cached
        return cached

    def summary_at(self, index: int) -> Record:
        """The list-item shape of the record at a live index (cached). Do not mutate."""
        cached = self._summaries.get(index)
        if cached is None:
            if len(self._summaries) >= self._CACHE_LIMIT:
                self._summaries.clear()
            cached = self.definition.summary(self.record_at(index))
            self._summaries[index] = cached
        return cached

    def record_at(self, index: int) -> Record:
        """The current canonical record at a live index (overlay first). Do not mutate."""
        overlay = self._overlay.get(index)
        return overlay if overlay is not None else self.base_record(index)

    @property
    def fields(self) -> frozenset[str]:
        """Properties of list items: what ``$filter`` may name."""
        if self._fields is None:
            self._fields = frozenset(self.definition.summary(self.base_record(0)))
        return self._fields

    @property
    def count(self) -> int:
        """How many records the collection currently holds."""
        return self.base_size + self._created - len(self._deleted)

    def _physical(self, position: int) -> int:
        """Map a logical position (0-based, deletions skipped) to an index."""
        index = position
        while True:
            shifted = position + bisect.bisect_right(self._deleted, index)
            if shifted == index:
                return index
            index = shifted

    def iter_indexes(self, start: int = 0) -> Iterator[int]:
        """Live indexes in default order, starting at logical position ``start``."""
        end = self.base_size + self._created
        index = self._physical(start) if start > 0 else 0
        while index < end:
            if index not in self._deleted_set:
                yield index
            index += 1

    def keys(self) -> Iterator[str]:
        """Keys in the order an unfiltered, unordered list returns them."""
        return (self.key_of(i) for i in self.iter_indexes())

    def records(self) -> Iterator[Record]:
        """Deep copies of the canonical records, in default order."""
        return (copy.deepcopy(self.record_at(i)) for i in self.iter_indexes())

    def page(self, skip: int, top: int) -> list[Record]:
        """List items at logical positions ``[skip, skip + top)``. Do not mutate."""
        out: list[Record] = []
        if top <= 0 or skip >= self.count:
            return out
        for index in self.iter_indexes(skip):
            out.append(self.summary_at(index))
            if len(out) >= top:
                break
        return out

    def get(self, key: str) -> Record | None:
        """A deep copy of the canonical (single-GET, fully expanded) record, or None."""
        index = self.index_of(key)
        return None if index is None else copy.deepcopy(self.record_at(index))

    def summary(self, key: str) -> Record | None:
        """The record as a list item, or None."""
        index = self.index_of(key)
        return None if index is None else dict(self.summary_at(index))

    def find_udi(self, udi: str) -> Record | None:
        """The live record whose UserDefinedIdentifier equals ``udi`` (case-insensitive)."""
        wanted = udi.casefold()
        for index, rec in self._overlay.items():
            if (
                index not in self._deleted_set
                and str(rec.get("UserDefinedIdentifier")).casefold() == wanted
            ):
                return rec
        tail = udi.rsplit("-", 1)[-1]
        if not tail.isdigit():
            return None
        index = int(tail) - 1
        if (
            0 <= index < self.base_size
            and index not in self._deleted_set
            and index not in self._overlay
        ):
            rec = self.base_record(index)
            if str(rec.get("UserDefinedIdentifier")).casefold() == wanted:
                return rec
        return None

    def version(self, key: str) -> int | None:
        """How many times the record was written (1 when untouched), None when it is gone."""
        index = self.index_of(key)
        return None if index is None else self._versions.get(index, 1)

    # -- writes (overlays)
    def put(self, key: str, record: Mapping[str, Any]) -> None:
        """Replace a live record; the key field is forced to ``key``."""
        index = self.index_of(key)
        if index is None:
            raise KeyError(key)
        stored = copy.deepcopy(dict(record))
        stored[self.definition.key_field] = key
        self._overlay[index] = stored
        self._summaries.pop(index, None)
        self._versions[index] = self._versions.get(index, 1) + 1

    def delete(self, key: str) -> None:
        """Delete a live record; later lookups give 404 and lists skip it."""
        index = self.index_of(key)
        if index is None:
            raise KeyError(key)
        self._overlay.pop(index, None)
        self._summaries.pop(index, None)
        bisect.insort(self._deleted, index)
        self._deleted_set.add(index)

    def create(self, record: Mapping[str, Any]) -> str:
        """Append a new record (after all generated ones) and return its new key."""
        index = self.base_size + self._created
        self._created += 1
        key = self.key_of(index)
        stored = copy.deepcopy(dict(record))
        stored[self.definition.key_field] = key
        self._overlay[index] = stored
        self._versions[index] = 1
        return key
