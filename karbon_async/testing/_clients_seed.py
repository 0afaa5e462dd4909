"""Seed data for clients: contacts, organizations, client groups and their business cards."""

from __future__ import annotations

import random
from collections.abc import Mapping
from typing import Any

from ._store import (
    EPOCH_2022,
    FIRST_NAMES,
    LAST_NAMES,
    CollectionDef,
    GenContext,
    Record,
    Ref,
    ascii_fold,
    defn,
    guid,
    midnight,
    pick,
    udi,
)

__all__ = ["COLLECTIONS", "first_item", "primary_card"]


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


def _address(ctx: GenContext, label: str) -> dict[str, Any]:
    rng = ctx.rng
    city, state, zipcode, country = pick(rng, _CITIES)
    return {
        "AddressKey": guid(rng),
        "AddressLines": f"{rng.randrange(1, 400)} {pick(rng, _STREETS)}",
        "City": city,
        "StateProvinceCounty": state,
        "ZipCode": zipcode,
        "CountryCode": country,
        "Label": label,
    }


def _phone(ctx: GenContext, country: str, label: str) -> dict[str, Any]:
    rng = ctx.rng
    return {
        "PhoneNumberKey": guid(rng),
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


def _gen_contact(ctx: GenContext) -> Record:
    rng = ctx.rng
    first, last = pick(rng, FIRST_NAMES), pick(rng, LAST_NAMES)
    owner, manager = ctx.ref("Users"), ctx.ref("Users")
    preferred = first if rng.random() < 0.7 else first[:3]
    email = f"{ascii_fold(first)}.{ascii_fold(last)}{ctx.index}@example.com"
    org_index = ctx.account.organization_of(ctx.index)
    org_key = (
        ctx.account.store("Organizations").key_of(org_index) if org_index is not None else None
    )
    role = pick(rng, _ROLES) if org_key else None
    key = ctx.key()
    salutation = pick(rng, _SALUTATIONS)
    birth = midnight(EPOCH_2022 - rng.randrange(18 * 365, 80 * 365) * 86_400)
    return {
        "ContactKey": key,
        "FirstName": first,
        "MiddleName": pick(rng, _MIDDLE),
        "LastName": last,
        "PreferredName": preferred,
        "Salutation": salutation,
        "Suffix": pick(rng, _SUFFIXES),
        "ClientOwner": owner.record["EmailAddress"],
        "ClientManager": manager.record["EmailAddress"],
        "ContactType": pick(rng, _CONTACT_TYPES),
        "UserDefinedIdentifier": udi(last, "C", ctx.index),
        "RestrictionLevel": "Public",
        "AvatarUrl": f"https://az.karbonemail.com/images/{guid(rng)}",
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
                slug=f"{ascii_fold(first)}{ascii_fold(last)}",
            )
        ],
        "ClientTeam": _client_team(ctx, owner, manager),
        "ClientAccess": [],
    }


def primary_card(r: Record, name: str = "BusinessCards") -> dict[str, Any] | None:
    cards = r.get(name)
    if isinstance(cards, dict):
        return cards
    if isinstance(cards, list) and cards:
        primary = [c for c in cards if isinstance(c, dict) and c.get("IsPrimaryCard")]
        return primary[0] if primary else (cards[0] if isinstance(cards[0], dict) else None)
    return None


def first_item(values: Any, prop: str | None = None) -> Any:
    if not isinstance(values, list) or not values:
        return None
    return values[0].get(prop) if prop and isinstance(values[0], dict) else values[0]


def _address_line(card: Mapping[str, Any] | None) -> str | None:
    a = first_item(card.get("Addresses") if card else None)
    if not isinstance(a, dict):
        return None
    return f"{a['AddressLines']}, {a['City']} {a['StateProvinceCounty']} {a['ZipCode']}"


def _contact_summary(r: Record) -> Record:
    card = primary_card(r)
    full = " ".join(p for p in (r.get("FirstName"), r.get("LastName")) if p)
    return {
        "ContactKey": r["ContactKey"],
        "FullName": full,
        "PreferredName": r.get("PreferredName"),
        "Salutation": r.get("Salutation"),
        "ClientOwner": r.get("ClientOwner"),
        "ClientManager": r.get("ClientManager"),
        "Address": _address_line(card),
        "EmailAddress": first_item(card.get("EmailAddresses")) if card else None,
        "PhoneNumber": first_item(card.get("PhoneNumbers"), "Number") if card else None,
        "RoleOrTitle": card.get("RoleOrTitle") if card else None,
        "ContactType": r.get("ContactType"),
        "UserDefinedIdentifier": r.get("UserDefinedIdentifier"),
        "LastModifiedDateTime": r.get("LastModifiedDateTime"),
    }


