"""The error path of every operation against FakeKarbon: the fault the server injects comes
back as the typed error, and POST/PATCH are never sent twice."""

from __future__ import annotations

import datetime as dt
from collections.abc import Awaitable, Callable
from decimal import Decimal
from typing import Any

import pytest
from _fake_helpers import covers

import karbon_async as ka
from karbon_async import models as m
from karbon_async.testing import FakeKarbon, Fault

NOW = dt.datetime(2025, 3, 1, 9, 0, tzinfo=dt.timezone.utc)
Call = Callable[[ka.KarbonClient], Awaitable[Any]]


async def drain(iterator: Any) -> list[Any]:
    return [item async for item in iterator]


def work_item() -> m.CreateWorkItemRequest:
    return m.CreateWorkItemRequest(
        assignee_email_address="a@example.com",
        title="Tax return",
        client_key="C1",
        client_type=m.ClientType("Contact"),
        start_date=NOW,
    )


def schedule(cls: Any, **extra: Any) -> Any:
    return cls(
        created_from_work_item_key="W1",
        recurrence_frequency=m.RecurrenceFrequency.WEEK,
        schedule_start_date=NOW,
        schedule_due_date_method=m.ScheduleDueDateMethod.DAYS_FROM_START_DATE,
        prevent_start_end_on_weekend=False,
        initialize_tasks_before_start_date_units=m.TimeUnit("Days"),
        initialize_tasks_before_start_date_multiple=1,
        work_item_title_definition="Weekly",
        custom_frequency_multiple=1,
        **extra,
    )


CONTACT = m.CreateContactRequest(first_name="Ann", last_name="Lee")
ORGANIZATION = m.CreateOrganizationRequest(full_name="Acme")

