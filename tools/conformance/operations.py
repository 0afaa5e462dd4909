"""Every operation of the Karbon API v3 as a call of the SDK's public surface.

One row per operationId: the client method that sends it, how that method is called, the
request model it takes and the model it returns (for lists: the item model). The harness names
these itself, from the README's "Every operation" table, rather than reading the SDK's private
operation table, so it checks what a user of the SDK can call.
"""

from __future__ import annotations

import enum
from typing import Any

import attrs

from karbon_async import models as m


class Kind(enum.Enum):
    """How a method is called; the harness supplies keys and bodies."""

    LIST = "list"  # method(prefetch=False) -> Paginator; the first page is read
    GET = "get"  # await method(key)
    SINGLETON = "singleton"  # await method()
    KEYED_LIST = "keyed_list"  # await method(key) -> list
    CREATE = "create"  # await method(body)
    KEYED_WRITE = "keyed_write"  # await method(key, body)
    DELETE = "delete"  # await method(key)
    DELETE_ALL = "delete_all"  # await method()
    FILE_LIST = "file_list"  # await method(entity_type, entity_key)
    UPLOAD = "upload"  # await method(data, filename=..., contact_key=key)
    DOWNLOAD = "download"  # async for chunk in method(key)


@attrs.frozen
class Call:
    operation_id: str
    method: str
    """Dotted path from the client: ``contacts.list``."""
    kind: Kind
    request: type[Any] | None = None
    response: type[Any] | None = None
    """The decoded model (lists: of one item); None when the method returns nothing."""


def _calls(*rows: tuple[str, str, Kind, type[Any] | None, type[Any] | None]) -> dict[str, Call]:
    table: dict[str, Call] = {}
    for operation_id, method, kind, request, response in rows:
        if operation_id in table:
            raise ValueError(f"{operation_id} listed twice")
        table[operation_id] = Call(operation_id, method, kind, request, response)
    return table


