"""Which resources a client has: the declarations, one line per operation.

Every descriptor is built from the generated table by operationId (``Ops.getAllContacts``:
method, path, models, page limit, query facts), so nothing here repeats the spec, and
``tools/spec_check.py`` checks that all 74 operations are declared once. Method names follow
one scheme: ``list``, ``get``, ``create``, ``update`` (PUT: replaces the record), ``patch``,
``delete``, ``modify`` (GET, change, PUT),
``get_by_user_defined_identifier``, plus the API's few actions under their own names.
"""

from __future__ import annotations

from ._endpoint import DeclaredOperation, Resource, declared_operations
from ._files import Files
from ._generated.operations import Ops as o
from ._limits import Lane
from ._read_endpoints import GetEndpoint, KeyedListEndpoint, ListEndpoint
from ._sender import RequestSender
from ._tenant_settings import TenantSettingsResource
from ._write_endpoints import (
    ActionEndpoint,
    CreateEndpoint,
    DeleteAllEndpoint,
    DeleteEndpoint,
    ModifyEndpoint,
    PatchEndpoint,
    ReplaceEndpoint,
)


class Contacts(Resource):
    """People (a "Person" in Karbon's UI)."""

    list = ListEndpoint.of(o.getAllContacts)
    get = GetEndpoint.of(o.getContactByID)
    get_by_user_defined_identifier = GetEndpoint.of(o.getContactByUDI)
    create = CreateEndpoint.of(o.createContact)
    update = ReplaceEndpoint.of(o.putContactByID)
    patch = PatchEndpoint.of(o.patchContactsByID, read_back=get)
    modify = ModifyEndpoint(get, update)


class Organizations(Resource):
    list = ListEndpoint.of(o.getAllOrganizations)
    get = GetEndpoint.of(o.getOrganizationByID)
    get_by_user_defined_identifier = GetEndpoint.of(o.getOrganizationByUDI)
    create = CreateEndpoint.of(o.createOrganization)
    update = ReplaceEndpoint.of(o.putOrganizationByID)
    patch = PatchEndpoint.of(o.patchOrganizationByID, read_back=get)
    modify = ModifyEndpoint(get, update)


class ClientGroups(Resource):
    list = ListEndpoint.of(o.getClientGroups)
    get = GetEndpoint.of(o.getClientGroupByID)
    get_by_user_defined_identifier = GetEndpoint.of(o.getClientGroupByUDI)
    create = CreateEndpoint.of(o.createClientGroup)
    update = ReplaceEndpoint.of(o.putClientGroupByID)
    patch = PatchEndpoint.of(o.patchClientGroupByID, read_back=get)
    modify = ModifyEndpoint(get, update)


class BusinessCards(Resource):
    get = GetEndpoint.of(o.getBusinessCardByKey)
    update = ReplaceEndpoint.of(o.updateBusinessCardByKey)
    modify = ModifyEndpoint(get, update)


class WorkItems(Resource):
    list = ListEndpoint.of(o.getAllWorkItems)
    get = GetEndpoint.of(o.getWorkItemByID)
    create = CreateEndpoint.of(o.createWorkItem)
    update = ReplaceEndpoint.of(o.putWorkItemByID)
    patch = PatchEndpoint.of(o.patchWorkItemByID, read_back=get)
    modify = ModifyEndpoint(get, update)


class WorkSchedules(Resource):
    get = GetEndpoint.of(o.getWorkScheduleByID)
    create = CreateEndpoint.of(o.createWorkSchedule)
    update = ReplaceEndpoint.of(o.putWorkScheduleByID)
    patch = PatchEndpoint.of(o.patchWorkScheduleByID)
    modify = ModifyEndpoint(get, update)


class WorkTemplates(Resource):
    list = ListEndpoint.of(o.getAllWorkTemplates)
    get = GetEndpoint.of(o.getWorkTemplateByID)


class Timesheets(Resource):
    """Deprecated by Karbon in favour of ``time_entries``."""

    list = ListEndpoint.of(o.getAllTimesheets)
    get = GetEndpoint.of(o.getTimesheetByID)


class TimeEntries(Resource):
    list = ListEndpoint.of(o.getAllIndividualTimeEntries)
    get = GetEndpoint.of(o.GetIndividualTimeEntryByKey)


class Invoices(Resource):
    """``$expand`` (LineItems, Payments, Data) works on single invoices only; the list filters
    on ``InvoiceStatus`` only."""

    list = ListEndpoint.of(o.getInvoices)
    get = GetEndpoint.of(o.getInvoiceByKey)


class Payments(Resource):
    list = ListEndpoint.of(o.getPayments)
    get = GetEndpoint.of(o.getPaymentByPaymentKey)


class ManualPayments(Resource):
    create = CreateEndpoint.of(o.createManualPayment)
    delete = DeleteEndpoint.of(o.deleteManualPayment)
    reverse = CreateEndpoint.of(o.reverseManualPayment)


class Expenses(Resource):
    create = CreateEndpoint.of(o.createExpense)


class Users(Resource):
    list = ListEndpoint.of(o.getAllUsers)
    get = GetEndpoint.of(o.getUserById)
    create = CreateEndpoint.of(o.createUser)


class Teams(Resource):
    list = ListEndpoint.of(o.getAllTeams)
    get = GetEndpoint.of(o.getTeamByKey)
    add_members = ActionEndpoint.of(o.addTeamMembers)
    remove_member = ActionEndpoint.of(o.removeTeamMember)


class Roles(Resource):
    list = ListEndpoint.of(o.getAllRoles)


class CustomFields(Resource):
    """Custom field definitions (immutable through the API: delete and re-create)."""

    list = ListEndpoint.of(o.GetCustomFieldDefinitions)
    create = CreateEndpoint.of(o.CreateCustomFieldDefinition)
    delete = DeleteEndpoint.of(o.DeleteCustomFieldDefinition)


class CustomFieldValues(Resource):
    """The custom field values of one Contact or Organization; ``update`` replaces the whole
    set. Read them with ``CustomFieldAccessor``; build values with ``custom_field_value``."""

    get = GetEndpoint.of(o.GetCustomFieldValues)
    update = ReplaceEndpoint.of(o.UpdateCustomFieldValues)
    modify = ModifyEndpoint(get, update)


class Notes(Resource):
    get = GetEndpoint.of(o.getNoteByNoteKey)
    create = CreateEndpoint.of(o.createNote)


class Comments(Resource):
    get = GetEndpoint.of(o.getComment)


class EstimateSummaries(Resource):
    list = KeyedListEndpoint.of(o.getEstimateSummariesByWorkItemKey)


class WebhookSubscriptions(Resource):
    """One subscription per WebhookType; to change one, delete it and create it again."""

    get = GetEndpoint.of(o.getWebhookSubscriptionsByWebhookType)
    create = CreateEndpoint.of(o.createWebhookSubscription)
    delete = DeleteEndpoint.of(o.delWebhookSubscriptionsByWebhookType)
    delete_all = DeleteAllEndpoint.of(o.delAllWebhookSubscriptions)


class IntegrationTasks(Resource):
    list = ListEndpoint.of(o.ListIntegrationTasks)
    get = GetEndpoint.of(o.GetIntegrationTask)
    update = ReplaceEndpoint.of(o.UpdateIntegrationTask)
    modify = ModifyEndpoint(get, update)


class IntegrationTaskDefinitions(Resource):
    list = ListEndpoint.of(o.ListIntegrationTaskDefintions)


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
