"""Which resources a client has: the declarations, one line per operation.

Every descriptor names the spec's operationId, so ``tools/spec_check.py`` can check that all 74
operations are declared. Method names follow one scheme: ``list``, ``get``, ``create``,
``update`` (PUT: replaces the record), ``patch``, ``delete``, ``modify`` (GET, change, PUT),
``get_by_user_defined_identifier``, plus the API's few actions under their own names.
"""

from __future__ import annotations

from ._files import Files
from ._generated import models as m
from ._limits import Lane
from ._resource import (
    ActionEndpoint,
    CreateEndpoint,
    DeclaredOperation,
    DeleteAllEndpoint,
    DeleteEndpoint,
    GetEndpoint,
    KeyedListEndpoint,
    ListEndpoint,
    ModifyEndpoint,
    PatchEndpoint,
    ReplaceEndpoint,
    Resource,
    declared_operations,
)
from ._sender import RequestSender
from ._tenant_settings import TenantSettingsResource


class Contacts(Resource):
    """People (a "Person" in Karbon's UI)."""

    list = ListEndpoint("/v3/Contacts", m.ContactSummary, operation_id="getAllContacts")
    get = GetEndpoint("/v3/Contacts/{key}", m.Contact, operation_id="getContactByID")
    get_by_user_defined_identifier = GetEndpoint(
        "/v3/Contacts/GetContactByUserDefinedIdentifier(UserDefinedIdentifier={key})",
        m.Contact,
        operation_id="getContactByUDI",
        literal_key=True,
    )
    create = CreateEndpoint(
        "/v3/Contacts", m.CreateContact, m.Contact, operation_id="createContact"
    )
    update = ReplaceEndpoint("/v3/Contacts/{key}", m.CreateContact, operation_id="putContactByID")
    patch = PatchEndpoint(
        "/v3/Contacts/{key}",
        m.PatchContactRequest,
        m.PatchedContact,
        operation_id="patchContactsByID",
    )
    modify = ModifyEndpoint(get, update)


class Organizations(Resource):
    list = ListEndpoint(
        "/v3/Organizations", m.OrganizationSummary, operation_id="getAllOrganizations"
    )
    get = GetEndpoint("/v3/Organizations/{key}", m.Organization, operation_id="getOrganizationByID")
    get_by_user_defined_identifier = GetEndpoint(
        "/v3/Organizations/GetOrganizationByUserDefinedIdentifier(UserDefinedIdentifier={key})",
        m.OrganizationWithBusinessCards,
        operation_id="getOrganizationByUDI",
        literal_key=True,
    )
    create = CreateEndpoint(
        "/v3/Organizations",
        m.CreateOrganization,
        m.OrganizationCreated,
        operation_id="createOrganization",
    )
    update = ReplaceEndpoint(
        "/v3/Organizations/{key}", m.UpdateOrganization, operation_id="putOrganizationByID"
    )
    patch = PatchEndpoint(
        "/v3/Organizations/{key}",
        m.PatchOrganizationRequest,
        m.PatchedOrganization,
        operation_id="patchOrganizationByID",
        headers={"Prefer": "return=representation"},
    )
    modify = ModifyEndpoint(get, update)


class ClientGroups(Resource):
    list = ListEndpoint("/v3/ClientGroups", m.ClientGroupSummary, operation_id="getClientGroups")
    get = GetEndpoint("/v3/ClientGroups/{key}", m.ClientGroup, operation_id="getClientGroupByID")
    get_by_user_defined_identifier = GetEndpoint(
        "/v3/ClientGroups/GetClientGroupByUserDefinedIdentifier(UserDefinedIdentifier={key})",
        m.ClientGroup,
        operation_id="getClientGroupByUDI",
        literal_key=True,
    )
    create = CreateEndpoint(
        "/v3/ClientGroups",
        m.CreateClientGroupRequest,
        m.ClientGroup,
        operation_id="createClientGroup",
    )
    update = ReplaceEndpoint(
        "/v3/ClientGroups/{key}", m.UpdateClientGroupRequest, operation_id="putClientGroupByID"
    )
    patch = PatchEndpoint(
        "/v3/ClientGroups/{key}",
        m.PatchClientGroupRequest,
        None,
        operation_id="patchClientGroupByID",
    )
    modify = ModifyEndpoint(get, update)


