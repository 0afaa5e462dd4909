"""Client endpoints: how contacts, organizations and client groups are built from a write, and
business cards (seed data: ``_clients_seed``)."""

from __future__ import annotations

import copy
import re
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
    stamp,
)
from ._keys import hash_str, mix64
from ._live_behaviours import ACCOUNTING_INTEGERS
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
    write = call.store(collection).version(key) or 0
    out: list[dict[str, Any]] = []
    for n, card in enumerate(cards if isinstance(cards, list) else [cards]):
        if not isinstance(card, dict):
            continue
        out.append(_card_record(call, card, keyer.key(index * 16 + n), entity_type, key, n, write))
    return out


def _keyed_entries(entries: Any, key_name: str, seed: int) -> list[dict[str, Any]]:
    """Addresses or phone numbers with their GUID key: an entry sent with its key keeps it (a
    PUT sends back what GET gave), one without gets a fresh key (Postman #68)."""
    listed = [e for e in entries if isinstance(e, dict)] if isinstance(entries, list) else []
    taken = {e[key_name] for e in listed if isinstance(e.get(key_name), str) and e[key_name]}
    out = []
    n = 0
    for entry in listed:
        if entry.get(key_name) in taken:
            out.append(dict(entry))
            continue
        while guid_from(seed + n) in taken:
            n += 1
        fresh = guid_from(seed + n)
        taken.add(fresh)
        out.append({**entry, key_name: fresh})
    return out


def _card_record(
    call: Call,
    card: Mapping[str, Any],
    card_key: str,
    entity_type: str,
    key: str,
    n: int,
    write: int,
) -> dict[str, Any]:
    # Seeded by the card and the owner's write count, so every write mints keys never used.
    seed = mix64(hash_str(f"{card_key}:{write}"))
    addresses = _keyed_entries(card.get("Addresses"), "AddressKey", seed)
    phones = _keyed_entries(card.get("PhoneNumbers"), "PhoneNumberKey", seed + 1_000)
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


def _accounting_detail(detail: Any) -> dict[str, Any] | None:
    """AccountingDetail as stored: integer properties sent as numeric strings become integers
    (Postman #45, #50)."""
    if not isinstance(detail, dict):
        return None
    out = dict(detail)
    for name in ACCOUNTING_INTEGERS:
        value = out.get(name)
        if isinstance(value, str) and re.fullmatch(r"\s*-?\d+\s*", value):
            out[name] = int(value)
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
    rec["AccountingDetail"] = _accounting_detail(body.get("AccountingDetail"))
    rec["ClientAccess"] = (previous or {}).get("ClientAccess", [])
    return rec


def build_organization(
    call: Call, body: dict[str, Any], previous: Record | None, key: str | None
) -> Record:
    rec = _common_client_fields(
        body, previous, ("FullName", "ClientOwner", "ClientManager", "UserDefinedIdentifier")
    )
    rec["AccountingDetail"] = _accounting_detail(body.get("AccountingDetail"))
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


async def get_business_card(call: Call) -> web.StreamResponse:
    _, _, _, card = _find_card(call, call.params["key"])
    body = {"@odata.context": call.context("BusinessCards/$entity"), **copy.deepcopy(card)}
    return json_response(200, body)


async def put_business_card(call: Call) -> web.StreamResponse:
    card_key = call.params["key"]
    collection, entity_key, position, card = _find_card(call, card_key)
    body = call.body("businessCard")
    store = call.store(collection)
    rec = copy.deepcopy(store.record_at(require(store, entity_key)))
    write = store.version(entity_key) or 0
    new = _card_record(call, body, card_key, card["EntityType"], entity_key, position, write)
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
