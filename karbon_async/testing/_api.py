"""Write operations and the endpoints that are not plain entity-set GETs.

The generic entity-set GETs (lists with OData options, single records, UDI lookups) live in
``_server``; everything else is a row of :data:`ROUTES` — (method, path pattern, handler) — so
the server never grows a branch per resource. Handlers get a :class:`Call` and return a response
or raise :class:`Reply`. Entity writes share one table of :class:`WriteSpec` (required fields,
status codes, what PATCH may touch) instead of a handler per resource.
"""

from __future__ import annotations

import copy
import json
import re
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import TYPE_CHECKING, Any

from aiohttp import BodyPartReader, web

from ._data import (
    COLLECTIONS,
    CollectionStore,
    Record,
    hash_str,
    spaced_status,
)
from ._keys import mix64

if TYPE_CHECKING:
    from ._server import FakeAccount, FakeKarbon

__all__ = ["ROUTES", "Call", "Reply", "error"]

_PLAIN_JSON = "application/json; charset=utf-8"
_ODATA_JSON = (
    "application/json; odata.metadata=minimal; odata.streaming=true; "
    "IEEE754Compatible=false; charset=utf-8"
)
WEBHOOK_TYPES = (
    "Contact", "CustomField", "Work", "Note", "User", "IntegrationTask", "Invoice",
    "EstimateSummary",
)  # fmt: skip
_SIGNING_KEY = re.compile(r"^[A-Za-z0-9_-]{16,}$")
_UNSUPPORTED_MIME = frozenset(
    {
        "application/x-msdownload", "application/x-sh", "application/x-bat", "text/html",
        "application/javascript", "text/javascript", "application/x-executable",
    }
)  # fmt: skip
_UNSUPPORTED_EXT = (".exe", ".bat", ".cmd", ".sh", ".js", ".html", ".htm", ".msi", ".ps1")
_FILE_LINKS = {
    "contact_keys": ("Contacts", "Contact"),
    "organization_keys": ("Organizations", "Organization"),
    "client_group_keys": ("ClientGroups", "ClientGroup"),
    "workitem_keys": ("WorkItems", "WorkItem"),
    "integration_task_key": ("IntegrationTasks", "IntegrationTask"),
}
_CARD_OWNERS = ("Contacts", "Organizations", "ClientGroups")
_CLIENT_COLLECTIONS = {
    "Contact": "Contacts",
    "Organization": "Organizations",
    "ClientGroup": "ClientGroups",
}


# --------------------------------------------------------------------------- plumbing


def error(code: str, message: str) -> dict[str, Any]:
    return {"error": {"code": code, "message": message}}


class Reply(Exception):
    """Raised by a handler to answer at once (usually an error)."""

    def __init__(self, status: int, body: Any = None) -> None:
        super().__init__(status)
        self.status = status
        self.body = body


def _json(
    status: int, body: Any, *, odata: bool = True, headers: Mapping[str, str] | None = None
) -> web.Response:
    text = json.dumps(body, ensure_ascii=False, separators=(",", ":"))
    all_headers = {**(headers or {}), "Content-Type": _ODATA_JSON if odata else _PLAIN_JSON}
    return web.Response(status=status, body=text.encode(), headers=all_headers)


def _no_content() -> web.Response:
    return web.Response(status=204)


def _now() -> datetime:
    return datetime.now(timezone.utc)


def _stamp() -> str:
    now = _now()
    return f"{now:%Y-%m-%dT%H:%M:%S}.{now.microsecond * 10:07d}Z"


@dataclass
class Call:
    """One request as a handler sees it."""

    fake: FakeKarbon
    account: FakeAccount
    request: web.Request
    params: dict[str, str]
    raw: bytes = b""

    def store(self, name: str) -> CollectionStore:
        return self.account.data.store(name)

    def body(self, entity: str) -> dict[str, Any]:
        """The JSON object body; a missing/null/non-object body is Karbon's 4005."""
        if not self.raw.strip():
            raise Reply(400, error("4005", f"Required payload data is missing: {entity}"))
        try:
            value = json.loads(self.raw)
        except ValueError as exc:
            raise Reply(400, error("4005", f"Required payload data is missing: {entity}")) from exc
        if not isinstance(value, dict):
            raise Reply(400, error("4005", f"Required payload data is missing: {entity}"))
        return value

    def context(self, suffix: str) -> str:
        return f"{self.fake.base_url}/v3/$metadata#{suffix}"

    def emit(
        self,
        webhook_type: str,
        resource_type: str,
        action: str,
        key: str,
        **extra: Any,
    ) -> None:
        self.fake._emit(self.account, webhook_type, resource_type, action, key, extra)


Handler = Callable[[Call], Awaitable[web.StreamResponse]]


@dataclass(frozen=True)
class Route:
    method: str
    pattern: re.Pattern[str]
    handler: Handler


ROUTES: list[Route] = []


def route(method: str, pattern: str) -> Callable[[Handler], Handler]:
    """Register ``handler`` for ``method`` and a path (after "/v3/") regex."""

    def register(handler: Handler) -> Handler:
        ROUTES.append(Route(method, re.compile(pattern + r"/?$", re.IGNORECASE), handler))
        return handler

    return register


def _require(store: CollectionStore, key: str) -> int:
    index = store.index_of(key)
    if index is None:
        raise Reply(404, error("4004", store.definition.not_found(key)))
    return index


def _users_by_email(call: Call) -> dict[str, tuple[str, Record]]:
    users = call.store("Users")
    out: dict[str, tuple[str, Record]] = {}
    for index in users.iter_indexes():
        rec = users.record_at(index)
        out[str(rec.get("EmailAddress", "")).casefold()] = (users.key_of(index), rec)
    return out


def _user_by_email(call: Call, email: Any) -> tuple[str, Record] | None:
    if not isinstance(email, str) or not email.strip():
        return None
    return _users_by_email(call).get(email.strip().casefold())


def _entity_body(call: Call, store: CollectionStore, key: str) -> dict[str, Any]:
    """A record as the single GET returns it with every navigation property expanded."""
    definition = store.definition
    body: dict[str, Any] = {
        "@odata.context": f"{call.fake.base_url}/v3/{definition.single_context}"
    }
    if definition.single_type:
        body["@odata.type"] = definition.single_type
    body.update(copy.deepcopy(store.record_at(_require(store, key))))
    return body