class BusinessCards(Resource):
    get = GetEndpoint(
        "/v3/BusinessCards/{key}", m.BusinessCardWithEntity, operation_id="getBusinessCardByKey"
    )
    update = ReplaceEndpoint(
        "/v3/BusinessCards/{key}",
        m.UpdateBusinessCardRequest,
        operation_id="updateBusinessCardByKey",
    )
    modify = ModifyEndpoint(get, update)


class WorkItems(Resource):
    list = ListEndpoint("/v3/WorkItems", m.WorkItemSummary, operation_id="getAllWorkItems")
    get = GetEndpoint("/v3/WorkItems/{key}", m.WorkItem, operation_id="getWorkItemByID")
    create = CreateEndpoint(
        "/v3/WorkItems", m.RequestCreateWorkItem, m.WorkItemCreated, operation_id="createWorkItem"
    )
    update = ReplaceEndpoint(
        "/v3/WorkItems/{key}", m.RequestCreateWorkItem, operation_id="putWorkItemByID"
    )
    patch = PatchEndpoint(
        "/v3/WorkItems/{key}", m.UpdateWorkItem, None, operation_id="patchWorkItemByID"
    )
    modify = ModifyEndpoint(get, update)


class WorkSchedules(Resource):
    get = GetEndpoint("/v3/WorkSchedules/{key}", m.WorkSchedule, operation_id="getWorkScheduleByID")
    create = CreateEndpoint(
        "/v3/WorkSchedules",
        m.WorkScheduleRequest,
        m.WorkSchedule,
        operation_id="createWorkSchedule",
    )
    update = ReplaceEndpoint(
        "/v3/WorkSchedules/{key}", m.WorkSchedulePUTRequest, operation_id="putWorkScheduleByID"
    )
    patch = PatchEndpoint(
        "/v3/WorkSchedules/{key}",
        m.UpdateWorkSchedule,
        None,
        operation_id="patchWorkScheduleByID",
    )
    modify = ModifyEndpoint(get, update)


class WorkTemplates(Resource):
    # The spec says 100; the API answers 400 "The limit of '10' for Top query" (FACTS.md).
    list = ListEndpoint(
        "/v3/WorkTemplates", m.WorkTemplate, operation_id="getAllWorkTemplates", max_page_size=10
    )
    get = GetEndpoint("/v3/WorkTemplates/{key}", m.WorkTemplate, operation_id="getWorkTemplateByID")


class Timesheets(Resource):
    """Deprecated by Karbon in favour of ``time_entries``."""

    list = ListEndpoint("/v3/Timesheets", m.Timesheet, operation_id="getAllTimesheets")
    get = GetEndpoint("/v3/Timesheets/{key}", m.Timesheet, operation_id="getTimesheetByID")


class TimeEntries(Resource):
    list = ListEndpoint(
        "/v3/IndividualTimeEntries",
        m.TimeEntry,
        operation_id="getAllIndividualTimeEntries",
        max_page_size=1000,
    )
    get = GetEndpoint(
        "/v3/IndividualTimeEntries/{key}",
        m.TimeEntry,
        operation_id="GetIndividualTimeEntryByKey",
    )


INVOICE_EXPANSIONS = ("LineItems", "Payments", "Data")


class Invoices(Resource):
    """``$expand`` (LineItems, Payments, Data) works on single invoices only."""

    list = ListEndpoint("/v3/Invoices", m.InvoiceSummary, operation_id="getInvoices", expand=())
    get = GetEndpoint(
        "/v3/Invoices/{key}", m.Invoice, operation_id="getInvoiceByKey", expand=INVOICE_EXPANSIONS
    )


