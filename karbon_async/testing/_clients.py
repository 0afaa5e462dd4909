"""Client endpoints: how contacts, organizations and client groups are built from a write, and
business cards (seed data: ``_clients_seed``)."""

from __future__ import annotations

import copy
from collections.abc import Mapping
from typing import Any

from aiohttp import web

from ._common import (
    Call,
    Reply,
    error,
    guid_from,
    json_response,
    no_content,
    require,
    route,
    stamp,
)
from ._keys import hash_str, mix64
from ._store import Record

__all__ = ["ENTITY_TYPES", "build_client_group", "build_contact", "build_organization"]


_CARD_OWNERS = ("Contacts", "Organizations", "ClientGroups")


ENTITY_TYPES = {
    "Contacts": "Contact",
    "Organizations": "Organization",
    "ClientGroups": "ClientGroup",
}


def cards_with_keys(
    call: Call, collection: str, index: int, cards: Any, entity_type: str, key: str
) -> list[dict[str, Any]]:
    keyer = call.account.data.keyer(f"{collection}/BusinessCards")
    out: list[dict[str, Any]] = []
    for n, card in enumerate(cards if isinstance(cards, list) else [cards]):
        if not isinstance(card, dict):
            continue
        out.append(_card_record(call, card, keyer.key(index * 16 + n), entity_type, key, n))
    return out


def _card_record(
    call: Call, card: Mapping[str, Any], card_key: str, entity_type: str, key: str, n: int
) -> dict[str, Any]:
    rng_base = mix64(hash_str(card_key))
    addresses = []
    for i, a in enumerate(card.get("Addresses") or []):
        if isinstance(a, dict):
            address = {"AddressKey": guid_from(rng_base + i)} | a
            addresses.append(address)
    phones = []
    for i, ph in enumerate(card.get("PhoneNumbers") or []):
        if isinstance(ph, dict):
            phones.append({"PhoneNumberKey": guid_from(rng_base + 100 + i)} | ph)
    return {
        "BusinessCardKey": card_key,
        "EntityType": entity_type,
        "EntityKey": key,
        "IsPrimaryCard": bool(card.get("IsPrimaryCard", n == 0)),
        "WebSites": list(card.get("WebSites") or []),
        "EmailAddresses": list(card.get("EmailAddresses") or []),
        "OrganizationKey": card.get("OrganizationKey"),
        "RoleOrTitle": card.get("RoleOrTitle"),
        "FacebookLink": card.get("FacebookLink"),
        "LinkedInLink": card.get("LinkedInLink"),
        "TwitterLink": card.get("TwitterLink"),
        "SkypeLink": card.get("SkypeLink"),
        "Addresses": addresses,
        "PhoneNumbers": phones,
    }


def _common_client_fields(
    body: Mapping[str, Any], previous: Record | None, names: tuple[str, ...]
) -> dict[str, Any]:
    out: dict[str, Any] = {name: body.get(name) for name in names}
    out["ContactType"] = body.get("ContactType") or "Client"
    out["RestrictionLevel"] = body.get("RestrictionLevel") or "Public"
    out["LastModifiedDateTime"] = stamp()
    description = body.get("EntityDescription")
    out["EntityDescription"] = description if isinstance(description, dict) else {"Text": None}
    if previous is not None and "ClientTeam" not in body:
        out["ClientTeam"] = previous.get("ClientTeam", [])
    else:
        out["ClientTeam"] = list(body.get("ClientTeam") or [])
    return out


def build_contact(
    call: Call, body: dict[str, Any], previous: Record | None, key: str | None
) -> Record:
    rec = _common_client_fields(
        body,
        previous,
        (
            "FirstName",
            "MiddleName",
            "LastName",
            "PreferredName",
            "Salutation",
            "Suffix",
            "ClientOwner",
            "ClientManager",
            "UserDefinedIdentifier",
        ),
    )
    rec["AvatarUrl"] = (previous or {}).get("AvatarUrl")
    detail = body.get("AccountingDetail")
    rec["AccountingDetail"] = detail if isinstance(detail, dict) else None
    rec["ClientAccess"] = (previous or {}).get("ClientAccess", [])
    return rec


def build_organization(
    call: Call, body: dict[str, Any], previous: Record | None, key: str | None
) -> Record:
    rec = _common_client_fields(
        body, previous, ("FullName", "ClientOwner", "ClientManager", "UserDefinedIdentifier")
    )
    detail = body.get("AccountingDetail")
    rec["AccountingDetail"] = detail if isinstance(detail, dict) else None
    rec["Contacts"] = (previous or {}).get("Contacts", [])
    return rec


def build_client_group(
    call: Call, body: dict[str, Any], previous: Record | None, key: str | None
) -> Record:
    rec = _common_client_fields(
        body,
        previous,
        ("FullName", "ClientOwner", "ClientManager", "UserDefinedIdentifier", "PrimaryContact"),
    )
    rec["Members"] = list(body.get("Members") or [])
    rec["AccountingDetails"] = body.get("AccountingDetails")
    return rec


# --------------------------------------------------------------------------- business cards


def _find_card(call: Call, card_key: str) -> tuple[str, str, int, Record]:
    """(collection, entity key, position in the entity's cards, card) for a card key."""
    for collection in _CARD_OWNERS:
        sub = call.account.data.keyer(f"{collection}/BusinessCards").index(card_key)
        if sub is None:
            continue
        store = call.store(collection)
        entity_index = sub // 16
        if store.index_of(store.key_of(entity_index)) is None:
            continue
        rec = store.record_at(entity_index)
        cards = rec.get("BusinessCards", rec.get("BusinessCard"))
        listed = cards if isinstance(cards, list) else [cards]
        for position, card in enumerate(listed):
            if isinstance(card, dict) and card.get("BusinessCardKey") == card_key:
                return collection, store.key_of(entity_index), position, card
    raise Reply(404, error("4004", f"Invalid businessCardPermaKey {card_key}"))


@route("GET", r"BusinessCards/(?P<key>[^/]+)")
async def get_business_card(call: Call) -> web.StreamResponse:
    _, _, _, card = _find_card(call, call.params["key"])
    body = {"@odata.context": call.context("BusinessCards/$entity"), **copy.deepcopy(card)}
    return json_response(200, body)


@route("PUT", r"BusinessCards/(?P<key>[^/]+)")
async def put_business_card(call: Call) -> web.StreamResponse:
    card_key = call.params["key"]
    collection, entity_key, position, card = _find_card(call, card_key)
    body = call.body("businessCard")
    store = call.store(collection)
    rec = copy.deepcopy(store.record_at(require(store, entity_key)))
    new = _card_record(call, body, card_key, card["EntityType"], entity_key, position)
    if "IsPrimaryCard" not in body:
        new["IsPrimaryCard"] = card.get("IsPrimaryCard", True)
    if isinstance(rec.get("BusinessCards"), list):
        rec["BusinessCards"][position] = new
    else:
        rec["BusinessCard"] = new
    if "LastModifiedDateTime" in rec:
        rec["LastModifiedDateTime"] = stamp()
    store.put(entity_key, rec)
    call.emit("Contact", "Contact", "Updated", entity_key)
    return no_content()
