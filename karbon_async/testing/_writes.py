"""POST/PUT/PATCH of the client and work-item entity sets.

They share one table of :class:`WriteSpec` (required fields, status codes, what PATCH may touch)
instead of a handler per resource; each domain module supplies the ``build`` of its records.
"""

from __future__ import annotations

import copy
from collections.abc import Callable, Mapping
from typing import Any

import attrs
from aiohttp import web

from karbon_async._generated.operations import OPERATIONS

from ._clients import (
    ENTITY_TYPES,
    build_client_group,
    build_contact,
    build_organization,
    cards_with_keys,
)
from ._common import (
    Call,
    Reply,
    entity_body,
    error,
    invalid_model,
    json_response,
    location,
    no_content,
    require,
    stamp,
)
from ._live_behaviours import patch_only_message
from ._people import user_by_email
from ._store import CollectionStore, Record
from ._work import build_work_item, work_types

__all__ = ["WRITES", "WriteSpec"]


@attrs.frozen
class WriteSpec:
    """How one entity set takes POST/PUT/PATCH."""

    collection: str
    entity: str  # the name in "Required payload data is missing: <entity>"
    required: tuple[str, ...]
    post_status: int
    patchable: tuple[str, ...]
    patch_returns_body: bool
    webhook: tuple[str, str]  # (WebhookType, ResourceType)
    build: Callable[[Call, dict[str, Any], Record | None, str | None], Record]
    cards: str | None = None  # "BusinessCards" (list) / "BusinessCard" (one) / None


def _created(operation_id: str) -> int:
    """A create's status: the one the spec documents (the operation table's), also where the
    2021-22 live suite saw another (POST ClientGroups: 201 live, 200 in the spec, which is the
    newer source; the SDK accepts both: _live_behaviours "create-status-follows-spec")."""
    return OPERATIONS[operation_id].success_status


def _validate_required(spec: WriteSpec, body: Mapping[str, Any]) -> None:
    for name in spec.required:
        value = body.get(name)
        if value is None or (isinstance(value, str) and not value.strip()):
            raise Reply(
                400,
                {
                    "error": {
                        "code": "4003",
                        "message": "Invalid Model.",
                        "details": {
                            "code": "InvalidProperty",
                            "target": f"{spec.entity}.{name}",
                            "message": f"The {name} field is required.",
                        },
                    }
                },
            )


def _check_udi(store: CollectionStore, body: Mapping[str, Any], key: str | None) -> None:
    udi = body.get("UserDefinedIdentifier")
    if not isinstance(udi, str) or not udi:
        return
    found = store.find_udi(udi)
    if found is not None and found.get(store.definition.key_field) != key:
        raise Reply(500, error("5001", "User defined identifier already in use"))


def _check_restriction(body: Mapping[str, Any]) -> None:
    level = body.get("RestrictionLevel")
    if level is None:
        return
    if level not in ("Public", "Private", "Hidden"):
        raise Reply(400, error("4002", f"Invalid RestrictionLevel '{level}'."))
    if level != "Public":
        raise Reply(
            403,
            error(
                "4021",
                f"This API application does not have permission to set RestrictionLevel "
                f"to {level}.",
            ),
        )


WRITES: dict[str, WriteSpec] = {
    s.collection.lower(): s
    for s in (
        WriteSpec(
            "Contacts",
            "contact",
            ("FirstName", "LastName"),
            _created("createContact"),
            ("FirstName", "MiddleName", "LastName", "PreferredName", "Salutation", "Suffix"),
            True,
            ("Contact", "Contact"),
            build_contact,
            cards="BusinessCards",
        ),
        WriteSpec(
            "Organizations",
            "organization",
            ("FullName",),
            _created("createOrganization"),
            ("FullName",),
            True,
            ("Contact", "Contact"),
            build_organization,
            cards="BusinessCards",
        ),
        WriteSpec(
            "ClientGroups",
            "clientGroup",
            ("FullName",),
            _created("createClientGroup"),
            ("FullName",),
            False,
            ("Contact", "Contact"),
            build_client_group,
            cards="BusinessCard",
        ),
        WriteSpec(
            "WorkItems",
            "workItem",
            ("AssigneeEmailAddress", "Title", "ClientKey", "ClientType", "StartDate"),
            _created("createWorkItem"),
            (
                "Description",
                "DeadlineDate",
                "Title",
                "StartDate",
                "DueDate",
                "AssigneeEmailAddress",
                "WorkType",
            ),
            False,
            ("Work", "Work"),
            build_work_item,
        ),
    )
}