def _location(call: Call, collection: str, key: str) -> dict[str, str]:
    return {"Location": f"{call.fake.base_url}/v3/{collection}('{key}')"}


# --------------------------------------------------------------------------- entity writes


@dataclass(frozen=True)
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
    patch_only_message: str = ""


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


def _cards_with_keys(
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
            address = {"AddressKey": _guid_from(rng_base + i)} | a
            addresses.append(address)
    phones = []
    for i, ph in enumerate(card.get("PhoneNumbers") or []):
        if isinstance(ph, dict):
            phones.append({"PhoneNumberKey": _guid_from(rng_base + 100 + i)} | ph)
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


def _guid_from(value: int) -> str:
    hi, lo = mix64(value), mix64(value ^ 0x5A5A)
    h = f"{hi:016x}{lo:016x}"
    return f"{h[:8]}-{h[8:12]}-4{h[13:16]}-{h[16:20]}-{h[20:]}"


def _common_client_fields(
    body: Mapping[str, Any], previous: Record | None, names: tuple[str, ...]
) -> dict[str, Any]:
    out: dict[str, Any] = {name: body.get(name) for name in names}
    out["ContactType"] = body.get("ContactType") or "Client"
    out["RestrictionLevel"] = body.get("RestrictionLevel") or "Public"
    out["LastModifiedDateTime"] = _stamp()
    description = body.get("EntityDescription")
    out["EntityDescription"] = description if isinstance(description, dict) else {"Text": None}
    if previous is not None and "ClientTeam" not in body:
        out["ClientTeam"] = previous.get("ClientTeam", [])
    else:
        out["ClientTeam"] = list(body.get("ClientTeam") or [])
    return out


def _build_contact(
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


def _build_organization(
    call: Call, body: dict[str, Any], previous: Record | None, key: str | None
) -> Record:
    rec = _common_client_fields(
        body, previous, ("FullName", "ClientOwner", "ClientManager", "UserDefinedIdentifier")
    )
    detail = body.get("AccountingDetail")
    rec["AccountingDetail"] = detail if isinstance(detail, dict) else None
    rec["Contacts"] = (previous or {}).get("Contacts", [])
    return rec


def _build_client_group(
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


def _normalise_status(value: Any) -> Any:
    return value.replace(" ", "") if isinstance(value, str) else value


def _client_error(target: str, message: str) -> Reply:
    return Reply(
        400,
        {
            "error": {
                "code": "4003",
                "message": "Invalid Model.",
                "details": {"code": "InvalidProperty", "target": target, "message": message},
            }
        },
    )


def _build_work_item(
    call: Call, body: dict[str, Any], previous: Record | None, key: str | None
) -> Record:
    client_type = body.get("ClientType")
    if client_type not in _CLIENT_COLLECTIONS:
        raise _client_error(
            "workItem.ClientType", "ClientType must be Contact, Organization, or ClientGroup"
        )
    client_store = call.store(_CLIENT_COLLECTIONS[client_type])
    client_key = str(body.get("ClientKey"))
    client_index = client_store.index_of(client_key)
    if client_index is None:
        raise _client_error("workItem.ClientKey", f"ClientKey is not a valid {client_type} Key")
    client = client_store.record_at(client_index)
    assignee = _user_by_email(call, body.get("AssigneeEmailAddress"))
    if assignee is None:
        raise Reply(500, error("5001", "Assignee email address is not an active Karbon user"))
    template_key = body.get("WorkTemplateKey")
    template_title = None
    if template_key is not None:
        templates = call.store("WorkTemplates")
        t_index = templates.index_of(str(template_key))
        if t_index is None:
            raise _client_error(
                "workItem.WorkTemplateKey", "WorkTemplateKey is not a valid Work Template"
            )
        template_title = templates.record_at(t_index)["Title"]
    work_types = {w["Name"] for w in call.account.data.tenant_settings()["WorkTypes"]}
    work_type = body.get("WorkType")
    if work_type is not None and work_type not in work_types:
        raise _client_error("workItem.WorkType", "Work Type is not valid")
    primary = _normalise_status(body.get("PrimaryStatus")) or "Planned"
    secondary = body.get("SecondaryStatus")
    work_status = spaced_status(primary) or ""
    if secondary:
        work_status = f"{work_status} - {secondary}"
    client_name = client.get("FullName") or " ".join(
        p for p in (client.get("FirstName"), client.get("LastName")) if p
    )
    fee = body.get("FeeSettings")
    previous = previous or {}
    return {
        "AssigneeEmailAddress": assignee[1]["EmailAddress"],
        "AssigneeKey": assignee[0],
        "AssigneeName": assignee[1]["Name"],
        "Title": body.get("Title"),
        "ClientKey": client_key,
        "ClientName": client_name,
        "ClientType": client_type,
        "ClientUserDefinedIdentifier": client.get("UserDefinedIdentifier"),
        "RelatedClientGroupKey": body.get("RelatedClientGroupKey"),
        "ClientGroupKey": body.get("RelatedClientGroupKey"),
        "RelatedClientGroupName": None,
        "StartDate": body.get("StartDate"),
        "DueDate": body.get("DueDate"),
        "DeadlineDate": body.get("DeadlineDate"),
        "CompletedDate": _stamp()[:10] + "T00:00:00Z" if primary == "Completed" else None,
        "ToDoPeriod": body.get("ToDoPeriod"),
        "WorkType": work_type,
        "WorkStatus": work_status,
        "PrimaryStatus": primary,
        "SecondaryStatus": secondary,
        "WorkTemplateKey": template_key,
        "WorkTemplateTile": template_title,
        "WorkScheduleKey": previous.get("WorkScheduleKey"),
        "EstimatedBudget": body.get("EstimatedBudget"),
        "FeeSettings": fee if isinstance(fee, dict) else {"FeeType": "NonBillable"},
        "UserRoleAssignments": list(body.get("UserRoleAssignments") or []),
        "Description": body.get("Description"),
        "ClientTaskRecipient": body.get("ClientTaskRecipient"),
    }


WRITES: dict[str, WriteSpec] = {
    s.collection.lower(): s
    for s in (
        WriteSpec(
            "Contacts",
            "contact",
            ("FirstName", "LastName"),
            201,
            ("FirstName", "MiddleName", "LastName", "PreferredName", "Salutation", "Suffix"),
            True,
            ("Contact", "Contact"),
            _build_contact,
            cards="BusinessCards",
        ),
        WriteSpec(
            "Organizations",
            "organization",
            ("FullName",),
            201,
            ("FullName",),
            True,
            ("Contact", "Contact"),
            _build_organization,
            cards="BusinessCards",
            patch_only_message="Invalid property to update. Only FullName can be patched",
        ),
        WriteSpec(
            "ClientGroups",
            "clientGroup",
            ("FullName",),
            200,
            ("FullName",),
            False,
            ("Contact", "Contact"),
            _build_client_group,
            cards="BusinessCard",
            patch_only_message="Invalid property to update. Only FullName can be patched",
        ),
        WriteSpec(
            "WorkItems",
            "workItem",
            ("AssigneeEmailAddress", "Title", "ClientKey", "ClientType", "StartDate"),
            201,
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
            _build_work_item,
        ),
    )
}
_ENTITY_TYPES = {
    "Contacts": "Contact",
    "Organizations": "Organization",
    "ClientGroups": "ClientGroup",
}
_WRITE_SETS = "Contacts|Organizations|ClientGroups|WorkItems"


def _attach_cards(
    call: Call, spec: WriteSpec, rec: Record, body: Mapping[str, Any], key: str, index: int
) -> None:
    if spec.cards is None:
        return
    entity_type = _ENTITY_TYPES[spec.collection]
    cards = _cards_with_keys(call, spec.collection, index, body[spec.cards], entity_type, key)
    rec[spec.cards] = cards if spec.cards == "BusinessCards" else (cards[0] if cards else None)


@route("POST", rf"(?P<set>{_WRITE_SETS})")
async def create_entity(call: Call) -> web.StreamResponse:
    spec = WRITES[call.params["set"].lower()]
    store = call.store(spec.collection)
    body = call.body(spec.entity)
    _validate_required(spec, body)
    _check_restriction(body)
    _check_udi(store, body, None)
    rec = spec.build(call, body, None, None)
    key = store.create(rec)
    index = _require(store, key)
    if spec.cards is not None:
        rec = dict(store.record_at(index))
        if body.get(spec.cards) is not None:
            _attach_cards(call, spec, rec, body, key, index)
        else:
            rec[spec.cards] = [] if spec.cards == "BusinessCards" else None
        store.put(key, rec)
    call.emit(*spec.webhook, "Inserted", key)
    return _json(
        spec.post_status,
        _entity_body(call, store, key),
        headers=_location(call, spec.collection, key),
    )


@route("PUT", rf"(?P<set>{_WRITE_SETS})/(?P<key>[^/]+)")
async def replace_entity(call: Call) -> web.StreamResponse:
    spec = WRITES[call.params["set"].lower()]
    store = call.store(spec.collection)
    key = call.params["key"]
    index = _require(store, key)
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
    return _no_content()


@route("PATCH", rf"(?P<set>{_WRITE_SETS})/(?P<key>[^/]+)")
async def patch_entity(call: Call) -> web.StreamResponse:
    spec = WRITES[call.params["set"].lower()]
    store = call.store(spec.collection)
    key = call.params["key"]
    index = _require(store, key)
    body = call.body("update")
    extra = [name for name in body if name not in spec.patchable]
    if extra:
        message = spec.patch_only_message or (
            f"Invalid property to update. Only {', '.join(spec.patchable)} can be patched."
        )
        raise Reply(400, error("4002", message))
    for name in spec.required:
        if name in body and (body[name] is None or body[name] == ""):
            raise Reply(400, error("4005", "Required payload data is missing: update"))
    rec = copy.deepcopy(store.record_at(index))
    if spec.collection == "WorkItems" and "AssigneeEmailAddress" in body:
        assignee = _user_by_email(call, body["AssigneeEmailAddress"])
        if assignee is None:
            raise Reply(500, error("5001", "Assignee email address is not an active Karbon user"))
        rec["AssigneeKey"], rec["AssigneeName"] = assignee[0], assignee[1]["Name"]
    if spec.collection == "WorkItems" and body.get("WorkType") is not None:
        work_types = {w["Name"] for w in call.account.data.tenant_settings()["WorkTypes"]}
        if body["WorkType"] not in work_types:
            raise _client_error("workItem.WorkType", "Work Type is not valid")
    rec.update(body)
    if "LastModifiedDateTime" in rec:
        rec["LastModifiedDateTime"] = _stamp()
    store.put(key, rec)
    call.emit(*spec.webhook, "Updated", key)
    if not spec.patch_returns_body:
        return _no_content()
    out = _entity_body(call, store, key)
    for name in store.definition.expand:
        out.pop(name, None)
    if "AccountingDetail" in out:
        out["AccountingDetail"] = None  # the spec: a PATCH answer's AccountingDetail is null
    return _json(200, out)


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
    return _json(200, body)


@route("PUT", r"BusinessCards/(?P<key>[^/]+)")
async def put_business_card(call: Call) -> web.StreamResponse:
    card_key = call.params["key"]
    collection, entity_key, position, card = _find_card(call, card_key)
    body = call.body("businessCard")
    store = call.store(collection)
    rec = copy.deepcopy(store.record_at(_require(store, entity_key)))
    new = _card_record(call, body, card_key, card["EntityType"], entity_key, position)
    if "IsPrimaryCard" not in body:
        new["IsPrimaryCard"] = card.get("IsPrimaryCard", True)
    if isinstance(rec.get("BusinessCards"), list):
        rec["BusinessCards"][position] = new
    else:
        rec["BusinessCard"] = new
    if "LastModifiedDateTime" in rec:
        rec["LastModifiedDateTime"] = _stamp()
    store.put(entity_key, rec)
    call.emit("Contact", "Contact", "Updated", entity_key)
    return _no_content()


# --------------------------------------------------------------------------- users and teams


@route("POST", r"Users")
async def create_user(call: Call) -> web.StreamResponse:
    body = call.body("user")
    name, email = body.get("Name"), body.get("EmailAddress")
    if not isinstance(name, str) or not name.strip() or not isinstance(email, str) or not email:
        raise Reply(500, error("5001", "Name and Email Address can not be null or empty"))
    if _user_by_email(call, email) is not None:
        raise Reply(400, error("4002", f"A user with email address {email} already exists"))
    store = call.store("Users")
    key = store.create(
        {
            "Name": name,
            "EmailAddress": email,
            "BillableRate": 0.0,
            "CapacityMinutesPerWeek": 2400,
            "Permissions": [],
            "Roles": [],
            "Teams": [],
        }
    )
    call.emit("User", "User", "Inserted", key)
    out = {"@odata.context": call.context("Users/$entity"), "Id": key, "Name": name}
    out["EmailAddress"] = email
    return _json(200, out, headers=_location(call, "Users", key))


def _team_members(call: Call, team_key: str) -> tuple[CollectionStore, Record]:
    teams = call.store("Teams")
    return teams, copy.deepcopy(teams.record_at(_require(teams, team_key)))


def _user_record(call: Call, user_key: Any) -> Record:
    users = call.store("Users")
    index = users.index_of(str(user_key))
    if index is None:
        raise Reply(404, error("4004", f"No User found for provided key {user_key}"))
    return users.record_at(index)


@route("POST", r"Teams/(?P<key>[^/]+)/AddMembers")
async def add_team_members(call: Call) -> web.StreamResponse:
    teams, team = _team_members(call, call.params["key"])
    body = call.body("addTeamMembers")
    keys = body.get("UserKeys")
    if not isinstance(keys, list) or not keys:
        raise Reply(400, error("4005", "Required payload data is missing: UserKeys"))
    members = team["Members"]
    present = {m["Key"] for m in members}
    for user_key in keys:
        user = _user_record(call, user_key)
        if user_key not in present:
            members.append({"Key": user_key, "Type": "User", "Name": user["Name"]})
            present.add(user_key)
    teams.put(call.params["key"], team)
    return _no_content()


@route("POST", r"Teams/(?P<key>[^/]+)/RemoveMember")
async def remove_team_member(call: Call) -> web.StreamResponse:
    teams, team = _team_members(call, call.params["key"])
    body = call.body("removeTeamMember")
    user_key = body.get("UserKey")
    if not isinstance(user_key, str) or not user_key:
        raise Reply(400, error("4005", "Required payload data is missing: UserKey"))
    _user_record(call, user_key)
    team["Members"] = [m for m in team["Members"] if m["Key"] != user_key]
    teams.put(call.params["key"], team)
    return _no_content()


# --------------------------------------------------------------------------- notes, expenses


@route("POST", r"Notes")
async def create_note(call: Call) -> web.StreamResponse:
    body = call.body("note")
    author = body.get("AuthorEmailAddress")
    if not isinstance(author, str) or not author.strip():
        raise Reply(500, error("5001", "Author email address must be provided"))
    if _user_by_email(call, author) is None:
        raise Reply(500, error("5001", "Author email address is not an active Karbon user"))
    assignee = body.get("AssigneeEmailAddress")
    if assignee is not None and _user_by_email(call, assignee) is None:
        raise Reply(500, error("5001", "Assignee email address is not an active Karbon user"))
    for name in ("Subject", "Body"):
        if not isinstance(body.get(name), str) or not body[name].strip():
            raise Reply(400, error("4005", f"Required payload data is missing: {name}"))
    timelines = body.get("Timelines") or []
    for timeline in timelines if isinstance(timelines, list) else []:
        _timeline_entity(call, timeline)
    store = call.store("Notes")
    rec = {
        "Subject": body["Subject"],
        "Body": body["Body"],
        "CreatedDate": _stamp()[:19] + "Z",
        "AuthorEmailAddress": author,
        "AssigneeEmailAddress": assignee,
        "DueDate": body.get("DueDate"),
        "TodoDate": body.get("TodoDate"),
        "Timelines": timelines,
        "Comments": [],
    }
    key = store.create(rec)
    call.emit("Note", "Note", "Inserted", key)
    return _json(201, _entity_body(call, store, key), headers=_location(call, "Notes", key))


_TIMELINE_SETS = {
    "WorkItem": "WorkItems",
    "Contact": "Contacts",
    "Organization": "Organizations",
    "ClientGroup": "ClientGroups",
}


def _timeline_entity(call: Call, timeline: Any) -> None:
    if not isinstance(timeline, dict):
        raise Reply(400, error("4005", "Required payload data is missing: Timeline"))
    collection = _TIMELINE_SETS.get(str(timeline.get("EntityType")))
    if collection is None:
        raise Reply(400, error("4002", f"Invalid EntityType {timeline.get('EntityType')}"))
    store = call.store(collection)
    _require(store, str(timeline.get("EntityKey")))


@route("POST", r"Expenses")
async def create_expense(call: Call) -> web.StreamResponse:
    body = call.body("expense")
    for name in ("Timeline", "ExpenseDate", "Value", "BillableValue", "Description"):
        if body.get(name) is None:
            raise Reply(400, error("4005", f"Required payload data is missing: {name}"))
    _timeline_entity(call, body["Timeline"])
    for name in ("Value", "BillableValue"):
        if not isinstance(body[name], (int, float)) or isinstance(body[name], bool):
            raise Reply(400, error("4002", f"{name} must be a number"))
    store = call.store("Expenses")
    rec = {
        name: body[name]
        for name in ("Timeline", "ExpenseDate", "Value", "BillableValue", "Description")
    }
    key = store.create(rec)
    out = {"@odata.context": call.context("Expenses/$entity"), "ExpenseKey": key, **rec}
    return _json(201, out, headers=_location(call, "Expenses", key))


@route("GET", r"EstimateSummaries/(?P<key>[^/]+)")
async def estimate_summaries(call: Call) -> web.StreamResponse:
    works = call.store("WorkItems")
    key = call.params["key"]
    _require(works, key)
    users = call.store("Users")
    roles = call.store("Roles")
    seed = hash_str(key)
    value = []
    for n in range(1 + seed % 3):
        h = mix64(seed + n)
        user_index = h % max(1, users.base_size)
        user = users.record_at(user_index) if users.base_size else {"Roles": [{}]}
        estimate = 30 + (h >> 8) % 12 * 15
        actual = (h >> 16) % (estimate + 30)
        rate = float(user.get("BillableRate") or 150.0)
        role = (user.get("Roles") or [{}])[0]
        value.append(
            {
                "EstimateSummaryKey": f"{_guid_from(h).upper()}-{n}",
                "UserKey": users.key_of(user_index),
                "RoleKey": role.get("Key") or roles.key_of(0),
                "RoleName": role.get("Name") or "Accountant",
                "TaskTypeKey": call.account.data.keyer("TaskTypes").key(n),
                "TaskTypeName": ("Preparation", "Review", "Admin")[n],
                "EstimateMinutes": estimate,
                "HourlyRate": rate,
                "ActualMinutes": actual,
                "EstimateAmount": round(rate * estimate / 60, 2),
                "ActualAmount": round(rate * actual / 60, 2),
            }
        )
    return _json(200, {"@odata.context": call.context("EstimateSummaries"), "value": value})


# --------------------------------------------------------------------------- schedules, tasks

_SCHEDULE_REQUIRED = (
    "CreatedFromWorkItemKey", "RecurrenceFrequency", "CustomFrequencyMultiple",
    "ScheduleStartDate", "ScheduleDueDateMethod", "PreventStartEndOnWeekend",
    "InitializeTasksBeforeStartDateUnits", "InitializeTasksBeforeStartDateMultiple",
    "WorkItemTitleDefinition",
)  # fmt: skip
_SCHEDULE_FIELDS = (
    "RecurrenceFrequency", "CustomFrequencyUnits", "CustomFrequencyMultiple",
    "ScheduleStartDate", "ScheduleEndDate", "ScheduleDueDateMethod", "ScheduleDueDateDays",
    "ScheduleDueDateMonthMultiple", "AssigneeUserKey", "PreventStartEndOnWeekend",
    "InitializeBeforeStartDateUnits", "InitializeBeforeStartDateMultiple",
    "InitializeTasksBeforeStartDateUnits", "InitializeTasksBeforeStartDateMultiple",
    "WorkItemTitleDefinition",
)  # fmt: skip


def _schedule_record(
    call: Call, body: Mapping[str, Any], previous: Record | None
) -> dict[str, Any]:
    if not body.get("CreatedFromWorkItemKey"):
        raise Reply(400, error("4002", "CreatedFromWorkItemKey not provided."))
    for name in _SCHEDULE_REQUIRED:
        if body.get(name) is None:
            raise Reply(400, error("4005", f"Required payload data is missing: {name}"))
    multiple = body.get("CustomFrequencyMultiple")
    if not isinstance(multiple, int) or multiple <= 0:
        raise Reply(400, error("4002", "CustomFrequencyMultiple should be greater than 0"))
    works = call.store("WorkItems")
    work = works.record_at(_require(works, str(body["CreatedFromWorkItemKey"])))
    rec: dict[str, Any] = {name: body.get(name) for name in _SCHEDULE_FIELDS}
    if previous is not None and body.get("AssigneeUserKey") is None:
        rec["AssigneeUserKey"] = previous.get("AssigneeUserKey")
    rec.update(
        ClientKey=work["ClientKey"],
        ClientType=work["ClientType"],
        CreatedFromWorkItemKey=body["CreatedFromWorkItemKey"],
        FrequencyDescription=f"Every {multiple} {str(body['RecurrenceFrequency']).lower()}",
        WorkItemDescription=work.get("Description"),
        WorkItemTitleDisplayText=body["WorkItemTitleDefinition"],
    )
    return rec


@route("POST", r"WorkSchedules")
async def create_work_schedule(call: Call) -> web.StreamResponse:
    store = call.store("WorkSchedules")
    rec = _schedule_record(call, call.body("workSchedule"), None)
    key = store.create(rec)
    return _json(201, _entity_body(call, store, key), headers=_location(call, "WorkSchedules", key))


@route("PUT", r"WorkSchedules/(?P<key>[^/]+)")
async def put_work_schedule(call: Call) -> web.StreamResponse:
    store = call.store("WorkSchedules")
    key = call.params["key"]
    index = _require(store, key)
    body = call.body("workSchedule")
    if not body.get("WorkScheduleKey"):
        raise Reply(400, error("4005", "Required payload data is missing: WorkScheduleKey"))
    store.put(key, _schedule_record(call, body, store.record_at(index)))
    return _no_content()


@route("PATCH", r"WorkSchedules/(?P<key>[^/]+)")
async def patch_work_schedule(call: Call) -> web.StreamResponse:
    store = call.store("WorkSchedules")
    key = call.params["key"]
    rec = copy.deepcopy(store.record_at(_require(store, key)))
    body = call.body("update")
    allowed = ("ScheduleEndDate", "AssigneeUserKey")
    if any(name not in allowed for name in body):
        raise Reply(
            400,
            error(
                "4002",
                "Invalid property to update. Only ScheduleEndDate, AssigneeUserKey can be patched.",
            ),
        )
    if body.get("AssigneeUserKey") is not None:
        _user_record(call, body["AssigneeUserKey"])
        rec["AssigneeUserKey"] = body["AssigneeUserKey"]
    if "ScheduleEndDate" in body:
        rec["ScheduleEndDate"] = body["ScheduleEndDate"]
    store.put(key, rec)
    return _no_content()


_TASK_WRITABLE = (
    "TaskName", "TaskPrimaryLinkUrl", "TaskPrimaryLinkLabel", "TaskSecondaryLinkUrl",
    "TaskSecondaryLinkLabel", "TaskStatus", "PrimaryStatus", "TaskDueDate", "TaskData",
)  # fmt: skip


@route("PUT", r"IntegrationTasks/(?P<key>[^/]+)")
async def put_integration_task(call: Call) -> web.StreamResponse:
    store = call.store("IntegrationTasks")
    key = call.params["key"]
    rec = copy.deepcopy(store.record_at(_require(store, key)))
    body = call.body("integrationTask")
    unknown = [name for name in body if name not in _TASK_WRITABLE]
    if unknown:
        raise Reply(400, error("4002", f"Property '{unknown[0]}' cannot be updated."))
    if "PrimaryStatus" in body:
        status = _normalise_status(body["PrimaryStatus"])
        if status not in ("Planned", "ReadyToStart", "InProgress", "Waiting", "Completed"):
            raise Reply(400, error("4002", f"Invalid PrimaryStatus '{body['PrimaryStatus']}'."))
        body["PrimaryStatus"] = status
    rec.update(body)
    store.put(key, rec)
    call.emit(
        "IntegrationTask",
        "IntegrationTask",
        "Updated",
        key,
        ClientKey=rec.get("WorkItemClientKey"),
        ClientType=_client_type_of(call, rec.get("WorkItemKey")),
        WorkItemKey=rec.get("WorkItemKey"),
    )
    return _no_content()


def _client_type_of(call: Call, work_item_key: Any) -> str | None:
    works = call.store("WorkItems")
    index = works.index_of(str(work_item_key))
    return None if index is None else works.record_at(index).get("ClientType")


# --------------------------------------------------------------------------- custom fields


@route("POST", r"CustomFields")
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
        **store.record_at(_require(store, key)),
    }
    return _json(201, out, headers=_location(call, "CustomFields", key))


@route("DELETE", r"CustomFields/(?P<key>[^/]+)")
async def delete_custom_field(call: Call) -> web.StreamResponse:
    store = call.store("CustomFields")
    key = call.params["key"]
    if store.index_of(key) is None:
        raise Reply(404, error("4004", "Not Found"))
    store.delete(key)
    for values in call.account.custom_field_values.values():
        values[:] = [v for v in values if v["Key"] != key]
    return _no_content()


def _value_owner(call: Call, entity_key: str) -> tuple[str, int]:
    for collection in ("Contacts", "Organizations"):
        store = call.store(collection)
        index = store.index_of(entity_key)
        if index is not None:
            return _ENTITY_TYPES[collection], index
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


@route("GET", r"CustomFieldValues/(?P<key>[^/]+)")
async def get_custom_field_values(call: Call) -> web.StreamResponse:
    key = call.params["key"]
    values = copy.deepcopy(custom_field_values(call, key))
    body: dict[str, Any] = {"@odata.context": call.context("CustomFieldValues/$entity")}
    body.update(EntityKey=key, CustomFieldValues=values)
    return _json(200, body)


@route("PUT", r"CustomFieldValues/(?P<key>[^/]+)")
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
    return _no_content()


# --------------------------------------------------------------------------- billing


def _money(value: float) -> float:
    return round(value + 1e-9, 2)


def _invoice_for_update(call: Call, key: str) -> tuple[CollectionStore, Record]:
    invoices = call.store("Invoices")
    return invoices, copy.deepcopy(invoices.record_at(_require(invoices, key)))


def _set_invoice(call: Call, invoices: CollectionStore, rec: Record, old_status: str) -> None:
    rec["UpdatedAt"] = _stamp()[:19] + "Z"
    invoices.put(rec["InvoiceKey"], rec)
    if rec["InvoiceStatus"] != old_status:
        call.emit("Invoice", "Invoice", "Updated", rec["InvoiceKey"])


@route("POST", r"ManualPayments")
async def create_manual_payment(call: Call) -> web.StreamResponse:
    body = call.body("manualPayment")
    for name in ("InvoiceKey", "PaymentMethod", "PaymentDate", "TotalAmount"):
        if body.get(name) is None:
            raise Reply(400, error("4005", f"Required payload data is missing: {name}"))
    amount = body["TotalAmount"]
    if not isinstance(amount, (int, float)) or isinstance(amount, bool) or amount < 0.01:
        raise Reply(400, error("4002", "TotalAmount must be at least 0.01"))
    reference = body.get("Reference")
    if reference is not None and (not isinstance(reference, str) or len(reference) > 250):
        raise Reply(400, error("4002", "Reference must be at most 250 characters"))
    invoices, invoice = _invoice_for_update(call, str(body["InvoiceKey"]))
    if invoice["InvoiceStatus"] != "AwaitingPayment":
        raise Reply(
            400,
            error(
                "4002",
                f"Payments can only be recorded against invoices that are AwaitingPayment; "
                f"invoice {invoice['InvoiceKey']} is {invoice['InvoiceStatus']}.",
            ),
        )
    date = str(body["PaymentDate"])
    if date[:10] < invoice["InvoiceDate"][:10] or date[:10] > _stamp()[:10]:
        raise Reply(
            400,
            error("4002", "PaymentDate must be on or after the invoice date and not in the future"),
        )
    if _money(float(amount)) > invoice["TotalAmountDue"]:
        raise Reply(
            400,
            {
                "Error": {
                    "Code": "4002",
                    "Message": "An attempt was made to overpay Invoice with "
                    f"[tenantPermaKey={call.account.data.tenant_key}] and "
                    f"[invoicePermaKey={invoice['InvoiceKey']}].",
                }
            },
        )
    payments = call.store("Payments")
    payment = {
        "InvoiceKey": invoice["InvoiceKey"],
        "PaymentReference": reference or f"KPY-M{payments.count + 1001}",
        "PaymentType": "ManualPayment",
        "PaymentDate": date[:10],
        "GrossAmount": _money(float(amount)),
        "PaymentMethod": body["PaymentMethod"],
        "ClientKey": (invoice.get("Client") or {}).get("ClientKey"),
        "KarbonPayment": None,
        "Client": None,
    }
    payment_key = payments.create(payment)
    invoice["TotalAmountDue"] = _money(invoice["TotalAmountDue"] - payment["GrossAmount"])
    invoice["Payments"].append(
        {
            "PaymentKey": payment_key,
            "PaymentReference": payment["PaymentReference"],
            "PaymentType": "ManualPayment",
            "PaymentDate": payment["PaymentDate"],
            "Amount": payment["GrossAmount"],
        }
    )
    if invoice["TotalAmountDue"] <= 0:
        invoice["InvoiceStatus"] = "Paid"
    _set_invoice(call, invoices, invoice, "AwaitingPayment")
    out = {
        "@odata.context": call.context("ManualPayments/$entity"),
        "InvoiceKey": invoice["InvoiceKey"],
        "PaymentMethod": body["PaymentMethod"],
        "PaymentDate": body["PaymentDate"],
        "TotalAmount": payment["GrossAmount"],
        "Reference": reference,
        "PaymentProcessingKey": payment_key,
    }
    return _json(201, out, headers=_location(call, "ManualPayments", payment_key))


def _manual_payment(call: Call, key: str) -> tuple[CollectionStore, Record]:
    payments = call.store("Payments")
    index = payments.index_of(key)
    if index is None or payments.record_at(index).get("PaymentType") != "ManualPayment":
        raise Reply(404, error("4004", f"Manual payment not found - {key}"))
    return payments, copy.deepcopy(payments.record_at(index))


def _unapply(call: Call, payment: Record, *, reverse: bool) -> None:
    invoices, invoice = _invoice_for_update(call, payment["InvoiceKey"])
    old = invoice["InvoiceStatus"]
    invoice["TotalAmountDue"] = _money(
        min(invoice["InvoiceTotal"], invoice["TotalAmountDue"] + payment["GrossAmount"])
    )
    key = payment["PaymentKey"]
    if reverse:
        for embedded in invoice["Payments"]:
            if embedded["PaymentKey"] == key:
                embedded["PaymentType"] = "ManualPaymentReversed"
    else:
        invoice["Payments"] = [p for p in invoice["Payments"] if p["PaymentKey"] != key]
    if old == "Paid" and invoice["TotalAmountDue"] > 0:
        invoice["InvoiceStatus"] = "AwaitingPayment"
    _set_invoice(call, invoices, invoice, old)


@route("DELETE", r"ManualPayments/(?P<key>[^/]+)")
async def delete_manual_payment(call: Call) -> web.StreamResponse:
    payments, payment = _manual_payment(call, call.params["key"])
    payments.delete(payment["PaymentKey"])
    _unapply(call, payment, reverse=False)
    return _no_content()


@route("POST", r"ReverseManualPayment")
async def reverse_manual_payment(call: Call) -> web.StreamResponse:
    body = call.body("reverseManualPayment")
    for name in ("PaymentKey", "ReversalDate"):
        if not body.get(name):
            raise Reply(400, error("4005", f"Required payload data is missing: {name}"))
    payments, payment = _manual_payment(call, str(body["PaymentKey"]))
    payment["PaymentType"] = "ManualPaymentReversed"
    payments.put(payment["PaymentKey"], payment)
    _unapply(call, payment, reverse=True)
    return _no_content()


# --------------------------------------------------------------------------- webhooks


def _webhook_type(raw: str, *, status: int) -> str:
    for name in WEBHOOK_TYPES:
        if name.lower() == raw.lower():
            return name
    raise Reply(
        status,
        error(
            "4004",
            f"No Webhook Type found for the provided WebhookType input value : {raw}. "
            "Valid WebhookTypes are Contact, Work, Note",
        ),
    )


def _loopback_http(url: str) -> bool:
    return bool(re.match(r"http://(127\.\d+\.\d+\.\d+|localhost|\[::1\])(:\d+)?(/|$)", url))


@route("POST", r"WebhookSubscriptions")
async def create_webhook(call: Call) -> web.StreamResponse:
    if not call.raw.strip() or call.raw.strip() == b"null":
        raise Reply(400, error("4002", "WebhookSubscription model cannot be null."))
    body = call.body("webhookSubscription")
    url, kind, signing = body.get("TargetUrl"), body.get("WebhookType"), body.get("SigningKey")
    if not isinstance(url, str) or not url or not isinstance(kind, str) or not kind:
        raise Reply(400, error("4005", "Required payload data is missing: webhookSubscription"))
    webhook_type = _webhook_type(kind, status=400)
    insecure_ok = call.fake.allow_insecure_webhooks and _loopback_http(url)
    if not url.startswith("https://") and not insecure_ok:
        raise Reply(400, error("4002", "Target URL must begin with https://"))
    if len(url) > 2000:
        raise Reply(400, error("4002", "Target URL must be at most 2000 characters"))
    if signing is not None and (not isinstance(signing, str) or not _SIGNING_KEY.match(signing)):
        raise Reply(
            400,
            error(
                "4002",
                "SigningKey must be at least 16 characters of letters, digits, '-' or '_'",
            ),
        )
    subscriptions = call.account.webhooks
    if webhook_type in subscriptions:
        raise Reply(
            400,
            error(
                "4002",
                f"A webhook subscription for {webhook_type} already exists. Delete it first.",
            ),
        )
    subscriptions[webhook_type] = {
        "TargetUrl": url,
        "WebhookType": webhook_type,
        "SigningKey": signing,
    }
    out = {
        "@odata.context": call.context("WebhookSubscriptions/$entity"),
        "TargetUrl": url,
        "WebhookType": webhook_type,
    }
    return _json(201, out, headers=_location(call, "WebhookSubscriptions", url))


@route("GET", r"WebhookSubscriptions/(?P<type>[^/]+)")
async def get_webhook(call: Call) -> web.StreamResponse:
    webhook_type = _webhook_type(call.params["type"], status=404)
    sub = call.account.webhooks.get(webhook_type)
    if sub is None:
        raise Reply(404, error("4004", f"No existing webhook subscription for {webhook_type}"))
    out = {
        "@odata.context": call.context("WebhookSubscriptions/$entity"),
        "TargetUrl": sub["TargetUrl"],
        "WebhookType": webhook_type,
    }
    return _json(200, out)


@route("DELETE", r"WebhookSubscriptions/(?P<type>[^/]+)")
async def delete_webhook(call: Call) -> web.StreamResponse:
    webhook_type = _webhook_type(call.params["type"], status=404)
    if call.account.webhooks.pop(webhook_type, None) is None:
        raise Reply(404, error("4004", f"No existing webhook subscription for {webhook_type}"))
    return _no_content()


@route("DELETE", r"WebhookSubscriptions")
async def delete_all_webhooks(call: Call) -> web.StreamResponse:
    call.account.webhooks.clear()
    return _no_content()


# --------------------------------------------------------------------------- files


@dataclass
class StoredFile:
    """An uploaded file: its metadata, bytes and the entity it is attached to."""

    key: str
    name: str
    mime_type: str
    data: bytes
    entity_type: str
    entity_key: str
    created: str
    archived: bool = False
    extra_links: list[tuple[str, str]] = field(default_factory=list)


@route("POST", r"Files")
async def create_file(call: Call) -> web.StreamResponse:
    ctype = call.request.headers.get("Content-Type", "")
    if not ctype.lower().startswith("multipart/form-data"):
        raise Reply(415, error("4002", "The request entity's media type is not supported."))
    reader = await call.request.multipart()
    upload: tuple[str, str, bytes] | None = None
    links: list[tuple[str, str]] = []
    while True:
        part = await reader.next()
        if part is None:
            break
        if not isinstance(part, BodyPartReader):
            continue
        name = part.name or ""
        if name == "file":
            data = await part.read(decode=False)
            mime = part.headers.get("Content-Type", "application/octet-stream")
            upload = (part.filename or "upload.bin", mime, bytes(data))
        elif name in _FILE_LINKS:
            value = (await part.text()).strip()
            if value:
                links.append((name, value))
        else:
            await part.release()
    if upload is None:
        raise Reply(400, error("4005", "Required payload data is missing: file"))
    if len(links) != 1:
        raise Reply(
            400,
            error(
                "4002",
                "Exactly one of contact_keys, organization_keys, client_group_keys, "
                "workitem_keys or integration_task_key must be provided.",
            ),
        )
    link_name, entity_key = links[0]
    collection, entity_type = _FILE_LINKS[link_name]
    if call.store(collection).index_of(entity_key) is None:
        raise Reply(400, error("4004", f"File entity is not found for permakey {entity_key}"))
    filename, mime, data = upload
    if mime.split(";")[0].strip().lower() in _UNSUPPORTED_MIME or filename.lower().endswith(
        _UNSUPPORTED_EXT
    ):
        raise Reply(500, error("5001", "Unsupported file type"))
    files = call.account.files
    key = call.account.data.keyer("Files").key(len(files))
    files[key] = StoredFile(key, filename, mime, data, entity_type, entity_key, _stamp()[:19] + "Z")
    out = {
        "@odata.context": call.context("Files/$entity"),
        "Id": key,
        "Name": filename,
        "MimeType": mime,
        "Size": str(len(data)),  # the spec types it as a string
    }
    return _json(201, out, headers=_location(call, "Files", key))


def _file_item(call: Call, f: StoredFile) -> dict[str, Any]:
    token = call.fake._mint_download_token(call.account, f.key)
    return {
        "FileContextKey": f.key,
        "FileName": f.name,
        "FileSize": len(f.data),
        "MimeType": f.mime_type,
        "DownloadUrl": f"{call.fake.base_url}/v3/Files?token={token}",
        "DateCreated": f.created,
    }


_LISTABLE_FILE_TYPES = {
    "WorkItem": "WorkItems",
    "Contact": "Contacts",
    "Organization": "Organizations",
}


@route("GET", r"FileList/(?P<type>[^/]+)")
async def list_files(call: Call) -> web.StreamResponse:
    raw_type = call.params["type"]
    entity_type = next((t for t in _LISTABLE_FILE_TYPES if t.lower() == raw_type.lower()), None)
    if entity_type is None:
        raise Reply(
            404,
            error(
                "4002",
                f"No HTTP resource was found that matches the request URI '{call.request.url}'.",
            ),
        )
    entity_key = call.request.query.get("EntityKey", "").strip()
    if not entity_key:
        raise Reply(400, error("4005", "Required payload data is missing: EntityKey"))
    if call.store(_LISTABLE_FILE_TYPES[entity_type]).index_of(entity_key) is None:
        raise Reply(400, error("4004", f"File entity is not found for permakey {entity_key}"))
    items = [
        _file_item(call, f)
        for f in call.account.files.values()
        if f.entity_type == entity_type and f.entity_key == entity_key and not f.archived
    ]
    body = {
        "@odata.context": call.context("FileList/$entity"),
        "EntityKey": entity_key,
        "EntityType": entity_type,
        "Attachments": items,
    }
    return _json(200, body)


def _stored_file(call: Call, key: str) -> StoredFile:
    f = call.account.files.get(key)
    if f is None:
        raise Reply(404, error("4004", f"No file found for provided key {key}"))
    return f


@route("GET", r"FileDetails/(?P<key>[^/]+)")
async def file_details(call: Call) -> web.StreamResponse:
    f = _stored_file(call, call.params["key"])
    body = {"@odata.context": call.context("FileDetails/$entity"), **_file_item(call, f)}
    body["IsArchived"] = f.archived
    return _json(200, body)


@route("GET", r"FileDetails/(?P<key>[^/]+)/Download")
async def file_download_redirect(call: Call) -> web.StreamResponse:
    f = _stored_file(call, call.params["key"])
    token = call.fake._mint_download_token(call.account, f.key)
    location = f"{call.fake.download_base_url}/files/{token}"
    return web.Response(status=302, headers={"Location": location})


@route("GET", r"Files")
async def download_file(call: Call) -> web.StreamResponse:
    token = call.request.query.get("token", "")
    if not token:
        raise Reply(400, error("4005", "Required payload data is missing: token"))
    found = call.fake._resolve_download_token(token)
    if found is None:
        invoice = _invoice_pdf(call, token)
        if invoice is not None:
            return invoice
        raise Reply(400, error("4001", "Attachment token could not be validated."))
    account, f = found
    if account is not call.account:
        raise Reply(400, error("4001", "Attachment token could not be validated."))
    return file_response(f)


def file_response(f: StoredFile) -> web.Response:
    return web.Response(
        status=200,
        body=f.data,
        headers={
            "Content-Type": "application/octet-stream",
            "Content-Disposition": f'attachment; filename="{f.name}"',
        },
    )


def _invoice_pdf(call: Call, token: str) -> web.Response | None:
    """Invoices' InvoicePdfUrl tokens name their invoice; serve a tiny placeholder PDF."""
    import base64

    try:
        decoded = base64.urlsafe_b64decode(token + "=" * (-len(token) % 4)).decode()
    except ValueError:
        return None
    kind, _, key = decoded.partition(":")
    invoices = call.store("Invoices")
    if kind != "invoice" or invoices.index_of(key) is None:
        return None
    number = invoices.record_at(_require(invoices, key))["InvoiceNumber"]
    pdf = b"%PDF-1.4\n% " + number.encode() + b"\n%%EOF\n"
    return web.Response(
        status=200,
        body=pdf,
        headers={
            "Content-Type": "application/octet-stream",
            "Content-Disposition": f'attachment; filename="{number}.pdf"',
        },
    )


def valid_collection(name: str) -> bool:
    return name in COLLECTIONS