K = Kind
CALLS: dict[str, Call] = _calls(
    ("getAllContacts", "contacts.list", K.LIST, None, m.ContactSummary),
    ("getContactByID", "contacts.get", K.GET, None, m.Contact),
    ("getContactByUDI", "contacts.get_by_user_defined_identifier", K.GET, None, m.Contact),
    ("createContact", "contacts.create", K.CREATE, m.CreateContactRequest, m.Contact),
    ("putContactByID", "contacts.update", K.KEYED_WRITE, m.CreateContactRequest, None),
    (
        "patchContactsByID",
        "contacts.patch",
        K.KEYED_WRITE,
        m.PatchContactRequest,
        m.PatchedContact,
    ),
    ("getAllOrganizations", "organizations.list", K.LIST, None, m.OrganizationSummary),
    ("getOrganizationByID", "organizations.get", K.GET, None, m.Organization),
    (
        "getOrganizationByUDI",
        "organizations.get_by_user_defined_identifier",
        K.GET,
        None,
        m.OrganizationWithBusinessCards,
    ),
    (
        "createOrganization",
        "organizations.create",
        K.CREATE,
        m.CreateOrganizationRequest,
        m.OrganizationCreated,
    ),
    (
        "putOrganizationByID",
        "organizations.update",
        K.KEYED_WRITE,
        m.ReplaceOrganizationRequest,
        None,
    ),
    (
        "patchOrganizationByID",
        "organizations.patch",
        K.KEYED_WRITE,
        m.PatchOrganizationRequest,
        m.PatchedOrganization,
    ),
    ("getClientGroups", "client_groups.list", K.LIST, None, m.ClientGroupSummary),
    ("getClientGroupByID", "client_groups.get", K.GET, None, m.ClientGroup),
    (
        "getClientGroupByUDI",
        "client_groups.get_by_user_defined_identifier",
        K.GET,
        None,
        m.ClientGroup,
    ),
    (
        "createClientGroup",
        "client_groups.create",
        K.CREATE,
        m.CreateClientGroupRequest,
        m.ClientGroup,
    ),
    (
        "putClientGroupByID",
        "client_groups.update",
        K.KEYED_WRITE,
        m.ReplaceClientGroupRequest,
        None,
    ),
    (
        "patchClientGroupByID",
        "client_groups.patch",
        K.KEYED_WRITE,
        m.PatchClientGroupRequest,
        None,
    ),
    ("getBusinessCardByKey", "business_cards.get", K.GET, None, m.BusinessCardWithEntity),
    (
        "updateBusinessCardByKey",
        "business_cards.update",
        K.KEYED_WRITE,
        m.ReplaceBusinessCardRequest,
        None,
    ),
    ("getAllWorkItems", "work_items.list", K.LIST, None, m.WorkItemSummary),
    ("getWorkItemByID", "work_items.get", K.GET, None, m.WorkItem),
    ("createWorkItem", "work_items.create", K.CREATE, m.CreateWorkItemRequest, m.WorkItemCreated),
    ("putWorkItemByID", "work_items.update", K.KEYED_WRITE, m.CreateWorkItemRequest, None),
    ("patchWorkItemByID", "work_items.patch", K.KEYED_WRITE, m.PatchWorkItemRequest, None),
    ("getWorkScheduleByID", "work_schedules.get", K.GET, None, m.WorkSchedule),
    (
        "createWorkSchedule",
        "work_schedules.create",
        K.CREATE,
        m.CreateWorkScheduleRequest,
        m.WorkSchedule,
    ),
    (
        "putWorkScheduleByID",
        "work_schedules.update",
        K.KEYED_WRITE,
        m.ReplaceWorkScheduleRequest,
        None,
    ),
    (
        "patchWorkScheduleByID",
        "work_schedules.patch",
        K.KEYED_WRITE,
        m.PatchWorkScheduleRequest,
        None,
    ),
    ("getAllWorkTemplates", "work_templates.list", K.LIST, None, m.WorkTemplate),
    ("getWorkTemplateByID", "work_templates.get", K.GET, None, m.WorkTemplate),
    ("getAllTimesheets", "timesheets.list", K.LIST, None, m.Timesheet),
    ("getTimesheetByID", "timesheets.get", K.GET, None, m.Timesheet),
    ("getAllIndividualTimeEntries", "time_entries.list", K.LIST, None, m.TimeEntry),
    ("GetIndividualTimeEntryByKey", "time_entries.get", K.GET, None, m.TimeEntry),
    ("getInvoices", "invoices.list", K.LIST, None, m.InvoiceSummary),
    ("getInvoiceByKey", "invoices.get", K.GET, None, m.Invoice),
    ("getPayments", "payments.list", K.LIST, None, m.Payment),
    ("getPaymentByPaymentKey", "payments.get", K.GET, None, m.Payment),
    (
        "createManualPayment",
        "manual_payments.create",
        K.CREATE,
        m.CreateManualPaymentRequest,
        m.ManualPaymentCreated,
    ),
    ("deleteManualPayment", "manual_payments.delete", K.DELETE, None, None),
    (
        "reverseManualPayment",
        "manual_payments.reverse",
        K.CREATE,
        m.ReverseManualPaymentRequest,
        None,
    ),
    ("createExpense", "expenses.create", K.CREATE, m.CreateExpenseRequest, m.Expense),
    ("getAllUsers", "users.list", K.LIST, None, m.UserSummary),
    ("getUserById", "users.get", K.GET, None, m.User),
    ("createUser", "users.create", K.CREATE, m.CreateUserRequest, m.UserSummary),
    ("getAllTeams", "teams.list", K.LIST, None, m.Team),
    ("getTeamByKey", "teams.get", K.GET, None, m.TeamProfile),
    ("addTeamMembers", "teams.add_members", K.KEYED_WRITE, m.AddTeamMembersRequest, None),
    ("removeTeamMember", "teams.remove_member", K.KEYED_WRITE, m.RemoveTeamMemberRequest, None),
    ("getAllRoles", "roles.list", K.LIST, None, m.Role),
    ("getTenantSettings", "tenant_settings.refresh", K.SINGLETON, None, m.TenantSettings),
    (
        "GetCustomFieldDefinitions",
        "custom_fields.list",
        K.LIST,
        None,
        m.CustomFieldDefinitionWithKey,
    ),
    (
        "CreateCustomFieldDefinition",
        "custom_fields.create",
        K.CREATE,
        m.CreateCustomFieldDefinitionRequest,
        m.CustomFieldDefinition,
    ),
    ("DeleteCustomFieldDefinition", "custom_fields.delete", K.DELETE, None, None),
    ("GetCustomFieldValues", "custom_field_values.get", K.GET, None, m.CustomFieldValues),
    (
        "UpdateCustomFieldValues",
        "custom_field_values.update",
        K.KEYED_WRITE,
        m.ReplaceCustomFieldValuesRequest,
        None,
    ),
    ("getNoteByNoteKey", "notes.get", K.GET, None, m.Note),
    ("createNote", "notes.create", K.CREATE, m.CreateNoteRequest, m.Note),
    ("getComment", "comments.get", K.GET, None, m.Comment),
    ("getFileDetailsByKey", "files.get", K.GET, None, m.FileDetails),
    ("listFiles", "files.list", K.FILE_LIST, None, m.FileList),
    ("createFile", "files.upload", K.UPLOAD, None, m.FileCreated),
    ("downloadFileDetailsByKey", "files.download", K.DOWNLOAD, None, None),
    ("downloadFile", "files.download_by_token", K.DOWNLOAD, None, None),
    (
        "getEstimateSummariesByWorkItemKey",
        "estimate_summaries.list",
        K.KEYED_LIST,
        None,
        m.EstimateSummary,
    ),
    (
        "getWebhookSubscriptionsByWebhookType",
        "webhook_subscriptions.get",
        K.GET,
        None,
        m.WebhookSubscription,
    ),
    (
        "createWebhookSubscription",
        "webhook_subscriptions.create",
        K.CREATE,
        m.CreateWebhookSubscriptionRequest,
        m.WebhookSubscription,
    ),
    ("delWebhookSubscriptionsByWebhookType", "webhook_subscriptions.delete", K.DELETE, None, None),
    ("delAllWebhookSubscriptions", "webhook_subscriptions.delete_all", K.DELETE_ALL, None, None),
    ("ListIntegrationTasks", "integration_tasks.list", K.LIST, None, m.IntegrationTask),
    ("GetIntegrationTask", "integration_tasks.get", K.GET, None, m.IntegrationTask),
    (
        "UpdateIntegrationTask",
        "integration_tasks.update",
        K.KEYED_WRITE,
        m.ReplaceIntegrationTaskRequest,
        None,
    ),
    (
        "ListIntegrationTaskDefintions",
        "integration_task_definitions.list",
        K.LIST,
        None,
        m.IntegrationTaskDefinition,
    ),
)


def bound_method(client: object, call: Call) -> Any:
    """``client.<resource>.<method>`` for ``call``."""
    target: Any = client
    for part in call.method.split("."):
        target = getattr(target, part)
    return target