class Payments(Resource):
    list = ListEndpoint("/v3/Payments", m.Payment, operation_id="getPayments", expand=())
    get = GetEndpoint(
        "/v3/Payments/{key}", m.Payment, operation_id="getPaymentByPaymentKey", expand=()
    )


class ManualPayments(Resource):
    create = CreateEndpoint(
        "/v3/ManualPayments",
        m.CreateManualPaymentRequest,
        m.ManualPaymentCreated,
        operation_id="createManualPayment",
    )
    delete = DeleteEndpoint("/v3/ManualPayments/{key}", operation_id="deleteManualPayment")
    reverse = CreateEndpoint(
        "/v3/ReverseManualPayment",
        m.ReverseManualPaymentRequest,
        None,
        operation_id="reverseManualPayment",
    )


class Expenses(Resource):
    create = CreateEndpoint(
        "/v3/Expenses", m.ExpenseRequest, m.Expense, operation_id="createExpense"
    )


class Users(Resource):
    list = ListEndpoint("/v3/Users", m.UserSummary, operation_id="getAllUsers")
    get = GetEndpoint("/v3/Users/{key}", m.User, operation_id="getUserById")
    create = CreateEndpoint(
        "/v3/Users", m.CreateUserRequest, m.UserSummary, operation_id="createUser"
    )


class Teams(Resource):
    list = ListEndpoint("/v3/Teams", m.Team, operation_id="getAllTeams", max_page_size=200)
    get = GetEndpoint("/v3/Teams/{key}", m.TeamProfile, operation_id="getTeamByKey")
    add_members = ActionEndpoint(
        "/v3/Teams/{key}/AddMembers", m.AddTeamMembers, operation_id="addTeamMembers"
    )
    remove_member = ActionEndpoint(
        "/v3/Teams/{key}/RemoveMember", m.RemoveTeamMember, operation_id="removeTeamMember"
    )


class Roles(Resource):
    list = ListEndpoint("/v3/Roles", m.Role, operation_id="getAllRoles", max_page_size=200)


class CustomFields(Resource):
    """Custom field definitions (immutable through the API: delete and re-create)."""

    list = ListEndpoint(
        "/v3/CustomFields",
        m.CustomFieldDefinitionWithKey,
        operation_id="GetCustomFieldDefinitions",
        paged=False,
    )
    create = CreateEndpoint(
        "/v3/CustomFields",
        m.CustomFieldDefinitionRequest,
        m.CustomFieldDefinition,
        operation_id="CreateCustomFieldDefinition",
    )
    delete = DeleteEndpoint("/v3/CustomFields/{key}", operation_id="DeleteCustomFieldDefinition")


class CustomFieldValues(Resource):
    """The custom field values of one Contact or Organization; ``update`` replaces the whole
    set. Read them with ``CustomFieldAccessor``; build values with ``custom_field_value``."""

    get = GetEndpoint(
        "/v3/CustomFieldValues/{key}", m.CustomFieldValues, operation_id="GetCustomFieldValues"
    )
    update = ReplaceEndpoint(
        "/v3/CustomFieldValues/{key}",
        m.CustomFieldValuesRequest,
        operation_id="UpdateCustomFieldValues",
    )
    modify = ModifyEndpoint(get, update)


class Notes(Resource):
    get = GetEndpoint("/v3/Notes/{key}", m.Note, operation_id="getNoteByNoteKey")
    create = CreateEndpoint("/v3/Notes", m.NoteRequest, m.Note, operation_id="createNote")


class Comments(Resource):
    get = GetEndpoint("/v3/Comments({key})", m.Comment, operation_id="getComment", literal_key=True)


class EstimateSummaries(Resource):
    list = KeyedListEndpoint(
        "/v3/EstimateSummaries/{key}",
        m.EstimateSummary,
        operation_id="getEstimateSummariesByWorkItemKey",
    )


