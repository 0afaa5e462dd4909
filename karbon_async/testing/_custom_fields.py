"""Custom field endpoints: definitions and per-entity values (seed: ``_custom_fields_seed``)."""

from __future__ import annotations

import copy
from typing import Any

from aiohttp import web

from ._clients import ENTITY_TYPES
from ._common import (
    Call,
    Reply,
    error,
    json_response,
    location,
    no_content,
    require,
)
from ._keys import hash_str, mix64

__all__ = ["custom_field_values"]


async def create_custom_field(call: Call) -> web.StreamResponse:
    body = call.body("customFieldDefinition")
    name, kind = body.get("Name"), body.get("Type")
    if not isinstance(name, str) or not name.strip() or kind is None:
        raise Reply(400, error("4005", "Required payload data is missing: customFieldDefinition"))
    if len(name) > 100:
        raise Reply(400, error("4002", "Name must be 100 characters or fewer"))
    kinds = ("Text", "Number", "Date", "Boolean", "Colleague", "ListSingleSelect")
    if kind not in (*kinds, "ListMultipleSelect"):
        raise Reply(400, error("4002", f"Invalid custom field Type '{kind}'."))
    options = body.get("ListOptions") or []
    if not isinstance(options, list) or any(
        not isinstance(o, str) or len(o) > 256 for o in options
    ):
        raise Reply(400, error("4002", "ListOptions must be strings of at most 256 characters"))
    if kind.startswith("List") and not options:
        raise Reply(400, error("4002", "ListOptions are required for list custom fields"))
    store = call.store("CustomFields")
    if any(r.get("Name") == name for r in store.records()):
        raise Reply(400, error("4002", f"A custom field named '{name}' already exists"))
    rec = {
        "Name": name,
        "Type": kind,
        "IsVisibleToContacts": bool(body.get("IsVisibleToContacts", True)),
        "IsVisibleToOrganizations": bool(body.get("IsVisibleToOrganizations", True)),
        "ListOptions": list(options),
    }
    key = store.create(rec)
    out = {
        "@odata.context": call.context("CustomFields/$entity"),
        **store.record_at(require(store, key)),
    }
    return json_response(201, out, headers=location(call, "CustomFields", key))


async def delete_custom_field(call: Call) -> web.StreamResponse:
    store = call.store("CustomFields")
    key = call.params["key"]
    if store.index_of(key) is None:
        raise Reply(404, error("4004", "Not Found"))
    store.delete(key)
    for values in call.account.custom_field_values.values():
        values[:] = [v for v in values if v["Key"] != key]
    return no_content()


def _value_owner(call: Call, entity_key: str) -> tuple[str, int]:
    for collection in ("Contacts", "Organizations"):
        store = call.store(collection)
        index = store.index_of(entity_key)
        if index is not None:
            return ENTITY_TYPES[collection], index
    raise Reply(404, error("4004", "Not Found"))


def custom_field_values(call: Call, entity_key: str) -> list[dict[str, Any]]:
    """The current values of an entity: written ones, else a deterministic seed."""
    entity_type, _ = _value_owner(call, entity_key)
    stored = call.account.custom_field_values.get(entity_key)
    if stored is not None:
        return stored
    defs = call.store("CustomFields")
    users = call.store("Users")
    out: list[dict[str, Any]] = []
    h = mix64(hash_str(entity_key))
    for d_index in defs.iter_indexes():
        d = defs.record_at(d_index)
        if d_index >= defs.base_size or (h >> d_index) & 1 == 0:
            continue
        visible = d[
            "IsVisibleToContacts" if entity_type == "Contact" else "IsVisibleToOrganizations"
        ]
        if not visible:
            continue
        kind = d["Type"]
        value: list[str]
        if kind.startswith("List"):
            value = [d["ListOptions"][h % len(d["ListOptions"])]]
        elif kind == "Date":
            value = [f"{2010 + h % 14}-{1 + h % 12:02d}-01"]
        elif kind == "Number":
            value = [f"{1000 + h % 90_000}.00"]
        elif kind == "Boolean":
            value = ["true" if h % 3 else "false"]
        elif kind == "Colleague":
            value = [users.key_of(h % max(1, users.base_size))]
        else:
            value = [("Accountant referral", "Website", "Existing client")[h % 3]]
        out.append({"Key": defs.key_of(d_index), "Name": d["Name"], "Type": kind, "Value": value})
    return out


async def get_custom_field_values(call: Call) -> web.StreamResponse:
    key = call.params["key"]
    values = copy.deepcopy(custom_field_values(call, key))
    body: dict[str, Any] = {"@odata.context": call.context("CustomFieldValues/$entity")}
    body.update(EntityKey=key, CustomFieldValues=values)
    return json_response(200, body)


async def put_custom_field_values(call: Call) -> web.StreamResponse:
    key = call.params["key"]
    entity_type, _ = _value_owner(call, key)
    had = bool(custom_field_values(call, key))
    body = call.body("customFieldValues")
    items = body.get("CustomFieldValues")
    if not isinstance(items, list):
        raise Reply(400, error("4005", "Required payload data is missing: CustomFieldValues"))
    defs = call.store("CustomFields")
    out: list[dict[str, Any]] = []
    for item in items:
        if not isinstance(item, dict):
            raise Reply(400, error("4002", "Invalid custom field value"))
        d_index = defs.index_of(str(item.get("Key")))
        if d_index is None:
            raise Reply(400, error("4002", f"Invalid custom field key {item.get('Key')}"))
        d = defs.record_at(d_index)
        value = item.get("Value")
        if not isinstance(value, list) or any(not isinstance(v, str) for v in value):
            raise Reply(400, error("4002", "Value must be an array of strings"))
        if len(value) > 1 and d["Type"] != "ListMultipleSelect":
            raise Reply(400, error("4002", f"Only one value allowed for type {d['Type']}"))
        if d["Type"].startswith("List") and any(v not in d["ListOptions"] for v in value):
            raise Reply(400, error("4002", f"Invalid option for custom field {d['Name']}"))
        out.append({"Key": item["Key"], "Name": d["Name"], "Type": d["Type"], "Value": value})
    call.account.custom_field_values[key] = out
    call.emit(
        "CustomField",
        "CustomFieldValue",
        "Updated" if had else "Inserted",
        key,
        ClientKey=key,
        ClientType=entity_type,
    )
    return no_content()
