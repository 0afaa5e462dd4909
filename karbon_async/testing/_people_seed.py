"""Seed data for the firm's people: users, roles, teams, and notes with their comments."""

from __future__ import annotations

from typing import Any

from ._store import (
    EPOCH_2022,
    FIRST_NAMES,
    LAST_NAMES,
    SPAN,
    CollectionDef,
    GenContext,
    Record,
    Tenant,
    ascii_fold,
    defn,
    midnight,
    pick,
    plain,
)

__all__ = ["COLLECTIONS", "COMMENTS_PER_NOTE", "role_index", "team_ref"]


_STAFF_ROLES = ("Partner", "Manager", "Senior Accountant", "Accountant", "Bookkeeper", "Admin")


_PERMISSIONS = ("ManageContacts", "ManageWork", "ViewReports", "ManageBilling", "Admin")


_TEAMS = (
    ("Client Services", "Day-to-day compliance work for individual and business clients."),
    ("Tax", "Individual, company and trust tax returns."),
    ("Bookkeeping", "Monthly bookkeeping and reconciliations."),
    ("Payroll", "Pay runs, STP/RTI filings and superannuation."),
    ("Advisory", "Budgets, forecasts and year-end planning meetings."),
)


_NOTE_SUBJECTS = (
    "Missing bank statements for June", "Call notes: year-end planning", "Payroll query",
    "Engagement letter sent", "ATO/IRS correspondence received", "Fee discussion",
)  # fmt: skip


def role_index(role: str) -> int:
    return _STAFF_ROLES.index(role) if role in _STAFF_ROLES else 0


def team_ref(account: Tenant, team: int) -> dict[str, Any]:
    return {
        "Key": account.store("Teams").key_of(team),
        "Name": _TEAMS[team % len(_TEAMS)][0],
        "ParentTeamKey": None,
    }


def _gen_user(ctx: GenContext) -> Record:
    rng = ctx.rng
    first, last = pick(rng, FIRST_NAMES), pick(rng, LAST_NAMES)
    role = _STAFF_ROLES[min(ctx.index, len(_STAFF_ROLES) - 1)] if ctx.index < 3 else None
    role = role or pick(rng, _STAFF_ROLES)
    return {
        "Id": ctx.key(),
        "Name": f"{first} {last}",
        "EmailAddress": f"{ascii_fold(first)}.{ascii_fold(last)}{ctx.index}@{ctx.account.domain}",
        "BillableRate": float(rng.randrange(90, 450)),
        "CapacityMinutesPerWeek": pick(rng, (2400, 2280, 1800, 1200)),
        "Permissions": sorted(rng.sample(_PERMISSIONS, rng.randrange(1, 4))),
        "Roles": [{"Name": role, "Key": ctx.account.store("Roles").key_of(role_index(role))}],
        "Teams": [team_ref(ctx.account, ctx.index % len(_TEAMS))],
    }


def _user_summary(r: Record) -> Record:
    return {"Id": r["Id"], "Name": r["Name"], "EmailAddress": r["EmailAddress"]}


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


COMMENTS_PER_NOTE = 2


def _gen_note(ctx: GenContext) -> Record:
    rng = ctx.rng
    author, assignee = ctx.ref("Users"), ctx.ref("Users")
    work = ctx.ref("WorkItems")
    created = EPOCH_2022 + rng.randrange(SPAN)
    comments = ctx.account.store("Comments")
    subject = pick(rng, _NOTE_SUBJECTS)
    return {
        "Id": ctx.key(),
        "Subject": subject,
        "Body": f"{subject} - re {work.record['Title']} for {work.record['ClientName']}.",
        "CreatedDate": midnight(created).replace("T00:00:00", "T02:16:06"),
        "AuthorEmailAddress": author.record["EmailAddress"],
        "AssigneeEmailAddress": assignee.record["EmailAddress"],
        "DueDate": midnight(created + 5 * 86_400),
        "TodoDate": midnight(created + 3 * 86_400),
        "Timelines": [{"EntityType": "WorkItem", "EntityKey": work.key}],
        "Comments": [
            {"CommentKey": comments.key_of(ctx.index * COMMENTS_PER_NOTE + n)}
            for n in range(COMMENTS_PER_NOTE)
            if ctx.index * COMMENTS_PER_NOTE + n < comments.base_size
        ],
    }


def _gen_comment(ctx: GenContext) -> Record:
    rng = ctx.rng
    note = ctx.account.store("Notes").key_of(ctx.index // COMMENTS_PER_NOTE)
    author = ctx.ref("Users")
    return {
        "CommentKey": ctx.key(),
        "CommentTypeKey": note,
        "CommentBody": pick(
            rng, ("Done, uploaded to the portal.", "Chased the client again today.", "Thanks!")
        ),
        "CreatedDate": ctx.modified(),
        "AuthorKey": author.key,
    }


COLLECTIONS: tuple[CollectionDef, ...] = (
    defn(
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
    plain(
        "Roles",
        "Key",
        _gen_role,
        "No Role found for provided key",
        ("Name",),
        max_top=200,
        size_of=lambda size: len(_STAFF_ROLES),
    ),
    plain(
        "Teams",
        "TeamKey",
        _gen_team,
        "No Team found for provided key",
        ("Name",),
        summary=_team_summary,
        max_top=200,
        size_of=lambda size: len(_TEAMS),
    ),
    plain(
        "Notes",
        "Id",
        _gen_note,
        "No Note found for provided key",
        (),
        listable=False,
        size_of=lambda size: max(1, size // 4),
    ),
    plain(
        "Comments",
        "CommentKey",
        _gen_comment,
        "Unable to find commentkey: {key}",
        (),
        listable=False,
    ),
)