WRITE_SETS = "Contacts|Organizations|ClientGroups|WorkItems"


def _attach_cards(
    call: Call, spec: WriteSpec, rec: Record, body: Mapping[str, Any], key: str, index: int
) -> None:
    if spec.cards is None:
        return
    entity_type = ENTITY_TYPES[spec.collection]
    cards = cards_with_keys(call, spec.collection, index, body[spec.cards], entity_type, key)
    rec[spec.cards] = cards if spec.cards == "BusinessCards" else (cards[0] if cards else None)


async def create_entity(call: Call) -> web.StreamResponse:
    spec = WRITES[call.params["set"].lower()]
    store = call.store(spec.collection)
    body = call.body(spec.entity)
    _validate_required(spec, body)
    _check_restriction(body)
    _check_udi(store, body, None)
    rec = spec.build(call, body, None, None)
    key = store.create(rec)
    index = require(store, key)
    if spec.cards is not None:
        rec = dict(store.record_at(index))
        if body.get(spec.cards) is not None:
            _attach_cards(call, spec, rec, body, key, index)
        else:
            rec[spec.cards] = [] if spec.cards == "BusinessCards" else None
        store.put(key, rec)
    call.emit(*spec.webhook, "Inserted", key)
    return json_response(
        spec.post_status,
        entity_body(call, store, key),
        headers=location(call, spec.collection, key),
    )


async def replace_entity(call: Call) -> web.StreamResponse:
    spec = WRITES[call.params["set"].lower()]
    store = call.store(spec.collection)
    key = call.params["key"]
    index = require(store, key)
    body = call.body(spec.entity)
    _validate_required(spec, body)
    _check_restriction(body)
    _check_udi(store, body, key)
    previous = store.record_at(index)
    rec = spec.build(call, body, previous, key)
    if spec.cards is not None:
        if body.get(spec.cards) is None:
            rec[spec.cards] = copy.deepcopy(previous.get(spec.cards))
        else:
            _attach_cards(call, spec, rec, body, key, index)
    store.put(key, rec)
    call.emit(*spec.webhook, "Updated", key)
    return no_content()


async def patch_entity(call: Call) -> web.StreamResponse:
    spec = WRITES[call.params["set"].lower()]
    store = call.store(spec.collection)
    key = call.params["key"]
    index = require(store, key)
    body = call.body("update")
    extra = [name for name in body if name not in spec.patchable]
    if extra:
        raise Reply(400, error("4002", patch_only_message(spec.patchable)))
    for name in spec.required:
        if name in body and (body[name] is None or body[name] == ""):
            raise Reply(400, error("4005", "Required payload data is missing: update"))
    rec = copy.deepcopy(store.record_at(index))
    if spec.collection == "WorkItems" and "AssigneeEmailAddress" in body:
        assignee = user_by_email(call, body["AssigneeEmailAddress"])
        if assignee is None:
            raise Reply(500, error("5001", "Assignee email address is not an active Karbon user"))
        rec["AssigneeKey"], rec["AssigneeName"] = assignee[0], assignee[1]["Name"]
    if (
        spec.collection == "WorkItems"
        and body.get("WorkType") is not None
        and body["WorkType"] not in work_types(call)
    ):
        raise invalid_model("workItem.WorkType", "Work Type is not valid")
    rec.update(body)
    if "LastModifiedDateTime" in rec:
        rec["LastModifiedDateTime"] = stamp()
    store.put(key, rec)
    call.emit(*spec.webhook, "Updated", key)
    # The four PATCH routes here answer the record when asked (Prefer: return=representation).
    prefer = call.request.headers.get("Prefer", "").replace(" ", "").lower()
    if not spec.patch_returns_body and prefer != "return=representation":
        return no_content()
    out = entity_body(call, store, key)
    for name in store.definition.expand:
        out.pop(name, None)
    if "AccountingDetail" in out:
        out["AccountingDetail"] = None  # the spec: a PATCH answer's AccountingDetail is null
    return json_response(200, out)
