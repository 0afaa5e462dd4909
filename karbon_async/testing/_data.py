"""Lazily generated, deterministic accounting-firm data for the fake Karbon server.

Each record is a pure function of ``(seed, account, collection, index)``: nothing is generated
until asked for, so a collection of a million records costs nothing until it is paged through,
and the same seed always yields the same data (tests can compute what they expect). Changes made
through :class:`CollectionStore` (``put``/``delete``/``create``) live in overlays, never in the
generated base.

Collections are rows of a table (:data:`COLLECTIONS`) of :class:`CollectionDef`: adding one
means writing a generator and a summary projection, not copying a handler.

Records are stored in their *canonical* shape: the single-GET shape with every expandable
navigation property filled in and ``PrimaryStatus`` in its unspaced enum form. List items are a
projection of it (``summary``); single GETs drop navigation properties that were not expanded.
"""

from __future__ import annotations

import base64
import bisect
import copy
import functools
import random
import uuid
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any

from ._keys import Keyer, mix64

__all__ = [
    "COLLECTIONS",
    "AccountData",
    "CollectionDef",
    "CollectionStore",
    "spaced_status",
]

Record = dict[str, Any]

# --------------------------------------------------------------------------- name pools

_FIRST = (
    "Aisha", "Liam", "Priya", "Noah", "Mei", "Oliver", "Sofia", "Mateo", "Grace", "Ethan",
    "Zara", "Lucas", "Hannah", "Kenji", "Chloe", "Arjun", "Isla", "Diego", "Amara", "Jack",
    "Fatima", "Samuel", "Ruby", "Tariq", "Emily", "Connor", "Nadia", "Hugo", "Leah", "Ravi",
    "Siobhan", "Declan", "Maeve", "Tomás", "Zoë", "André", "Ngozi", "Wei", "Olga", "Kai",
)  # fmt: skip
_LAST = (
    "O'Brien", "Sharma", "Nguyen", "Smith", "O'Connor", "Garcia", "Chen", "Williams", "Patel",
    "D'Angelo", "Kowalski", "Murphy", "Okafor", "Tanaka", "McAllister", "Johansson", "Silva",
    "O'Neill", "Dubois", "Rossi", "Müller", "Haddad", "Fitzgerald", "Kim", "Walsh", "Brown",
    "Ivanova", "Mendes", "Van der Berg", "Taylor", "Singh", "Lopez", "N'Diaye", "Cohen",
)  # fmt: skip
_MIDDLE = ("James", "Marie", "Lee", "Ann", "John", "Rose", "Kay", None, None, None, None)
_SALUTATIONS = ("Mr", "Ms", "Mrs", "Dr", "Miss", "Mx")
_SUFFIXES = (None, None, None, None, None, None, "Jr.", "Sr.", "III")
_CONTACT_TYPES = ("Client", "Client", "Client", "Prospect", "Inactive", "Other")
_ROLES = ("Director", "CFO", "Owner", "Bookkeeper", "Office Manager", "CEO", "Partner", "Trustee")
_FIRM_WORDS = (
    "Meridian", "Harbour", "Summit", "Blue Gum", "Ironbark", "Northgate", "Riverside", "Acacia",
    "Granite", "Lakeside", "Evergreen", "Copperfield", "Silver Fern", "Redwood", "Bayview",
)  # fmt: skip
_FIRM_TRADES = (
    "Plumbing", "Dental", "Bakery", "Logistics", "Architects", "Landscaping", "Physiotherapy",
    "Electrical", "Consulting", "Vineyards", "Café", "Joinery", "Veterinary Clinic", "Motors",
)  # fmt: skip
_FIRM_SUFFIXES = ("Pty Ltd", "LLC", "Inc.", "Ltd", "& Co.", "Partners", "Group", "Trust")
_CITIES = (
    ("Sydney", "NSW", "2000", "AU"),
    ("Melbourne", "VIC", "3000", "AU"),
    ("Brisbane", "QLD", "4000", "AU"),
    ("Auckland", "AKL", "1010", "NZ"),
    ("Boston", "MA", "02108", "US"),
    ("Austin", "TX", "73301", "US"),
    ("Denver", "CO", "80202", "US"),
    ("Manchester", "Greater Manchester", "M1 1AE", "GB"),
    ("Toronto", "ON", "M5H 2N2", "CA"),
)
_STREETS = ("Harbour St", "King St", "Main Street", "Elm Avenue", "George St", "Queen's Road")
_WORK = (
    ("Individual Tax Return", "Tax"),
    ("Company Tax Return", "Tax"),
    ("Financial Statements", "Accounting"),
    ("BAS Lodgement", "Tax"),
    ("Monthly Bookkeeping", "Bookkeeping"),
    ("Payroll", "Payroll"),
    ("Year-End Advisory Meeting", "Advisory"),
    ("Sales Tax Filing", "Tax"),
)
_PRIMARY_STATUSES = ("Planned", "ReadyToStart", "InProgress", "Waiting", "Completed")
_SECONDARY = {
    "Planned": (None,),
    "ReadyToStart": (None, "Send client requests"),
    "InProgress": ("Review", "Assemble", "Lodge", "Follow-up"),
    "Waiting": ("Waiting for client", "Wait for confirmation"),
    "Completed": ("Billed", "Cancelled", None),
}
_STAFF_ROLES = ("Partner", "Manager", "Senior Accountant", "Accountant", "Bookkeeper", "Admin")
_PERMISSIONS = ("ManageContacts", "ManageWork", "ViewReports", "ManageBilling", "Admin")
_FIRMS = (
    "Ledgerline Accounting", "Brightbooks CPA", "Tally & Thorne", "Kestrel Advisory",
    "Northstar Tax", "Fernhill Partners",
)  # fmt: skip

_EPOCH_2022 = 1_640_995_200  # 2022-01-01T00:00:00Z
_SPAN = 4 * 365 * 86_400


def spaced_status(status: str | None) -> str | None:
    """Karbon's list endpoints spell PrimaryStatus with spaces ("In Progress"); single GETs
    use the enum form ("InProgress"). The fake reproduces the quirk so clients handle both."""
    if status is None:
        return None
    out = [status[0]]
    for c in status[1:]:
        if c.isupper():
            out.append(" ")
        out.append(c)
    return "".join(out)


@functools.lru_cache(maxsize=4096)
def _ascii(text: str) -> str:
    """Fold a name to something usable in an email address or identifier."""
    table = str.maketrans("üöéáàñô", "uoeaano")
    return "".join(c for c in text.translate(table).lower() if c.isalnum())


def _ticks_datetime(seconds: int, ticks: int) -> str:
    """A .NET-style timestamp with 7 fractional digits, like Karbon's LastModifiedDateTime."""
    dt = datetime.fromtimestamp(seconds, tz=timezone.utc)
    return f"{dt:%Y-%m-%dT%H:%M:%S}.{ticks:07d}Z"


def _midnight(seconds: int) -> str:
    dt = datetime.fromtimestamp(seconds - seconds % 86_400, tz=timezone.utc)
    return f"{dt:%Y-%m-%dT%H:%M:%S}Z"


def _guid(rng: random.Random) -> str:
    return str(uuid.UUID(int=rng.getrandbits(128), version=4))