# operationId -> the call; its HTTP method decides the injected fault (below).
CALLS: dict[str, Call] = {
    "getAllContacts": lambda c: drain(c.contacts.list()),
    "getContactByID": lambda c: c.contacts.get("C1"),
    "getContactByUDI": lambda c: c.contacts.get_by_user_defined_identifier("U'1"),
    "createContact": lambda c: c.contacts.create(CONTACT),
    "putContactByID": lambda c: c.contacts.update("C1", CONTACT),
    "patchContactsByID": lambda c: c.contacts.patch("C1", m.PatchContactRequest(first_name="Ann")),
    "getAllOrganizations": lambda c: drain(c.organizations.list()),
    "getOrganizationByID": lambda c: c.organizations.get("O1"),
    "getOrganizationByUDI": lambda c: c.organizations.get_by_user_defined_identifier("U1"),
    "createOrganization": lambda c: c.organizations.create(ORGANIZATION),
    "putOrganizationByID": lambda c: c.organizations.update(
        "O1", m.ReplaceOrganizationRequest(full_name="Acme")
    ),
    "patchOrganizationByID": lambda c: c.organizations.patch(
        "O1", m.PatchOrganizationRequest(full_name="Acme")
    ),
    "getClientGroups": lambda c: drain(c.client_groups.list()),
    "getClientGroupByID": lambda c: c.client_groups.get("G1"),
    "getClientGroupByUDI": lambda c: c.client_groups.get_by_user_defined_identifier("U1"),
    "createClientGroup": lambda c: c.client_groups.create(
        m.CreateClientGroupRequest(full_name="Lees")
    ),
    "putClientGroupByID": lambda c: c.client_groups.update(
        "G1", m.ReplaceClientGroupRequest(full_name="Lees")
    ),
    "patchClientGroupByID": lambda c: c.client_groups.patch(
        "G1", m.PatchClientGroupRequest(full_name="Lees")
    ),
    "getBusinessCardByKey": lambda c: c.business_cards.get("B1"),
    "updateBusinessCardByKey": lambda c: c.business_cards.update(
        "B1", m.ReplaceBusinessCardRequest(role_or_title="CEO")
    ),
    "getAllWorkItems": lambda c: drain(c.work_items.list()),
    "getWorkItemByID": lambda c: c.work_items.get("W1"),
    "createWorkItem": lambda c: c.work_items.create(work_item()),
    "putWorkItemByID": lambda c: c.work_items.update("W1", work_item()),
    "patchWorkItemByID": lambda c: c.work_items.patch("W1", m.PatchWorkItemRequest(due_date=None)),
    "getWorkScheduleByID": lambda c: c.work_schedules.get("S1"),
    "createWorkSchedule": lambda c: c.work_schedules.create(schedule(m.CreateWorkScheduleRequest)),
    "putWorkScheduleByID": lambda c: c.work_schedules.update(
        "S1", schedule(m.ReplaceWorkScheduleRequest, work_schedule_key="S1")
    ),
    "patchWorkScheduleByID": lambda c: c.work_schedules.patch(
        "S1", m.PatchWorkScheduleRequest(schedule_end_date=None)
    ),
    "getAllWorkTemplates": lambda c: drain(c.work_templates.list()),
    "getWorkTemplateByID": lambda c: c.work_templates.get("T1"),
    "getAllTimesheets": lambda c: drain(c.timesheets.list()),
    "getTimesheetByID": lambda c: c.timesheets.get("TS1"),
    "getAllIndividualTimeEntries": lambda c: drain(c.time_entries.list()),
    "GetIndividualTimeEntryByKey": lambda c: c.time_entries.get("TE1"),
    "getInvoices": lambda c: drain(c.invoices.list()),
    "getInvoiceByKey": lambda c: c.invoices.get("I1", expand="LineItems"),
    "getPayments": lambda c: drain(c.payments.list()),
    "getPaymentByPaymentKey": lambda c: c.payments.get("P1"),
    "createManualPayment": lambda c: c.manual_payments.create(
        m.CreateManualPaymentRequest(
            invoice_key="I1",
            payment_method=m.PaymentMethod.CASH,
            payment_date=dt.date(2025, 3, 1),
            total_amount=Decimal("10.50"),
        )
    ),
    "deleteManualPayment": lambda c: c.manual_payments.delete("MP1"),
    "reverseManualPayment": lambda c: c.manual_payments.reverse(
        m.ReverseManualPaymentRequest(payment_key="P1", reversal_date=NOW)
    ),
    "createExpense": lambda c: c.expenses.create(
        m.CreateExpenseRequest(
            timeline=m.Timeline(entity_type=m.EntityType.WORK_ITEM, entity_key="W1"),
            expense_date=NOW,
            value=Decimal("12.00"),
            billable_value=Decimal("12.00"),
            description="Taxi",
        )
    ),
    "getAllUsers": lambda c: drain(c.users.list()),
    "getUserById": lambda c: c.users.get("U1"),
    "createUser": lambda c: c.users.create(
        m.CreateUserRequest(name="Ann Lee", email_address="ann@example.com")
    ),
    "getAllTeams": lambda c: drain(c.teams.list()),
    "getTeamByKey": lambda c: c.teams.get("T1"),
    "addTeamMembers": lambda c: c.teams.add_members(
        "T1", m.AddTeamMembersRequest(user_keys=["U1"])
    ),
    "removeTeamMember": lambda c: c.teams.remove_member(
        "T1", m.RemoveTeamMemberRequest(user_key="U1")
    ),
    "getAllRoles": lambda c: drain(c.roles.list()),
    "getTenantSettings": lambda c: c.tenant_settings.get(),
    "GetCustomFieldDefinitions": lambda c: drain(c.custom_fields.list()),
    "CreateCustomFieldDefinition": lambda c: c.custom_fields.create(
        m.CreateCustomFieldDefinitionRequest(name="Industry", type=m.CustomFieldType.TEXT)
    ),
    "DeleteCustomFieldDefinition": lambda c: c.custom_fields.delete("CF1"),
    "GetCustomFieldValues": lambda c: c.custom_field_values.get("C1"),
    "UpdateCustomFieldValues": lambda c: c.custom_field_values.update(
        "C1", ka.custom_field_values_request("C1", [ka.custom_field_value("K", "Text", "x")])
    ),
    "getNoteByNoteKey": lambda c: c.notes.get("N1"),
    "createNote": lambda c: c.notes.create(
        m.CreateNoteRequest(subject="Hi", body="Body", author_email_address="a@example.com")
    ),
    "getComment": lambda c: c.comments.get("CM1"),
    "getEstimateSummariesByWorkItemKey": lambda c: c.estimate_summaries.list("W1"),
    "getWebhookSubscriptionsByWebhookType": lambda c: c.webhook_subscriptions.get(
        m.WebhookType.CONTACT
    ),
    "createWebhookSubscription": lambda c: c.webhook_subscriptions.create(
        m.CreateWebhookSubscriptionRequest(
            target_url="https://example.com/hook",
            webhook_type=m.WebhookType.CONTACT,
            signing_key="0123456789abcdef",
        )
    ),
    "delWebhookSubscriptionsByWebhookType": lambda c: c.webhook_subscriptions.delete("Contact"),
    "delAllWebhookSubscriptions": lambda c: c.webhook_subscriptions.delete_all(),
    "ListIntegrationTasks": lambda c: drain(c.integration_tasks.list()),
    "GetIntegrationTask": lambda c: c.integration_tasks.get("IT1"),
    "UpdateIntegrationTask": lambda c: c.integration_tasks.update(
        "IT1", m.ReplaceIntegrationTaskRequest(task_name="Sync")
    ),
    "ListIntegrationTaskDefintions": lambda c: drain(c.integration_task_definitions.list()),
    "getFileDetailsByKey": lambda c: c.files.get("F1"),
    "listFiles": lambda c: c.files.list(m.EntityType.WORK_ITEM, "W1"),
    "createFile": lambda c: c.files.upload(b"x", filename="a.txt", work_item_key="W1"),
    "downloadFile": lambda c: drain(c.files.download_by_token("tok")),
    "downloadFileDetailsByKey": lambda c: drain(c.files.download("F1")),
}

