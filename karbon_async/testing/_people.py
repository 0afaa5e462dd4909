"""Endpoints for users, teams and notes (seed data: ``_people_seed``)."""

from __future__ import annotations

import copy
from typing import Any

from aiohttp import web

from karbon_async._generated.operations import OPERATIONS

from ._common import (
    Call,
    Reply,
    entity_body,
    error,
    json_response,
    location,
    no_content,
    require,
    stamp,
)
from ._live_behaviours import SYSTEM_USER_EMAIL, SYSTEM_USER_NAME
from ._store import CollectionStore, Record

__all__ = ["timeline_entity", "user_by_email", "user_record"]


def _users_by_email(call: Call) -> dict[str, tuple[str, Record]]:
    users = call.store("Users")
    out: dict[str, tuple[str, Record]] = {}
    for index in users.iter_indexes():
        rec = users.record_at(index)
        out[str(rec.get("EmailAddress", "")).casefold()] = (users.key_of(index), rec)
    return out


def user_by_email(call: Call, email: Any) -> tuple[str, Record] | None:
    """The user with this email address (any case); Karbon's system user is one too."""
    if not isinstance(email, str) or not email.strip():
        return None
    wanted = email.strip().casefold()
    if wanted == SYSTEM_USER_EMAIL:
        key = call.account.data.keyer("SystemUser").key(0)
        return key, {"Name": SYSTEM_USER_NAME, "EmailAddress": SYSTEM_USER_EMAIL}
    return _users_by_email(call).get(wanted)


async def create_user(call: Call) -> web.StreamResponse:
    body = call.body("user")
    name, email = body.get("Name"), body.get("EmailAddress")
    if not isinstance(name, str) or not name.strip() or not isinstance(email, str) or not email:
        raise Reply(500, error("5001", "Name and Email Address can not be null or empty"))
    if user_by_email(call, email) is not None:
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
    # The spec's 200 (the newer source; the 2022 live suite saw 201): "create-status-follows-spec".
    status = OPERATIONS["createUser"].success_status
    return json_response(status, out, headers=location(call, "Users", key))


def _team_members(call: Call, team_key: str) -> tuple[CollectionStore, Record]:
    teams = call.store("Teams")
    return teams, copy.deepcopy(teams.record_at(require(teams, team_key)))


def user_record(call: Call, user_key: Any) -> Record:
    users = call.store("Users")
    index = users.index_of(str(user_key))
    if index is None:
        raise Reply(404, error("4004", f"No User found for provided key {user_key}"))
    return users.record_at(index)


async def add_team_members(call: Call) -> web.StreamResponse:
    teams, team = _team_members(call, call.params["key"])
    body = call.body("addTeamMembers")
    keys = body.get("UserKeys")
    if not isinstance(keys, list) or not keys:
        raise Reply(400, error("4005", "Required payload data is missing: UserKeys"))
    members = team["Members"]
    present = {m["Key"] for m in members}
    for user_key in keys:
        user = user_record(call, user_key)
        if user_key not in present:
            members.append({"Key": user_key, "Type": "User", "Name": user["Name"]})
            present.add(user_key)
    teams.put(call.params["key"], team)
    return no_content()


async def remove_team_member(call: Call) -> web.StreamResponse:
    teams, team = _team_members(call, call.params["key"])
    body = call.body("removeTeamMember")
    user_key = body.get("UserKey")
    if not isinstance(user_key, str) or not user_key:
        raise Reply(400, error("4005", "Required payload data is missing: UserKey"))
    user_record(call, user_key)
    team["Members"] = [m for m in team["Members"] if m["Key"] != user_key]
    teams.put(call.params["key"], team)
    return no_content()


# --------------------------------------------------------------------------- notes


async def create_note(call: Call) -> web.StreamResponse:
    body = call.body("note")
    author = body.get("AuthorEmailAddress")
    if not isinstance(author, str) or not author.strip():
        raise Reply(500, error("5001", "Author email address must be provided"))
    if user_by_email(call, author) is None:
        raise Reply(500, error("5001", "Author email address is not an active Karbon user"))
    assignee = body.get("AssigneeEmailAddress")
    if assignee is not None and user_by_email(call, assignee) is None:
        raise Reply(500, error("5001", "Assignee email address is not an active Karbon user"))
    for name in ("Subject", "Body"):
        if not isinstance(body.get(name), str) or not body[name].strip():
            raise Reply(400, error("4005", f"Required payload data is missing: {name}"))
    timelines = body.get("Timelines") or []
    for timeline in timelines if isinstance(timelines, list) else []:
        timeline_entity(call, timeline)
    store = call.store("Notes")
    rec = {
        "Subject": body["Subject"],
        "Body": body["Body"],
        "CreatedDate": stamp()[:19] + "Z",
        "AuthorEmailAddress": author,
        "AssigneeEmailAddress": assignee,
        "DueDate": body.get("DueDate"),
        "TodoDate": body.get("TodoDate"),
        "Timelines": timelines,
        "Comments": [],
    }
    key = store.create(rec)
    call.emit("Note", "Note", "Inserted", key)
    return json_response(201, entity_body(call, store, key), headers=location(call, "Notes", key))


_TIMELINE_SETS = {
    "WorkItem": "WorkItems",
    "Contact": "Contacts",
    "Organization": "Organizations",
    "ClientGroup": "ClientGroups",
}


def timeline_entity(call: Call, timeline: Any) -> None:
    if not isinstance(timeline, dict):
        raise Reply(400, error("4005", "Required payload data is missing: Timeline"))
    collection = _TIMELINE_SETS.get(str(timeline.get("EntityType")))
    if collection is None:
        raise Reply(400, error("4002", f"Invalid EntityType {timeline.get('EntityType')}"))
    store = call.store(collection)
    require(store, str(timeline.get("EntityKey")))