def _accounting_detail(**values: Any) -> dict[str, Any]:
    """Karbon's DetailsOfAccounting with every documented property present (mostly null)."""
    keys = (
        "ContactPermaKey", "OrganizationPermaKey", "BirthDate", "DeathDate", "Salutation", "Sex",
        "FinancialYearEndDay", "FinancialYearEndMonth", "IncorporationDate",
        "IncorporationState", "LegalName", "LineOfBusiness", "EntityType", "TaxCountryCode",
        "TradingName", "AnnualRevenue", "BaseCurrency", "GstBasis", "GstPeriod",
        "IncomeTaxInstallmentPeriod", "IsVATRegistered", "OrganizationValuation", "PaysTax",
        "PrepareGST", "ProvisionalTaxBasic", "ProvisionalTaxRatio", "RevenueModel",
        "SalesTaxBasis", "SalesTaxPeriod", "Sells",
    )  # fmt: skip
    detail: dict[str, Any] = dict.fromkeys(keys)
    detail.update(values)
    detail.setdefault("RegistrationNumbers", [])
    detail.setdefault("Notes", [])
    return detail


# --------------------------------------------------------------------------- definitions


@dataclass(frozen=True)
class Ref:
    """A generated record of another collection, for cross-references (owner, client, ...)."""

    key: str
    record: Record


class GenContext:
    """What a generator may see: the account, its RNG and other collections' base records."""

    def __init__(self, account: AccountData, collection: str, index: int) -> None:
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
        return _ticks_datetime(
            _EPOCH_2022 + self.rng.randrange(_SPAN), self.rng.randrange(10_000_000)
        )


def hash_str(text: str) -> int:
    """A process-independent hash (``hash()`` is salted per process)."""
    value = 0
    for b in text.encode():
        value = mix64(value ^ b)
    return value


_HASHES: dict[str, int] = {}


def _collection_hash(name: str) -> int:
    value = _HASHES.get(name)
    if value is None:
        value = _HASHES[name] = mix64(hash_str(name))
    return value


Generator = Callable[[GenContext], Record]
Projection = Callable[[Record], Record]


@dataclass(frozen=True)
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
    size_of: Callable[[int], int] = field(default=lambda size: size)
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


def _pick(rng: random.Random, seq: tuple[Any, ...]) -> Any:
    return seq[rng.randrange(len(seq))]


def _address(ctx: GenContext, label: str) -> dict[str, Any]:
    rng = ctx.rng
    city, state, zipcode, country = _pick(rng, _CITIES)
    return {
        "AddressKey": _guid(rng),
        "AddressLines": f"{rng.randrange(1, 400)} {_pick(rng, _STREETS)}",
        "City": city,
        "StateProvinceCounty": state,
        "ZipCode": zipcode,
        "CountryCode": country,
        "Label": label,
    }


def _phone(ctx: GenContext, country: str, label: str) -> dict[str, Any]:
    rng = ctx.rng
    return {
        "PhoneNumberKey": _guid(rng),
        "Number": f"{rng.randrange(200, 999)}-{rng.randrange(100, 999)}-"
        f"{rng.randrange(1000, 9999)}",
        "CountryCode": country,
        "Label": label,
    }


def _card(
    ctx: GenContext,
    entity_type: str,
    email: str,
    *,
    organization_key: str | None = None,
    role: str | None = None,
    website: str | None = None,
    slug: str = "",
) -> dict[str, Any]:
    address = _address(ctx, "Physical")
    return {
        "BusinessCardKey": ctx.sub_key("BusinessCards"),
        "EntityType": entity_type,
        "EntityKey": ctx.key(),
        "IsPrimaryCard": True,
        "WebSites": [website] if website else [],
        "EmailAddresses": [email],
        "OrganizationKey": organization_key,
        "RoleOrTitle": role,
        "FacebookLink": None,
        "LinkedInLink": f"linkedin.com/in/{slug}" if slug else None,
        "TwitterLink": None,
        "SkypeLink": None,
        "Addresses": [address],
        "PhoneNumbers": [_phone(ctx, address["CountryCode"], "Work")],
    }


def _client_team(ctx: GenContext, owner: Ref, manager: Ref) -> list[dict[str, Any]]:
    team: list[dict[str, Any]] = [
        {"MemberKey": owner.key, "MemberType": "User", "RoleType": "ClientOwner"},
        {"MemberKey": manager.key, "MemberType": "User", "RoleType": "ClientManager"},
    ]
    if ctx.rng.random() < 0.3:
        extra = ctx.ref("Users")
        team.append({"MemberKey": extra.key, "MemberType": "User", "RoleType": None})
    return team


def _udi(prefix: str, infix: str, index: int) -> str:
    """A UserDefinedIdentifier whose trailing number is index + 1, so it is reversible."""
    return f"{(_ascii(prefix)[:4] or 'X').upper()}-{infix}-{index + 1:04d}"


def _gen_user(ctx: GenContext) -> Record:
    rng = ctx.rng
    first, last = _pick(rng, _FIRST), _pick(rng, _LAST)
    role = _STAFF_ROLES[min(ctx.index, len(_STAFF_ROLES) - 1)] if ctx.index < 3 else None
    role = role or _pick(rng, _STAFF_ROLES)
    return {
        "Id": ctx.key(),
        "Name": f"{first} {last}",
        "EmailAddress": f"{_ascii(first)}.{_ascii(last)}{ctx.index}@{ctx.account.domain}",
        "BillableRate": float(rng.randrange(90, 450)),
        "CapacityMinutesPerWeek": _pick(rng, (2400, 2280, 1800, 1200)),
        "Permissions": sorted(rng.sample(_PERMISSIONS, rng.randrange(1, 4))),
        "Roles": [{"Name": role, "Key": ctx.account.store("Roles").key_of(_role_index(role))}],
        "Teams": [_team_ref(ctx.account, ctx.index % len(_TEAMS))],
    }


def _user_summary(r: Record) -> Record:
    return {"Id": r["Id"], "Name": r["Name"], "EmailAddress": r["EmailAddress"]}


def _gen_contact(ctx: GenContext) -> Record:
    rng = ctx.rng
    first, last = _pick(rng, _FIRST), _pick(rng, _LAST)
    owner, manager = ctx.ref("Users"), ctx.ref("Users")
    preferred = first if rng.random() < 0.7 else first[:3]
    email = f"{_ascii(first)}.{_ascii(last)}{ctx.index}@example.com"
    org_index = ctx.account.organization_of(ctx.index)
    org_key = (
        ctx.account.store("Organizations").key_of(org_index) if org_index is not None else None
    )
    role = _pick(rng, _ROLES) if org_key else None
    key = ctx.key()
    salutation = _pick(rng, _SALUTATIONS)
    birth = _midnight(_EPOCH_2022 - rng.randrange(18 * 365, 80 * 365) * 86_400)
    return {
        "ContactKey": key,
        "FirstName": first,
        "MiddleName": _pick(rng, _MIDDLE),
        "LastName": last,
        "PreferredName": preferred,
        "Salutation": salutation,
        "Suffix": _pick(rng, _SUFFIXES),
        "ClientOwner": owner.record["EmailAddress"],
        "ClientManager": manager.record["EmailAddress"],
        "ContactType": _pick(rng, _CONTACT_TYPES),
        "UserDefinedIdentifier": _udi(last, "C", ctx.index),
        "RestrictionLevel": "Public",
        "AvatarUrl": f"https://az.karbonemail.com/images/{_guid(rng)}",
        "LastModifiedDateTime": ctx.modified(),
        "EntityDescription": {"Text": f"{first} prefers contact by email."},
        "AccountingDetail": _accounting_detail(
            ContactPermaKey=key,
            BirthDate=birth,
            Salutation=salutation,
            FinancialYearEndDay=30,
            FinancialYearEndMonth=6,
            TaxCountryCode="US",
        ),
        "BusinessCards": [
            _card(
                ctx,
                "Contact",
                email,
                organization_key=org_key,
                role=role,
                slug=f"{_ascii(first)}{_ascii(last)}",
            )
        ],
        "ClientTeam": _client_team(ctx, owner, manager),
        "ClientAccess": [],
    }


