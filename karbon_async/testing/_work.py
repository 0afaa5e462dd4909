"""Work endpoints: building a work item from a write, estimate summaries, work schedules and
integration tasks (seed data: ``_work_seed``)."""

from __future__ import annotations

import copy
from collections.abc import Mapping
from typing import Any

from aiohttp import web

from ._common import (
    Call,
    Reply,
    entity_body,
    error,
    guid_from,
    invalid_model,
    json_response,
    location,
    no_content,
    require,
    stamp,
)
from ._keys import hash_str, mix64
from ._people import user_by_email, user_record
from ._store import Record
from ._work_seed import spaced_status

__all__ = ["build_work_item", "work_types"]


_CLIENT_COLLECTIONS = {
    "Contact": "Contacts",
    "Organization": "Organizations",
    "ClientGroup": "ClientGroups",
}


def _normalise_status(value: Any) -> Any:
    return value.replace(" ", "") if isinstance(value, str) else value


def work_types(call: Call) -> set[str]:
    """Names of the account's work types: what a work item's WorkType may be."""
    return {w["Name"] for w in call.account.data.tenant_settings()["WorkTypes"]}


def _work_type_name(call: Call, work_type_key: Any) -> str | None:
    for w in call.account.data.tenant_settings()["WorkTypes"]:
        if w["WorkTypeKey"] == work_type_key:
            return str(w["Name"])
    return None


def build_work_item(
    call: Call, body: dict[str, Any], previous: Record | None, key: str | None
) -> Record:
    client_type = body.get("ClientType")
    if client_type not in _CLIENT_COLLECTIONS:
        raise invalid_model(
            "workItem.ClientType", "ClientType must be Contact, Organization, or ClientGroup"
        )
    client_store = call.store(_CLIENT_COLLECTIONS[client_type])
    client_key = str(body.get("ClientKey"))
    client_index = client_store.index_of(client_key)
    if client_index is None:
        raise invalid_model("workItem.ClientKey", f"ClientKey is not a valid {client_type} Key")
    client = client_store.record_at(client_index)
    assignee = user_by_email(call, body.get("AssigneeEmailAddress"))
    if assignee is None:
        raise Reply(500, error("5001", "Assignee email address is not an active Karbon user"))
    template_key = body.get("WorkTemplateKey")
    template_title = None
    work_type = body.get("WorkType")
    if work_type is not None and work_type not in work_types(call):
        raise invalid_model("workItem.WorkType", "Work Type is not valid")
    if template_key is not None:
        templates = call.store("WorkTemplates")
        t_index = templates.index_of(str(template_key))
        if t_index is None:
            raise invalid_model(
                "workItem.WorkTemplateKey", "WorkTemplateKey is not a valid Work Template"
            )
        template = templates.record_at(t_index)
        template_title = template["Title"]
        if work_type is None:  # the template's work type, unless the body names one
            work_type = _work_type_name(call, template.get("WorkTypeKey"))
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
        "CompletedDate": stamp()[:10] + "T00:00:00Z" if primary == "Completed" else None,
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


async def estimate_summaries(call: Call) -> web.StreamResponse:
    works = call.store("WorkItems")
    key = call.params["key"]
    require(works, key)
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
                "EstimateSummaryKey": f"{guid_from(h).upper()}-{n}",
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
    return json_response(200, {"@odata.context": call.context("EstimateSummaries"), "value": value})


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
    work = works.record_at(require(works, str(body["CreatedFromWorkItemKey"])))
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


async def create_work_schedule(call: Call) -> web.StreamResponse:
    store = call.store("WorkSchedules")
    rec = _schedule_record(call, call.body("workSchedule"), None)
    key = store.create(rec)
    return json_response(
        201, entity_body(call, store, key), headers=location(call, "WorkSchedules", key)
    )


async def put_work_schedule(call: Call) -> web.StreamResponse:
    store = call.store("WorkSchedules")
    key = call.params["key"]
    index = require(store, key)
    body = call.body("workSchedule")
    if not body.get("WorkScheduleKey"):
        raise Reply(400, error("4005", "Required payload data is missing: WorkScheduleKey"))
    store.put(key, _schedule_record(call, body, store.record_at(index)))
    return no_content()


async def patch_work_schedule(call: Call) -> web.StreamResponse:
    store = call.store("WorkSchedules")
    key = call.params["key"]
    rec = copy.deepcopy(store.record_at(require(store, key)))
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
        user_record(call, body["AssigneeUserKey"])
        rec["AssigneeUserKey"] = body["AssigneeUserKey"]
    if "ScheduleEndDate" in body:
        rec["ScheduleEndDate"] = body["ScheduleEndDate"]
    store.put(key, rec)
    return no_content()


_TASK_WRITABLE = (
    "TaskName", "TaskPrimaryLinkUrl", "TaskPrimaryLinkLabel", "TaskSecondaryLinkUrl",
    "TaskSecondaryLinkLabel", "TaskStatus", "PrimaryStatus", "TaskDueDate", "TaskData",
)  # fmt: skip


async def put_integration_task(call: Call) -> web.StreamResponse:
    store = call.store("IntegrationTasks")
    key = call.params["key"]
    rec = copy.deepcopy(store.record_at(require(store, key)))
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
    return no_content()


def _client_type_of(call: Call, work_item_key: Any) -> str | None:
    works = call.store("WorkItems")
    index = works.index_of(str(work_item_key))
    return None if index is None else works.record_at(index).get("ClientType")