class WebhookSubscriptions(Resource):
    """One subscription per WebhookType; to change one, delete it and create it again."""

    get = GetEndpoint(
        "/v3/WebhookSubscriptions/{key}",
        m.WebhookSubscription,
        operation_id="getWebhookSubscriptionsByWebhookType",
    )
    create = CreateEndpoint(
        "/v3/WebhookSubscriptions",
        m.CreateWebhookSubscriptionRequest,
        m.WebhookSubscription,
        operation_id="createWebhookSubscription",
    )
    delete = DeleteEndpoint(
        "/v3/WebhookSubscriptions/{key}", operation_id="delWebhookSubscriptionsByWebhookType"
    )
    delete_all = DeleteAllEndpoint(
        "/v3/WebhookSubscriptions", operation_id="delAllWebhookSubscriptions"
    )


class IntegrationTasks(Resource):
    list = ListEndpoint(
        "/v3/IntegrationTasks", m.IntegrationTask, operation_id="ListIntegrationTasks", paged=False
    )
    get = GetEndpoint(
        "/v3/IntegrationTasks/{key}", m.IntegrationTask, operation_id="GetIntegrationTask"
    )
    update = ReplaceEndpoint(
        "/v3/IntegrationTasks/{key}",
        m.IntegrationTaskWriteable,
        operation_id="UpdateIntegrationTask",
    )
    modify = ModifyEndpoint(get, update)


class IntegrationTaskDefinitions(Resource):
    list = ListEndpoint(
        "/v3/IntegrationTaskDefinitions",
        m.IntegrationTaskDefinition,
        operation_id="ListIntegrationTaskDefintions",
        paged=False,
    )


RESOURCES: dict[str, type[Resource]] = {
    "contacts": Contacts,
    "organizations": Organizations,
    "client_groups": ClientGroups,
    "business_cards": BusinessCards,
    "work_items": WorkItems,
    "work_schedules": WorkSchedules,
    "work_templates": WorkTemplates,
    "timesheets": Timesheets,
    "time_entries": TimeEntries,
    "invoices": Invoices,
    "payments": Payments,
    "manual_payments": ManualPayments,
    "expenses": Expenses,
    "users": Users,
    "teams": Teams,
    "roles": Roles,
    "tenant_settings": TenantSettingsResource,
    "custom_fields": CustomFields,
    "custom_field_values": CustomFieldValues,
    "notes": Notes,
    "comments": Comments,
    "files": Files,
    "estimate_summaries": EstimateSummaries,
    "webhook_subscriptions": WebhookSubscriptions,
    "integration_tasks": IntegrationTasks,
    "integration_task_definitions": IntegrationTaskDefinitions,
}
"""Client attribute -> resource class: the whole surface (see docs/OPERATIONS.md)."""


def operation_table() -> list[tuple[str, DeclaredOperation]]:
    """``(client attribute, declared operation)`` for every operation the client offers."""
    return [
        (attribute, entry)
        for attribute, resource_class in RESOURCES.items()
        for entry in declared_operations(resource_class)
    ]


class ResourceSet:
    """The resources, as attributes; ``KarbonClient`` is one, ``with_options`` returns one."""

    contacts: Contacts
    organizations: Organizations
    client_groups: ClientGroups
    business_cards: BusinessCards
    work_items: WorkItems
    work_schedules: WorkSchedules
    work_templates: WorkTemplates
    timesheets: Timesheets
    time_entries: TimeEntries
    invoices: Invoices
    payments: Payments
    manual_payments: ManualPayments
    expenses: Expenses
    users: Users
    teams: Teams
    roles: Roles
    tenant_settings: TenantSettingsResource
    custom_fields: CustomFields
    custom_field_values: CustomFieldValues
    notes: Notes
    comments: Comments
    files: Files
    estimate_summaries: EstimateSummaries
    webhook_subscriptions: WebhookSubscriptions
    integration_tasks: IntegrationTasks
    integration_task_definitions: IntegrationTaskDefinitions

    def __init__(self, sender: RequestSender, *, lane: Lane | None = None) -> None:
        self._sender = sender
        for attribute, resource_class in RESOURCES.items():
            setattr(self, attribute, resource_class(sender, lane=lane))