def _primary_card(r: Record, name: str = "BusinessCards") -> dict[str, Any] | None:
    cards = r.get(name)
    if isinstance(cards, dict):
        return cards
    if isinstance(cards, list) and cards:
        primary = [c for c in cards if isinstance(c, dict) and c.get("IsPrimaryCard")]
        return primary[0] if primary else (cards[0] if isinstance(cards[0], dict) else None)
    return None


def _first(values: Any, prop: str | None = None) -> Any:
    if not isinstance(values, list) or not values:
        return None
    return values[0].get(prop) if prop and isinstance(values[0], dict) else values[0]


def _address_line(card: Mapping[str, Any] | None) -> str | None:
    a = _first(card.get("Addresses") if card else None)
    if not isinstance(a, dict):
        return None
    return f"{a['AddressLines']}, {a['City']} {a['StateProvinceCounty']} {a['ZipCode']}"


def _contact_summary(r: Record) -> Record:
    card = _primary_card(r)
    full = " ".join(p for p in (r.get("FirstName"), r.get("LastName")) if p)
    return {
        "ContactKey": r["ContactKey"],
        "FullName": full,
        "PreferredName": r.get("PreferredName"),
        "Salutation": r.get("Salutation"),
        "ClientOwner": r.get("ClientOwner"),
        "ClientManager": r.get("ClientManager"),
        "Address": _address_line(card),
        "EmailAddress": _first(card.get("EmailAddresses")) if card else None,
        "PhoneNumber": _first(card.get("PhoneNumbers"), "Number") if card else None,
        "RoleOrTitle": card.get("RoleOrTitle") if card else None,
        "ContactType": r.get("ContactType"),
        "UserDefinedIdentifier": r.get("UserDefinedIdentifier"),
        "LastModifiedDateTime": r.get("LastModifiedDateTime"),
    }


def _firm_name(rng: random.Random) -> str:
    if rng.random() < 0.35:
        return f"{_pick(rng, _LAST)} {_pick(rng, _FIRM_TRADES)} {_pick(rng, _FIRM_SUFFIXES)}"
    return f"{_pick(rng, _FIRM_WORDS)} {_pick(rng, _FIRM_TRADES)} {_pick(rng, _FIRM_SUFFIXES)}"


def _gen_organization(ctx: GenContext) -> Record:
    rng = ctx.rng
    name = _firm_name(rng)
    slug = _ascii(name.rsplit(" ", 1)[0])[:24]
    owner, manager = ctx.ref("Users"), ctx.ref("Users")
    key = ctx.key()
    website = f"www.{slug}.example"
    contacts = []
    for i in ctx.account.contacts_of(ctx.index):
        c = _contact_summary(ctx.account.store("Contacts").base_record(i))
        contacts.append(
            {k: c[k] for k in ("ContactKey", "FullName", "PreferredName", "Salutation")}
            | {"ClientOwner": None, "ClientManager": None, "Address": None}
            | {k: c[k] for k in ("EmailAddress", "PhoneNumber", "RoleOrTitle")}
            | {k: c[k] for k in ("UserDefinedIdentifier", "LastModifiedDateTime")}
        )
    city = _pick(rng, _CITIES)
    return {
        "OrganizationKey": key,
        "FullName": name,
        "ClientOwner": owner.record["EmailAddress"],
        "ClientManager": manager.record["EmailAddress"],
        "ContactType": _pick(rng, _CONTACT_TYPES),
        "UserDefinedIdentifier": _udi(name, "O", ctx.index),
        "RestrictionLevel": "Public",
        "LastModifiedDateTime": ctx.modified(),
        "EntityDescription": {"Text": f"{name} has been a client since {2010 + ctx.index % 15}."},
        "AccountingDetail": _accounting_detail(
            OrganizationPermaKey=key,
            FinancialYearEndDay=30,
            FinancialYearEndMonth=6,
            IncorporationDate=_midnight(_EPOCH_2022 - rng.randrange(1, 30 * 365) * 86_400),
            LegalName=name,
            LineOfBusiness=name.split(" ")[-3] if len(name.split(" ")) > 2 else None,
            EntityType=_pick(rng, ("Company", "Partnership", "Trust", "Sole Trader")),
            TaxCountryCode=city[3],
            AnnualRevenue=float(rng.randrange(50_000, 20_000_000)),
        ),
        "BusinessCards": [
            _card(ctx, "Organization", f"accounts@{slug}.example", website=website, slug=slug)
        ],
        "Contacts": contacts,
        "ClientTeam": _client_team(ctx, owner, manager),
    }


def _organization_summary(r: Record) -> Record:
    card = _primary_card(r)
    return {
        "OrganizationKey": r["OrganizationKey"],
        "FullName": r.get("FullName"),
        "PhoneNumber": _first(card.get("PhoneNumbers"), "Number") if card else None,
        "EmailAddress": _first(card.get("EmailAddresses")) if card else None,
        "Website": _first(card.get("WebSites")) if card else None,
        "ContactType": r.get("ContactType"),
        "LastModifiedDateTime": r.get("LastModifiedDateTime"),
        "UserDefinedIdentifier": r.get("UserDefinedIdentifier"),
    }


def _gen_client_group(ctx: GenContext) -> Record:
    rng = ctx.rng
    family = rng.random() < 0.6
    lead = ctx.ref("Contacts")
    lead_name = f"{lead.record['FirstName']} {lead.record['LastName']}"
    name = f"The {lead.record['LastName']} Family" if family else f"{_pick(rng, _FIRM_WORDS)} Group"
    owner, manager = ctx.ref("Users"), ctx.ref("Users")
    members = [{"ContactKey": lead.key, "OrganizationKey": None}]
    if not family:
        members.append({"ContactKey": None, "OrganizationKey": ctx.ref("Organizations").key})
    card = _card(ctx, "ClientGroup", f"{_ascii(name)[:20]}@example.com", slug=_ascii(name))
    return {
        "ClientGroupKey": ctx.key(),
        "FullName": name,
        "ClientOwner": owner.record["EmailAddress"],
        "ClientManager": manager.record["EmailAddress"],
        "ContactType": "Client",
        "UserDefinedIdentifier": _udi(name.replace("The ", ""), "G", ctx.index),
        "RestrictionLevel": "Public",
        "PrimaryContact": lead_name,
        "LastModifiedDateTime": ctx.modified(),
        "Members": members,
        "EntityDescription": {"Text": f"Group managed with {lead_name} as primary contact."},
        "AccountingDetails": None,
        "BusinessCard": card,
        "ClientTeam": _client_team(ctx, owner, manager),
    }


def _client_group_summary(r: Record) -> Record:
    card = _primary_card(r, "BusinessCard")
    return {
        "ClientGroupKey": r["ClientGroupKey"],
        "FullName": r.get("FullName"),
        "PhoneNumber": _first(card.get("PhoneNumbers"), "Number") if card else None,
        "Website": _first(card.get("WebSites")) if card else None,
        "LastModifiedDateTime": r.get("LastModifiedDateTime"),
    }


