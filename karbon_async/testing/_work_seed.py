"""Seed data for work: work items, templates, schedules, integration tasks, timesheets and
time entries, and the tenant's work statuses and types."""

from __future__ import annotations

from datetime import datetime, timezone
from typing import Any

from ._keys import Keyer
from ._store import (
    EPOCH_2022,
    SPAN,
    CollectionDef,
    GenContext,
    Record,
    defn,
    midnight,
    money,
    pick,
    plain,
    ticks_datetime,
)

__all__ = ["COLLECTIONS", "ENTRIES_PER_TIMESHEET", "spaced_status", "tenant_settings"]


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


_WORK_ITEM_FIELDS = (
    "WorkItemKey", "AssigneeEmailAddress", "AssigneeKey", "AssigneeName", "Title", "ClientKey",
    "ClientName", "ClientType", "ClientUserDefinedIdentifier", "RelatedClientGroupKey",
    "ClientGroupKey", "RelatedClientGroupName", "StartDate", "DueDate", "DeadlineDate",
    "CompletedDate", "ToDoPeriod", "WorkType", "WorkStatus", "PrimaryStatus", "SecondaryStatus",
    "WorkTemplateKey", "WorkTemplateTile", "WorkScheduleKey", "EstimatedBudget",
)  # fmt: skip


def _gen_work_item(ctx: GenContext) -> Record:
    rng = ctx.rng
    title_kind, work_type = pick(rng, _WORK)
    start_s = EPOCH_2022 + rng.randrange(SPAN)
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
    primary = pick(rng, _PRIMARY_STATUSES)
    secondary = pick(rng, _SECONDARY[primary])
    work_status = spaced_status(primary) or ""
    if secondary:
        work_status = f"{work_status} - {secondary}"
    due_s = start_s + rng.randrange(7, 60) * 86_400
    template_index = _WORK.index((title_kind, work_type)) % max(1, _templates_size(ctx))
    template = ctx.account.store("WorkTemplates").key_of(template_index)
    schedules = ctx.account.store("WorkSchedules")
    fee_type = pick(rng, ("FixedFee", "TimeAndMaterials", "NonBillable"))
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
        "StartDate": midnight(start_s),
        "DueDate": midnight(due_s),
        "DeadlineDate": midnight(due_s + 14 * 86_400) if rng.random() < 0.5 else None,
        "CompletedDate": midnight(due_s) if primary == "Completed" else None,
        "ToDoPeriod": midnight(start_s),
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


_INTEGRATION_DEFS = (
    ("Request e-signature", "Send for signature", "https://sign.example.com"),
    ("Collect bank feeds", "Open bank feed", "https://feeds.example.com"),
)


def _templates_size(ctx: GenContext) -> int:
    return ctx.account.store("WorkTemplates").base_size


def _gen_work_template(ctx: GenContext) -> Record:
    rng = ctx.rng
    title, work_type, minutes = _TEMPLATES[ctx.index % len(_TEMPLATES)]
    if ctx.index >= len(_TEMPLATES):
        title = f"{title} ({ctx.index // len(_TEMPLATES) + 1})"
    settings = ctx.account.tenant_settings()
    type_key = next(w["WorkTypeKey"] for w in settings["WorkTypes"] if w["Name"] == work_type)
    published = EPOCH_2022 + rng.randrange(SPAN // 2)
    return {
        "WorkTemplateKey": ctx.key(),
        "Title": title,
        "Description": f"Standard checklist for {title.lower()}.",
        "WorkTypeKey": type_key,
        "HasScheduledClientTaskGroups": rng.random() < 0.4,
        "EstimatedBudget": None,
        "EstimatedTime": f"{minutes // 60:02d}:{minutes % 60:02d}:00",
        "DraftHasChanges": rng.random() < 0.2,
        "PublishedDate": midnight(published),
        "NumberOfWorkItemsCreated": rng.randrange(0, 400),
        "DateLastWorkItemCreated": midnight(published + rng.randrange(SPAN // 2)),
        "DateModified": midnight(published + rng.randrange(SPAN // 4)),
        "ActorRoles": [{"RoleName": "Preparer"}, {"RoleName": "Reviewer"}],
    }


ENTRIES_PER_TIMESHEET = 4


def _gen_timesheet(ctx: GenContext) -> Record:
    rng = ctx.rng
    users = ctx.account.store("Users")
    user = users.key_of(ctx.index % max(1, users.base_size))
    week = ctx.index // max(1, users.base_size)
    start = EPOCH_2022 + 2 * 86_400 + 7 * 86_400 * (week % 200)  # Mondays from 2022-01-03
    entries_store = ctx.account.store("IndividualTimeEntries")
    entries: list[dict[str, Any]] = []
    work_keys: list[str] = []
    for n in range(ENTRIES_PER_TIMESHEET):
        index = ctx.index * ENTRIES_PER_TIMESHEET + n
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
        "StartDate": midnight(start),
        "EndDate": midnight(start + 6 * 86_400),
        "UserKey": user,
        "Status": pick(rng, _TIMESHEET_STATUSES),
        "WorkItemKeys": work_keys,
        "TimeEntries": entries,
    }


def _timesheet_summary(r: Record) -> Record:
    return {k: v for k, v in r.items() if k != "TimeEntries"}


def _gen_time_entry(ctx: GenContext) -> Record:
    rng = ctx.rng
    sheet_index = ctx.index // ENTRIES_PER_TIMESHEET
    users = ctx.account.store("Users")
    user_index = sheet_index % max(1, users.base_size)
    user = users.base_record(user_index)
    week = sheet_index // max(1, users.base_size)
    day = EPOCH_2022 + 2 * 86_400 + 7 * 86_400 * (week % 200) + rng.randrange(5) * 86_400
    work = ctx.ref("WorkItems")
    task, billable = pick(rng, _TASK_TYPES)
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
        "Date": midnight(day),
        "Minutes": minutes,
        "Description": f"{task} - {work.record['Title']}",
        "HourlyRate": rate,
        "TotalCost": money(rate * minutes / 60),
        "BilledStatus": pick(rng, ("Unbilled", "Billed", "Billed", "Draft", "InterimBilled")),
        "CreatedDate": ticks_datetime(created, rng.randrange(10_000_000)),
        "ModifiedDate": ticks_datetime(created + 3600, rng.randrange(10_000_000)),
        "FeeType": work.record["FeeSettings"]["FeeType"],
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
    primary = pick(rng, _PRIMARY_STATUSES)
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
    frequency = pick(rng, ("Month", "Quarter", "Year", "Fortnight"))
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


def tenant_settings(k: Keyer, tenant_key: str) -> Record:
    """GET /v3/TenantSettings body (without @odata.context); ``k``: the account's key namespace."""
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
        "TenantKey": tenant_key,
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


COLLECTIONS: tuple[CollectionDef, ...] = (
    defn(
        "WorkItems",
        "WorkItemKey",
        "WorkItem",
        _gen_work_item,
        _work_item_summary,
        "No Work Item found for provided key",
        ("StartDate", "DeadlineDate"),
    ),
    plain(
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
    plain(
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
    plain(
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
    plain(
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
    plain(
        "IntegrationTasks",
        "TaskKey",
        _gen_integration_task,
        "No Integration Task found for provided key",
        ("CreatedAt", "TaskDueDate"),
        paged=False,
        size_of=lambda size: max(1, size // 20),
    ),
    plain(
        "WorkSchedules",
        "WorkScheduleKey",
        _gen_work_schedule,
        "No Work Schedule found for provided key",
        (),
        listable=False,
    ),
)