def _firm_name(rng: random.Random) -> str:
    if rng.random() < 0.35:
        return f"{pick(rng, LAST_NAMES)} {pick(rng, _FIRM_TRADES)} {pick(rng, _FIRM_SUFFIXES)}"
    return f"{pick(rng, _FIRM_WORDS)} {pick(rng, _FIRM_TRADES)} {pick(rng, _FIRM_SUFFIXES)}"


def _gen_organization(ctx: GenContext) -> Record:
    rng = ctx.rng
    name = _firm_name(rng)
    slug = ascii_fold(name.rsplit(" ", 1)[0])[:24]
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
    city = pick(rng, _CITIES)
    return {
        "OrganizationKey": key,
        "FullName": name,
        "ClientOwner": owner.record["EmailAddress"],
        "ClientManager": manager.record["EmailAddress"],
        "ContactType": pick(rng, _CONTACT_TYPES),
        "UserDefinedIdentifier": udi(name, "O", ctx.index),
        "RestrictionLevel": "Public",
        "LastModifiedDateTime": ctx.modified(),
        "EntityDescription": {"Text": f"{name} has been a client since {2010 + ctx.index % 15}."},
        "AccountingDetail": _accounting_detail(
            OrganizationPermaKey=key,
            FinancialYearEndDay=30,
            FinancialYearEndMonth=6,
            IncorporationDate=midnight(EPOCH_2022 - rng.randrange(1, 30 * 365) * 86_400),
            LegalName=name,
            LineOfBusiness=name.split(" ")[-3] if len(name.split(" ")) > 2 else None,
            EntityType=pick(rng, ("Company", "Partnership", "Trust", "Sole Trader")),
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
    card = primary_card(r)
    return {
        "OrganizationKey": r["OrganizationKey"],
        "FullName": r.get("FullName"),
        "PhoneNumber": first_item(card.get("PhoneNumbers"), "Number") if card else None,
        "EmailAddress": first_item(card.get("EmailAddresses")) if card else None,
        "Website": first_item(card.get("WebSites")) if card else None,
        "ContactType": r.get("ContactType"),
        "LastModifiedDateTime": r.get("LastModifiedDateTime"),
        "UserDefinedIdentifier": r.get("UserDefinedIdentifier"),
    }


def _gen_client_group(ctx: GenContext) -> Record:
    rng = ctx.rng
    family = rng.random() < 0.6
    lead = ctx.ref("Contacts")
    lead_name = f"{lead.record['FirstName']} {lead.record['LastName']}"
    name = f"The {lead.record['LastName']} Family" if family else f"{pick(rng, _FIRM_WORDS)} Group"
    owner, manager = ctx.ref("Users"), ctx.ref("Users")
    members = [{"ContactKey": lead.key, "OrganizationKey": None}]
    if not family:
        members.append({"ContactKey": None, "OrganizationKey": ctx.ref("Organizations").key})
    card = _card(ctx, "ClientGroup", f"{ascii_fold(name)[:20]}@example.com", slug=ascii_fold(name))
    return {
        "ClientGroupKey": ctx.key(),
        "FullName": name,
        "ClientOwner": owner.record["EmailAddress"],
        "ClientManager": manager.record["EmailAddress"],
        "ContactType": "Client",
        "UserDefinedIdentifier": udi(name.replace("The ", ""), "G", ctx.index),
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
    card = primary_card(r, "BusinessCard")
    return {
        "ClientGroupKey": r["ClientGroupKey"],
        "FullName": r.get("FullName"),
        "PhoneNumber": first_item(card.get("PhoneNumbers"), "Number") if card else None,
        "Website": first_item(card.get("WebSites")) if card else None,
        "LastModifiedDateTime": r.get("LastModifiedDateTime"),
    }


COLLECTIONS: tuple[CollectionDef, ...] = (
    defn(
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
    defn(
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
    defn(
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
)