_WORK_ITEM_FIELDS = (
    "WorkItemKey", "AssigneeEmailAddress", "AssigneeKey", "AssigneeName", "Title", "ClientKey",
    "ClientName", "ClientType", "ClientUserDefinedIdentifier", "RelatedClientGroupKey",
    "ClientGroupKey", "RelatedClientGroupName", "StartDate", "DueDate", "DeadlineDate",
    "CompletedDate", "ToDoPeriod", "WorkType", "WorkStatus", "PrimaryStatus", "SecondaryStatus",
    "WorkTemplateKey", "WorkTemplateTile", "WorkScheduleKey", "EstimatedBudget",
)  # fmt: skip


def _gen_work_item(ctx: GenContext) -> Record:
    rng = ctx.rng
    title_kind, work_type = _pick(rng, _WORK)
    start_s = _EPOCH_2022 + rng.randrange(_SPAN)
    year = datetime.fromtimestamp(start_s, tz=timezone.utc).year
    title = f"FY{year + 1} {title_kind}"
    if work_type in ("Bookkeeping", "Payroll"):
        month = datetime.fromtimestamp(start_s, tz=timezone.utc)
        title = f"{month:%B %Y} {title_kind}"
    assignee = ctx.ref("Users")
    is_org = rng.random() < 0.4
    client_coll = "Organizations" if is_org else "Contacts"
    client = ctx.ref(client_coll)
    client_name = (
        client.record["FullName"]
        if is_org
        else f"{client.record['FirstName']} {client.record['LastName']}"
    )
    group = ctx.ref("ClientGroups") if rng.random() < 0.2 else None
    primary = _pick(rng, _PRIMARY_STATUSES)
    secondary = _pick(rng, _SECONDARY[primary])
    work_status = spaced_status(primary) or ""
    if secondary:
        work_status = f"{work_status} - {secondary}"
    due_s = start_s + rng.randrange(7, 60) * 86_400
    template_index = _WORK.index((title_kind, work_type)) % max(1, _templates_size(ctx))
    template = ctx.account.store("WorkTemplates").key_of(template_index)
    schedules = ctx.account.store("WorkSchedules")
    fee_type = _pick(rng, ("FixedFee", "TimeAndMaterials", "NonBillable"))
    return {
        "WorkItemKey": ctx.key(),
        "AssigneeEmailAddress": assignee.record["EmailAddress"],
        "AssigneeKey": assignee.key,
        "AssigneeName": assignee.record["Name"],
        "Title": title,
        "ClientKey": client.key,
        "ClientName": client_name,
        "ClientType": "Organization" if is_org else "Contact",
        "ClientUserDefinedIdentifier": client.record["UserDefinedIdentifier"],
        "RelatedClientGroupKey": group.key if group else None,
        "ClientGroupKey": group.key if group else None,
        "RelatedClientGroupName": group.record["FullName"] if group else None,
        "StartDate": _midnight(start_s),
        "DueDate": _midnight(due_s),
        "DeadlineDate": _midnight(due_s + 14 * 86_400) if rng.random() < 0.5 else None,
        "CompletedDate": _midnight(due_s) if primary == "Completed" else None,
        "ToDoPeriod": _midnight(start_s),
        "WorkType": work_type,
        "WorkStatus": work_status,
        "PrimaryStatus": primary,
        "SecondaryStatus": secondary,
        "WorkTemplateKey": template,
        "WorkTemplateTile": f"{title_kind} Template",
        "WorkScheduleKey": (
            schedules.key_of(ctx.index // 10)
            if ctx.index % 10 == 0 and ctx.index // 10 < schedules.base_size
            else None
        ),
        "EstimatedBudget": None,
        "FeeSettings": {
            "FeeType": fee_type,
            "FeeValue": float(rng.randrange(300, 6000)) if fee_type == "FixedFee" else None,
        },
        "UserRoleAssignments": [],
        "Description": f"{title} for {client_name}.",
        "ClientTaskRecipient": None,
    }


def _work_item_summary(r: Record) -> Record:
    out = {k: r.get(k) for k in _WORK_ITEM_FIELDS}
    out["PrimaryStatus"] = spaced_status(r.get("PrimaryStatus"))
    return out


# --------------------------------------------------------------------------- reference data

_TEAMS = (
    ("Client Services", "Day-to-day compliance work for individual and business clients."),
    ("Tax", "Individual, company and trust tax returns."),
    ("Bookkeeping", "Monthly bookkeeping and reconciliations."),
    ("Payroll", "Pay runs, STP/RTI filings and superannuation."),
    ("Advisory", "Budgets, forecasts and year-end planning meetings."),
)
_TEMPLATES = (
    ("FY Individual Income Tax Return", "Tax", 180),
    ("FY Company Tax Return", "Tax", 480),
    ("Annual Financial Statements", "Accounting", 600),
    ("Quarterly BAS Lodgement", "Tax", 120),
    ("Monthly Bookkeeping", "Bookkeeping", 240),
    ("Fortnightly Payroll", "Payroll", 90),
    ("Year-End Advisory Meeting", "Advisory", 60),
    ("Sales Tax Filing", "Tax", 75),
    ("Trust Tax Return", "Tax", 360),
    ("New Client Onboarding", "Advisory", 150),
)
_TASK_TYPES = (
    ("Preparation", True), ("Review", True), ("Client meeting", True), ("Bookkeeping", True),
    ("Payroll processing", True), ("Admin", False), ("Lodgement", True),
)  # fmt: skip
_TIMESHEET_STATUSES = ("Approved", "Approved", "Submitted", "Draft", "Declined")
_INVOICE_STATUSES = (
    "Paid", "Paid", "Paid", "AwaitingPayment", "AwaitingPayment", "Exported", "Approved", "Voided",
)  # fmt: skip
_PAYMENT_METHODS = ("Bank Transfer", "Direct Debit", "Credit Card Online", "Check", "Cash")
_CURRENCY = {"AU": ("AUD", "GST", 10), "NZ": ("NZD", "GST", 15), "GB": ("GBP", "VAT", 20)}
_CUSTOM_FIELDS: tuple[tuple[str, str, list[str]], ...] = (
    ("Industry", "ListSingleSelect", ["Construction", "Healthcare", "Hospitality", "Retail"]),
    ("Client Since", "Date", []),
    ("Annual Fee Estimate", "Number", []),
    ("Engagement Letter Signed", "Boolean", []),
    ("Client Partner", "Colleague", []),
    ("Referral Source", "Text", []),
)
_INTEGRATION_DEFS = (
    ("Request e-signature", "Send for signature", "https://sign.example.com"),
    ("Collect bank feeds", "Open bank feed", "https://feeds.example.com"),
)
_NOTE_SUBJECTS = (
    "Missing bank statements for June", "Call notes: year-end planning", "Payroll query",
    "Engagement letter sent", "ATO/IRS correspondence received", "Fee discussion",
)  # fmt: skip


def _money(value: float) -> float:
    """Round to cents the way a decimal amount serialises (1607.13, never 1607.1300001)."""
    return round(value + 1e-9, 2)


def _role_index(role: str) -> int:
    return _STAFF_ROLES.index(role) if role in _STAFF_ROLES else 0


def _team_ref(account: AccountData, team: int) -> dict[str, Any]:
    return {
        "Key": account.store("Teams").key_of(team),
        "Name": _TEAMS[team % len(_TEAMS)][0],
        "ParentTeamKey": None,
    }


def _templates_size(ctx: GenContext) -> int:
    return ctx.account.store("WorkTemplates").base_size


def _gen_role(ctx: GenContext) -> Record:
    return {"Key": ctx.key(), "Name": _STAFF_ROLES[ctx.index % len(_STAFF_ROLES)]}


def _gen_team(ctx: GenContext) -> Record:
    name, description = _TEAMS[ctx.index % len(_TEAMS)]
    users = ctx.account.store("Users")
    members = [
        {"Key": users.key_of(i), "Type": "User", "Name": users.base_record(i)["Name"]}
        for i in range(ctx.index, users.base_size, max(1, ctx.account.store("Teams").base_size))
    ]
    parent = ctx.account.store("Teams").key_of(0) if ctx.index else None
    return {
        "TeamKey": ctx.key(),
        "Name": name,
        "Description": description,
        "ParentTeamKey": parent,
        "Members": members,
    }


def _team_summary(r: Record) -> Record:
    return {k: r.get(k) for k in ("TeamKey", "Name", "Description", "ParentTeamKey")}


def _gen_work_template(ctx: GenContext) -> Record:
    rng = ctx.rng
    title, work_type, minutes = _TEMPLATES[ctx.index % len(_TEMPLATES)]
    if ctx.index >= len(_TEMPLATES):
        title = f"{title} ({ctx.index // len(_TEMPLATES) + 1})"
    settings = ctx.account.tenant_settings()
    type_key = next(w["WorkTypeKey"] for w in settings["WorkTypes"] if w["Name"] == work_type)
    published = _EPOCH_2022 + rng.randrange(_SPAN // 2)
    return {
        "WorkTemplateKey": ctx.key(),
        "Title": title,
        "Description": f"Standard checklist for {title.lower()}.",
        "WorkTypeKey": type_key,
        "HasScheduledClientTaskGroups": rng.random() < 0.4,
        "EstimatedBudget": None,
        "EstimatedTime": f"{minutes // 60:02d}:{minutes % 60:02d}:00",
        "DraftHasChanges": rng.random() < 0.2,
        "PublishedDate": _midnight(published),
        "NumberOfWorkItemsCreated": rng.randrange(0, 400),
        "DateLastWorkItemCreated": _midnight(published + rng.randrange(_SPAN // 2)),
        "DateModified": _midnight(published + rng.randrange(_SPAN // 4)),
        "ActorRoles": [{"RoleName": "Preparer"}, {"RoleName": "Reviewer"}],
    }


def _identity(r: Record) -> Record:
    return r


_ENTRIES_PER_TIMESHEET = 4


def _gen_timesheet(ctx: GenContext) -> Record:
    rng = ctx.rng
    users = ctx.account.store("Users")
    user = users.key_of(ctx.index % max(1, users.base_size))
    week = ctx.index // max(1, users.base_size)
    start = _EPOCH_2022 + 2 * 86_400 + 7 * 86_400 * (week % 200)  # Mondays from 2022-01-03
    entries_store = ctx.account.store("IndividualTimeEntries")
    entries: list[dict[str, Any]] = []
    work_keys: list[str] = []
    for n in range(_ENTRIES_PER_TIMESHEET):
        index = ctx.index * _ENTRIES_PER_TIMESHEET + n
        if index >= entries_store.base_size:
            break
        entry = entries_store.base_record(index)
        if entry["WorkItemKey"] not in work_keys:
            work_keys.append(entry["WorkItemKey"])
        entries.append(
            {
                "TimeEntryKey": entry["IndividualTimeEntryKey"],
                "EntityKey": entry["EntityKey"],
                "WorkItemKey": entry["WorkItemKey"],
                "ClientKey": entry["ClientKey"],
                "ClientType": entry["ClientType"],
                "RoleName": entry["RoleName"],
                "TaskTypeName": entry["TaskTypeName"],
                "Minutes": [entry["Minutes"]],
                "HourlyRate": entry["HourlyRate"],
                "Descriptions": [entry["Description"]],
                "BilledStatus": entry["BilledStatus"],
            }
        )
    return {
        "TimesheetKey": ctx.key(),
        "StartDate": _midnight(start),
        "EndDate": _midnight(start + 6 * 86_400),
        "UserKey": user,
        "Status": _pick(rng, _TIMESHEET_STATUSES),
        "WorkItemKeys": work_keys,
        "TimeEntries": entries,
    }


def _timesheet_summary(r: Record) -> Record:
    return {k: v for k, v in r.items() if k != "TimeEntries"}


def _gen_time_entry(ctx: GenContext) -> Record:
    rng = ctx.rng
    sheet_index = ctx.index // _ENTRIES_PER_TIMESHEET
    users = ctx.account.store("Users")
    user_index = sheet_index % max(1, users.base_size)
    user = users.base_record(user_index)
    week = sheet_index // max(1, users.base_size)
    day = _EPOCH_2022 + 2 * 86_400 + 7 * 86_400 * (week % 200) + rng.randrange(5) * 86_400
    work = ctx.ref("WorkItems")
    task, billable = _pick(rng, _TASK_TYPES)
    minutes = rng.randrange(1, 33) * 15
    rate = user["BillableRate"] if billable else 0.0
    created = day + 17 * 3600 + rng.randrange(3600)
    return {
        "IndividualTimeEntryKey": ctx.key(),
        "TimesheetKey": ctx.account.store("Timesheets").key_of(sheet_index),
        "EntityKey": work.key,
        "WorkItemKey": work.key,
        "ClientKey": work.record["ClientKey"],
        "ClientType": work.record["ClientType"],
        "UserKey": users.key_of(user_index),
        "RoleName": user["Roles"][0]["Name"],
        "TaskTypeName": task,
        "TaskTypeIsBillable": billable,
        "Date": _midnight(day),
        "Minutes": minutes,
        "Description": f"{task} - {work.record['Title']}",
        "HourlyRate": rate,
        "TotalCost": _money(rate * minutes / 60),
        "BilledStatus": _pick(rng, ("Unbilled", "Billed", "Billed", "Draft", "InterimBilled")),
        "CreatedDate": _ticks_datetime(created, rng.randrange(10_000_000)),
        "ModifiedDate": _ticks_datetime(created + 3600, rng.randrange(10_000_000)),
        "FeeType": work.record["FeeSettings"]["FeeType"],
    }


_INVOICE_LIST_FIELDS = (
    "InvoiceKey", "InvoiceNumber", "TotalAmountDue", "InvoiceTotal", "InvoiceSubTotal",
    "InvoiceTaxTotal", "InvoiceDate", "PaymentDueDate", "UpdatedAt", "CreatedAt", "CurrencyCode",
    "PaymentInstructions", "InvoiceStatus", "TaxLocation", "Client", "TaxLineItems",
)  # fmt: skip


def _gen_invoice(ctx: GenContext) -> Record:
    rng = ctx.rng
    is_org = rng.random() < 0.5
    client = ctx.ref("Organizations" if is_org else "Contacts")
    card = _primary_card(client.record) or {}
    address = _first(card.get("Addresses")) or {}
    country = address.get("CountryCode", "AU")
    currency, tax_name, tax_rate = _CURRENCY.get(country, ("USD", "Sales Tax", 0))
    name = client.record.get("FullName") or (
        f"{client.record.get('FirstName')} {client.record.get('LastName')}"
    )
    # Where the tax goes follows the index, not the RNG, so every other field stays as it was:
    # two in three are ad hoc with tax on the line items (Presentation); the rest carry it on the
    # Data entries, alternately ad hoc (work and an expense) and recurring (services).
    location = "Data" if ctx.index % 3 == 2 else "Presentation"
    recurring = ctx.index % 6 == 5
    lines: list[dict[str, Any]] = []
    data: list[dict[str, Any]] = []
    for n in range(1 + rng.randrange(3)):
        work = ctx.ref("WorkItems")
        quantity = float(rng.randrange(1, 12))
        unit = float(rng.randrange(90, 320))
        amount = _money(quantity * unit)
        line_key = _guid(rng)
        lines.append(
            _invoice_line(line_key, work.key, "Entity", work.record["Title"], quantity, unit)
        )
        if recurring:
            service = {"WorkType": work.record["WorkType"], "Billed": amount}
            data.append(_data_entry(ctx.sub_key("Service", n), "Service", amount, service=service))
        else:
            part = {
                "FeeType": work.record["FeeSettings"]["FeeType"],
                "WorkType": work.record["WorkType"],
                "InvoiceType": "Final",
                "Billed": amount,
                "TimeEntries": None,
            }
            data.append(_data_entry(work.key, "Work Item", amount, work=part))
    if location == "Data" and not recurring:
        billed = _money(lines[0]["Amount"] / 10)
        expense_key = ctx.sub_key("Expense")
        line_key = ctx.sub_key("ExpenseLine")
        lines.append(_invoice_line(line_key, expense_key, "Expense", "Disbursements", 1.0, billed))
        item = {"ExpenseKey": expense_key, "Description": "Disbursements", "Billed": billed}
        expenses = {"Billed": billed, "Expenses": [item]}
        data.append(_data_entry(expense_key, "Expense", billed, expenses=expenses))
    taxed = _apply_invoice_tax(location, lines, data, tax_name, tax_rate)
    subtotal = _money(sum(line["Amount"] for line in lines))
    tax = _money(subtotal * tax_rate / 100) if location == "Presentation" else taxed
    total = _money(subtotal + tax)
    status = _pick(rng, _INVOICE_STATUSES)
    issued = _EPOCH_2022 + rng.randrange(_SPAN)
    paid = _invoice_paid(status, total)
    payments = [
        {
            "PaymentKey": ctx.account.store("Payments").key_of(ctx.index),
            "PaymentReference": f"KPY-{1001 + ctx.index}",
            "PaymentType": "ManualPaymentReversed" if status == "Voided" else "ManualPayment",
            "PaymentDate": _midnight(issued + 7 * 86_400)[:10],
            "Amount": paid,
        }
    ]
    if status == "Voided":
        paid = 0.0
    key = ctx.key()
    token = _b64(f"invoice:{key}")
    return {
        "InvoiceKey": key,
        "InvoiceNumber": f"KIN-{1001 + ctx.index}",
        "TotalAmountDue": _money(total - paid) if status != "Voided" else 0.0,
        "InvoiceTotal": total,
        "InvoiceSubTotal": subtotal,
        "InvoiceTaxTotal": tax,
        "InvoiceDate": _midnight(issued),
        "PaymentDueDate": _midnight(issued + 14 * 86_400),
        "UpdatedAt": _midnight(issued + 86_400)[:-1].replace("T00:00:00", "T09:30:00") + "Z",
        "CreatedAt": _midnight(issued - 86_400),
        "CurrencyCode": currency,
        "PaymentInstructions": "Payment due 14 days from invoice date",
        "InvoiceStatus": status,
        "TaxLocation": location,
        "Client": {
            "ClientKey": client.key,
            "ClientType": "Organization" if is_org else "Contact",
            "Name": name,
            "AddressLine": address.get("AddressLines"),
            "City": address.get("City"),
            "StateProvinceCounty": address.get("StateProvinceCounty"),
            "ZipCode": address.get("ZipCode"),
            "Country": country,
            "EmailAddress": _first(card.get("EmailAddresses")),
        },
        "TaxLineItems": [{"TaxName": tax_name, "TaxValue": tax}] if tax_rate else [],
        "InvoiceMagicLink": f"https://clientportal.karbonhq.com/invoice-link?token={token}",
        "InvoicePdfUrl": f"/v3/Files?token={token}",
        "LineItems": lines,
        "Payments": payments,
        "Data": data,
    }


def _invoice_line(
    line_key: str, key: str, kind: str, description: str, quantity: float, unit: float
) -> dict[str, Any]:
    return {
        "LineItemKey": line_key,
        "BillableItemEntityKey": key,
        "BillableItemType": kind,
        "Description": description,
        "Quantity": quantity,
        "UnitPrice": f"{unit:.2f}",
        "Amount": _money(quantity * unit),
        "TaxRate": None,
        "TaxRateName": None,
    }


def _data_entry(
    key: str,
    kind: str,
    billed: float,
    *,
    work: dict[str, Any] | None = None,
    service: dict[str, Any] | None = None,
    expenses: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """One ``$expand=Data`` entry: exactly one of work, service, expenses is filled in."""
    return {
        "EntityKey": key,
        "EntityType": kind,
        "Billed": billed,
        "Expenses": expenses,
        "Service": service,
        "Work": work,
    }


def _apply_invoice_tax(
    location: str,
    lines: list[dict[str, Any]],
    data: list[dict[str, Any]],
    name: str,
    rate: int,
) -> float:
    """Fill in the tax fields on the side ``location`` names and null them on the other, as
    Karbon does; returns the tax the Data side adds up to."""
    presentation = location == "Presentation" and rate > 0
    for line in lines:
        line["TaxRate"] = float(rate) if presentation else None
        line["TaxRateName"] = name if presentation else None
    parts = [
        entry["Work"] or entry["Service"] for entry in data if entry["Work"] or entry["Service"]
    ]
    for entry in data:
        if entry["Expenses"]:
            parts += entry["Expenses"]["Expenses"]
    on_data = location == "Data" and rate > 0
    total = 0.0
    for part in parts:
        amount = _money(part["Billed"] * rate / 100) if on_data else None
        part["TaxRate"] = float(rate) if on_data else None
        part["TaxRateName"] = name if on_data else None
        part["TaxAmount"] = amount
        total += amount or 0.0
    return _money(total)


def _b64(text: str) -> str:
    return base64.urlsafe_b64encode(text.encode()).rstrip(b"=").decode()


def _invoice_summary(r: Record) -> Record:
    return {k: r.get(k) for k in _INVOICE_LIST_FIELDS}


def _invoice_paid(status: str, total: float) -> float:
    """What payment i (the only payment of invoice i) settled: all of it, or a deposit."""
    if status in ("Paid", "Exported", "Voided"):
        return total
    return _money(total * 0.25)


def _gen_payment(ctx: GenContext) -> Record:
    """Payment i belongs to invoice i and copies what the invoice says about it."""
    rng = ctx.rng
    invoice = ctx.ref("Invoices", ctx.index)
    embedded = invoice.record["Payments"][0]
    method = _pick(rng, _PAYMENT_METHODS)
    online = method == "Credit Card Online"
    amount = embedded["Amount"]
    return {
        "PaymentKey": ctx.key(),
        "InvoiceKey": invoice.key,
        "PaymentReference": embedded["PaymentReference"],
        "PaymentType": "Payment" if online else embedded["PaymentType"],
        "PaymentDate": embedded["PaymentDate"],
        "GrossAmount": amount,
        "PaymentMethod": method,
        "ClientKey": invoice.record["Client"]["ClientKey"],
        "KarbonPayment": {
            "CardType": "Visa" if online else "",
            "CardCountry": "AU" if online else None,
            "CardFunding": "credit" if online else "",
            "PayoutStatus": "Paid" if online else "",
            "SurchargeAmount": 0,
            "KarbonFeeAmount": _money(amount * 0.017) if online else 0,
            "KarbonFeeTaxAmount": 0,
            "NetAmount": _money(amount * 0.983) if online else 0,
        },
        "Client": None,
    }


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


def _gen_integration_definition(ctx: GenContext) -> Record:
    name, label, url = _INTEGRATION_DEFS[ctx.index % len(_INTEGRATION_DEFS)]
    return {
        "TaskDefinitionKey": ctx.key(),
        "TaskName": name,
        "TaskPrimaryLinkUrl": url,
        "TaskPrimaryLinkLabel": label,
        "TaskSecondaryLinkUrl": None,
        "TaskSecondaryLinkLabel": None,
        "Locales": ["en-US", "en-AU", "en-GB"],
        "AllowedTaskUrlHosts": [url.removeprefix("https://")],
    }


def _gen_integration_task(ctx: GenContext) -> Record:
    rng = ctx.rng
    definitions = ctx.account.store("IntegrationTaskDefinitions")
    definition = ctx.ref("IntegrationTaskDefinitions", ctx.index % max(1, definitions.base_size))
    work = ctx.ref("WorkItems")
    primary = _pick(rng, _PRIMARY_STATUSES)
    return {
        "CreatedAt": ctx.modified(),
        "TaskDefinitionKey": definition.key,
        "TaskKey": ctx.key(),
        "Locale": "en-US",
        "WorkItemKey": work.key,
        "WorkItemClientKey": work.record["ClientKey"],
        "WorkType": work.record["WorkType"],
        "TaskName": definition.record["TaskName"],
        "TaskPrimaryLinkUrl": f"{definition.record['TaskPrimaryLinkUrl']}/t/{ctx.index}",
        "TaskPrimaryLinkLabel": definition.record["TaskPrimaryLinkLabel"],
        "TaskSecondaryLinkUrl": None,
        "TaskSecondaryLinkLabel": None,
        "TaskStatus": "Sent" if primary != "Completed" else "Signed",
        "PrimaryStatus": primary,
        "TaskDueDate": work.record["DueDate"],
        "TaskData": [{"Key": "Envelope", "Value": f"ENV-{10_000 + ctx.index}"}],
    }


def _gen_work_schedule(ctx: GenContext) -> Record:
    rng = ctx.rng
    work = ctx.ref("WorkItems", ctx.index * 10)
    frequency = _pick(rng, ("Month", "Quarter", "Year", "Fortnight"))
    users = ctx.account.store("Users")
    return {
        "WorkScheduleKey": ctx.key(),
        "ClientKey": work.record["ClientKey"],
        "ClientType": work.record["ClientType"],
        "CreatedFromWorkItemKey": work.key,
        "RecurrenceFrequency": frequency,
        "CustomFrequencyUnits": None,
        "CustomFrequencyMultiple": 1,
        "FrequencyDescription": f"Every {frequency.lower()}",
        "ScheduleStartDate": work.record["StartDate"],
        "ScheduleEndDate": None,
        "ScheduleDueDateMethod": "DaysFromStartDate",
        "ScheduleDueDateDays": 14,
        "ScheduleDueDateMonthMultiple": 0,
        "AssigneeUserKey": work.record["AssigneeKey"] if users.base_size else None,
        "WorkItemDescription": work.record.get("Description"),
        "PreventStartEndOnWeekend": True,
        "InitializeBeforeStartDateUnits": "Days",
        "InitializeBeforeStartDateMultiple": 7,
        "WorkItemTitleDefinition": work.record["Title"],
        "WorkItemTitleDisplayText": work.record["Title"],
        "InitializeTasksBeforeStartDateUnits": "Days",
        "InitializeTasksBeforeStartDateMultiple": 7,
    }


_COMMENTS_PER_NOTE = 2


def _gen_note(ctx: GenContext) -> Record:
    rng = ctx.rng
    author, assignee = ctx.ref("Users"), ctx.ref("Users")
    work = ctx.ref("WorkItems")
    created = _EPOCH_2022 + rng.randrange(_SPAN)
    comments = ctx.account.store("Comments")
    subject = _pick(rng, _NOTE_SUBJECTS)
    return {
        "Id": ctx.key(),
        "Subject": subject,
        "Body": f"{subject} - re {work.record['Title']} for {work.record['ClientName']}.",
        "CreatedDate": _midnight(created).replace("T00:00:00", "T02:16:06"),
        "AuthorEmailAddress": author.record["EmailAddress"],
        "AssigneeEmailAddress": assignee.record["EmailAddress"],
        "DueDate": _midnight(created + 5 * 86_400),
        "TodoDate": _midnight(created + 3 * 86_400),
        "Timelines": [{"EntityType": "WorkItem", "EntityKey": work.key}],
        "Comments": [
            {"CommentKey": comments.key_of(ctx.index * _COMMENTS_PER_NOTE + n)}
            for n in range(_COMMENTS_PER_NOTE)
            if ctx.index * _COMMENTS_PER_NOTE + n < comments.base_size
        ],
    }


def _gen_comment(ctx: GenContext) -> Record:
    rng = ctx.rng
    note = ctx.account.store("Notes").key_of(ctx.index // _COMMENTS_PER_NOTE)
    author = ctx.ref("Users")
    return {
        "CommentKey": ctx.key(),
        "CommentTypeKey": note,
        "CommentBody": _pick(
            rng, ("Done, uploaded to the portal.", "Chased the client again today.", "Thanks!")
        ),
        "CreatedDate": ctx.modified(),
        "AuthorKey": author.key,
    }


def _gen_nothing(ctx: GenContext) -> Record:
    """Collections that start empty (created only through the API) never generate."""
    raise LookupError(f"{ctx.collection} has no generated records")


def _defn(
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


def _plain(
    name: str,
    key_field: str,
    generate: Generator,
    not_found: str,
    orderby: tuple[str, ...],
    *,
    summary: Projection = _identity,
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
    return _defn(name, key_field, "", generate, summary, not_found, orderby, **defaults)


COLLECTIONS: dict[str, CollectionDef] = {
    d.name: d
    for d in (
        _defn(
            "Contacts",
            "ContactKey",
            "Contact",
            _gen_contact,
            _contact_summary,
            "No Contact found for provided key",
            ("FullName", "LastModifiedDateTime"),
            expand=frozenset({"BusinessCards", "ClientTeam", "ClientAccess"}),
            case_insensitive=frozenset({"FullName", "EmailAddress"}),
            udi_function="GetContactByUserDefinedIdentifier",
            udi_entity="Contact",
        ),
        _defn(
            "Organizations",
            "OrganizationKey",
            "Organization",
            _gen_organization,
            _organization_summary,
            "No organization exists with a key of {key}.",
            ("FullName", "LastModifiedDateTime"),
            expand=frozenset({"BusinessCards", "ClientTeam", "Contacts"}),
            case_insensitive=frozenset({"FullName", "EmailAddress"}),
            udi_function="GetOrganizationByUserDefinedIdentifier",
            udi_entity="Organization",
        ),
        _defn(
            "ClientGroups",
            "ClientGroupKey",
            "ClientGroup",
            _gen_client_group,
            _client_group_summary,
            "No Client Group found for provided key",
            ("FullName",),
            single_context="$metadata#ClientGroups/$entity",
            expand=frozenset({"BusinessCard", "ClientTeam"}),
            size_of=lambda size: max(1, size // 10),
            udi_function="GetClientGroupByUserDefinedIdentifier",
            udi_entity="Client Group",
        ),
        _defn(
            "WorkItems",
            "WorkItemKey",
            "WorkItem",
            _gen_work_item,
            _work_item_summary,
            "No Work Item found for provided key",
            ("StartDate", "DeadlineDate"),
        ),
        _defn(
            "Users",
            "Id",
            "User",
            _gen_user,
            _user_summary,
            "No User found for provided key",
            ("Name", "EmailAddress"),
            list_context="$metadata#Users",
            list_item_type=None,
            single_context="$metadata#Users/KarbonService.UserProfileDTO/$entity",
            single_type="#KarbonService.UserProfileDTO",
            case_insensitive=frozenset({"Name", "EmailAddress"}),
            size_of=lambda size: max(3, min(size // 20, 200)),
        ),
        _plain(
            "Roles",
            "Key",
            _gen_role,
            "No Role found for provided key",
            ("Name",),
            max_top=200,
            size_of=lambda size: len(_STAFF_ROLES),
        ),
        _plain(
            "Teams",
            "TeamKey",
            _gen_team,
            "No Team found for provided key",
            ("Name",),
            summary=_team_summary,
            max_top=200,
            size_of=lambda size: len(_TEAMS),
        ),
        _plain(
            "WorkTemplates",
            "WorkTemplateKey",
            _gen_work_template,
            "No Work Template found for provided key",
            (
                "Title",
                "NumberOfWorkItemsCreated",
                "DateModified",
                "PublishedDate",
                "DateLastWorkItemCreated",
            ),
            max_top=10,
            size_of=lambda size: len(_TEMPLATES),
        ),
        _plain(
            "Timesheets",
            "TimesheetKey",
            _gen_timesheet,
            "No timesheet found for provided key",
            ("StartDate", "EndDate"),
            summary=_timesheet_summary,
            expand=frozenset({"TimeEntries"}),
            list_expand=True,
            size_of=lambda size: max(1, size // 2),
        ),
        _plain(
            "IndividualTimeEntries",
            "IndividualTimeEntryKey",
            _gen_time_entry,
            "No time entry found for provided key",
            ("Date",),
            list_context="$metadata#IndividualTimeEntries",
            max_top=1000,
            guid_keys=True,
            count_default=False,
        ),
        _plain(
            "Invoices",
            "InvoiceKey",
            _gen_invoice,
            "Invoice with key {key} not found.",
            ("InvoiceDate", "InvoiceNumber", "CreatedAt", "UpdatedAt"),
            summary=_invoice_summary,
            expand=frozenset({"LineItems", "Payments", "Data"}),
            filter_fields=frozenset({"InvoiceStatus"}),
            size_of=lambda size: max(1, size // 2),
        ),
        _plain(
            "Payments",
            "PaymentKey",
            _gen_payment,
            "Payment with key {key} not found.",
            ("PaymentDate",),
        ),
        _plain(
            "CustomFields",
            "Key",
            _gen_custom_field,
            "Not Found",
            ("Name",),
            paged=False,
            size_of=lambda size: len(_CUSTOM_FIELDS),
        ),
        _plain(
            "IntegrationTaskDefinitions",
            "TaskDefinitionKey",
            _gen_integration_definition,
            "Not Found",
            ("TaskName",),
            paged=False,
            envelope="values",
            count_default=False,
            size_of=lambda size: len(_INTEGRATION_DEFS),
        ),
        _plain(
            "IntegrationTasks",
            "TaskKey",
            _gen_integration_task,
            "No Integration Task found for provided key",
            ("CreatedAt", "TaskDueDate"),
            paged=False,
            size_of=lambda size: max(1, size // 20),
        ),
        _plain(
            "WorkSchedules",
            "WorkScheduleKey",
            _gen_work_schedule,
            "No Work Schedule found for provided key",
            (),
            listable=False,
        ),
        _plain(
            "Notes",
            "Id",
            _gen_note,
            "No Note found for provided key",
            (),
            listable=False,
            size_of=lambda size: max(1, size // 4),
        ),
        _plain(
            "Comments",
            "CommentKey",
            _gen_comment,
            "Unable to find commentkey: {key}",
            (),
            listable=False,
        ),
        _plain(
            "Expenses",
            "ExpenseKey",
            _gen_nothing,
            "No Expense found for provided key",
            (),
            listable=False,
            size_of=lambda size: 0,
        ),
    )
}

_DERIVED_SIZES: dict[str, tuple[str, int, int]] = {
    # collection: (source, numerator, denominator) -- sized from another so links stay valid
    "IndividualTimeEntries": ("Timesheets", _ENTRIES_PER_TIMESHEET, 1),
    "Payments": ("Invoices", 1, 1),
    "Comments": ("Notes", _COMMENTS_PER_NOTE, 1),
    "WorkSchedules": ("WorkItems", 1, 10),
}


# --------------------------------------------------------------------------- stores


class CollectionStore:
    """One account's view of one collection: lazy base records plus overlays.

    Default order is generation order (index order), then records created later. Logical
    positions skip deleted indexes with a bisect over the sorted deletion list, so fetching a
    page is O(page size + log deletions) however large the collection is.
    """

    _CACHE_LIMIT = 20_000

    def __init__(self, account: AccountData, definition: CollectionDef, base_size: int) -> None:
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
        self.firm = f"{_pick(rng, _FIRMS)}"
        self.domain = f"{_ascii(self.firm)}.example"
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
        k = self.keyer("TenantSettings")
        statuses: list[dict[str, Any]] = []
        for i, primary in enumerate(_PRIMARY_STATUSES):
            children = [
                {"Name": s, "Type": "Secondary", "WorkStatusKey": k.key(i * 10 + j)}
                for j, s in enumerate(_SECONDARY[primary])
                if s
            ]
            statuses.append({"Name": primary, "Type": "Primary", "Children": children})
        work_types = sorted({w for _, w in _WORK})
        in_progress = statuses[2]["Children"]
        return {
            "TenantKey": self.tenant_key,
            "ClientAccessActivated": False,
            "WorkStatuses": statuses,
            "WorkTypes": [
                {
                    "Name": w,
                    "WorkTypeKey": k.key(100 + i),
                    "AvailableStatuses": {
                        "Primary": [spaced_status(s) for s in _PRIMARY_STATUSES[1:]],
                        "Secondary": [c["WorkStatusKey"] for c in in_progress],
                    },
                }
                for i, w in enumerate(work_types)
            ],
            "ContactTypes": [
                {"Name": n, "ContactTypeKey": k.key(200 + i)}
                for i, n in enumerate(("Prospect", "Client", "Inactive", "Other"))
            ],
            "ServiceTypes": [
                {
                    "Name": "Tax Compliance",
                    "ServiceTypeKey": k.key(300),
                    "WorkTypeKeys": [k.key(100 + work_types.index("Tax"))],
                }
            ],
        }