FAULTS: dict[str, tuple[int, dict[str, Any], type[ka.APIStatusError]]] = {
    "GET": (404, {"error": {"code": "4004", "message": "not found"}}, ka.NotFoundError),
    "DELETE": (404, {"error": {"code": "4004", "message": "not found"}}, ka.NotFoundError),
    "PUT": (409, {"error": {"code": "4020", "message": "modified"}}, ka.ConflictError),
    "PATCH": (500, {"error": {"code": "5000", "message": "boom"}}, ka.ServerError),
    "POST": (500, {"error": {"code": "5000", "message": "boom"}}, ka.ServerError),
}


@covers(*CALLS)
def test_the_table_names_every_operation() -> None:
    from karbon_async._generated import OPERATIONS

    assert set(CALLS) == set(OPERATIONS)


@pytest.mark.parametrize("operation_id", sorted(CALLS))
async def test_error_path(operation_id: str) -> None:
    from karbon_async._generated import OPERATIONS

    method = OPERATIONS[operation_id].method
    status, body, error = FAULTS[method]
    async with FakeKarbon(rate_limit=None, size=3) as fake:
        account = fake.accounts[0]
        fake.add_fault(Fault.status(status, body), account=0, count=None)
        async with ka.KarbonClient(
            bearer_token=account.bearer_token,
            access_key=account.access_key,
            base_url=fake.base_url,
            retry=ka.RetryPolicy(max_attempts=3, base_delay=0.001, max_delay=0.002),
        ) as client:
            with pytest.raises(error) as caught:
                await CALLS[operation_id](client)
        assert caught.value.status == status
        assert caught.value.code == body["error"]["code"]
        sent = len(account.arrivals)
        if method in ("POST", "PATCH"):
            assert sent == 1  # a write that may have landed is never repeated
            assert caught.value.not_repeated
        elif status >= 500:
            assert sent == 3
        else:
            assert sent == 1  # 4xx are final
