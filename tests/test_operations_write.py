"""Writes and the remaining reads against FakeKarbon, stateful: what one call writes, the next
reads back. Tests whose endpoints FakeKarbon does not serve yet are skipped with FAKE_PENDING."""

from __future__ import annotations

import asyncio
import datetime as dt
from decimal import Decimal
from pathlib import Path

import attrs
import pytest
from _fake_helpers import covers, fake_client, key

import karbon_async as ka
from karbon_async import models as m
from karbon_async.testing import FakeKarbon, Fault

NOW = dt.datetime(2025, 3, 1, 9, 0, tzinfo=dt.timezone.utc)
FAKE_PENDING = pytest.mark.skip(reason="FakeKarbon lacks write endpoints (branch fake)")


@covers("createContact", "putContactByID", "patchContactsByID")
async def test_contact_create_update_patch_modify() -> None:
    async with fake_client() as (_, client):
        created = await client.contacts.create(
            m.CreateContactRequest(first_name="Ann", last_name="Lee")
        )
        assert created.contact_key
        assert (
            await client.contacts.update(
                created.contact_key, m.CreateContactRequest(first_name="Anne", last_name="Lee")
            )
            is None
        )
        assert (await client.contacts.get(created.contact_key)).first_name == "Anne"
        patched = await client.contacts.patch(
            created.contact_key, m.PatchContactRequest(middle_name="M")
        )
        assert isinstance(patched, m.PatchedContact)
        assert patched.first_name == "Anne"
        # annotated so that mypy checks modify() is typed with the record, not the body
        result: m.Contact = await client.contacts.modify(
            created.contact_key, lambda c: attrs.evolve(c, last_name="Leigh")
        )
        assert isinstance(result, m.Contact)
        assert (result.contact_key, result.last_name) == (created.contact_key, "Leigh")
        assert (await client.contacts.get(created.contact_key)).last_name == "Leigh"


@covers("createOrganization", "putOrganizationByID", "patchOrganizationByID")
async def test_organization_create_update_patch() -> None:
    async with fake_client() as (_, client):
        created = await client.organizations.create(m.CreateOrganizationRequest(full_name="Acme"))
        assert created.organization_key
        await client.organizations.update(
            created.organization_key, m.ReplaceOrganizationRequest(full_name="Acme Ltd")
        )
        assert (await client.organizations.get(created.organization_key)).full_name == "Acme Ltd"
        patched = await client.organizations.patch(
            created.organization_key, m.PatchOrganizationRequest(full_name="Acme Group")
        )
        assert isinstance(patched, m.PatchedOrganization)
        assert patched.full_name == "Acme Group"
        assert (await client.organizations.get(created.organization_key)).full_name == (
            "Acme Group"
        )


@covers("createClientGroup", "putClientGroupByID", "patchClientGroupByID")
async def test_client_group_create_update_patch() -> None:
    async with fake_client() as (_, client):
        created = await client.client_groups.create(m.CreateClientGroupRequest(full_name="Lees"))
        assert created.client_group_key
        await client.client_groups.update(
            created.client_group_key, m.ReplaceClientGroupRequest(full_name="The Lees")
        )
        patched = await client.client_groups.patch(
            created.client_group_key, m.PatchClientGroupRequest(full_name="Lee family")
        )
        assert isinstance(patched, m.ClientGroup)
        assert patched.full_name == "Lee family"
        assert (await client.client_groups.get(created.client_group_key)).full_name == (
            "Lee family"
        )


@covers("getBusinessCardByKey", "updateBusinessCardByKey")
async def test_business_cards() -> None:
    async with fake_client() as (fake, client):
        contact = await client.contacts.get(key(fake, "Contacts"), expand="BusinessCards")
        assert contact.business_cards
        card_key = contact.business_cards[0].business_card_key
        assert card_key
        card = await client.business_cards.get(card_key)
        assert isinstance(card, m.BusinessCardWithEntity)
        changed = await client.business_cards.modify(
            card_key, lambda c: attrs.evolve(c, role_or_title="CFO")
        )
        assert isinstance(changed, m.BusinessCardWithEntity)
        assert (changed.business_card_key, changed.role_or_title) == (card_key, "CFO")
        assert (await client.business_cards.get(card_key)).role_or_title == "CFO"


@covers("createWorkItem", "putWorkItemByID", "patchWorkItemByID")
async def test_work_item_create_update_patch() -> None:
    async with fake_client() as (fake, client):
        users = [u async for u in client.users.list()]
        email = users[0].email_address
        assert email
        body = m.CreateWorkItemRequest(
            assignee_email_address=email,
            title="Tax return",
            client_key=key(fake, "Contacts"),
            client_type=m.ClientType("Contact"),
            start_date=NOW,
            due_date=NOW + dt.timedelta(days=30),
        )
        created = await client.work_items.create(body)
        assert created.work_item_key
        await client.work_items.update(created.work_item_key, attrs.evolve(body, title="Tax"))
        patched = await client.work_items.patch(
            created.work_item_key, m.PatchWorkItemRequest(due_date=None)
        )
        assert isinstance(patched, m.WorkItem)
        assert patched.work_item_key == created.work_item_key
        assert patched.due_date is None
        work = await client.work_items.get(created.work_item_key)
        assert work.title == "Tax"
        assert work.due_date is None


@covers("createWorkSchedule", "getWorkScheduleByID", "putWorkScheduleByID", "patchWorkScheduleByID")
async def test_work_schedules() -> None:
    async with fake_client() as (fake, client):
        fields = {
            "created_from_work_item_key": key(fake, "WorkItems"),
            "recurrence_frequency": m.RecurrenceFrequency.WEEK,
            "schedule_start_date": NOW,
            "schedule_due_date_method": m.ScheduleDueDateMethod.DAYS_FROM_START_DATE,
            "prevent_start_end_on_weekend": False,
            "initialize_tasks_before_start_date_units": m.TimeUnit("Days"),
            "initialize_tasks_before_start_date_multiple": 1,
            "work_item_title_definition": "Weekly",
            "custom_frequency_multiple": 1,
        }
        created = await client.work_schedules.create(m.CreateWorkScheduleRequest(**fields))
        assert created.work_schedule_key
        schedule_key = created.work_schedule_key
        ends = NOW + dt.timedelta(days=365)
        await client.work_schedules.update(
            schedule_key,
            m.ReplaceWorkScheduleRequest(
                work_schedule_key=schedule_key,
                **{**fields, "work_item_title_definition": "Weekly review"},
                schedule_end_date=ends,
            ),
        )
        updated = await client.work_schedules.get(schedule_key)
        assert isinstance(updated, m.WorkSchedule)
        assert (updated.work_item_title_definition, updated.schedule_end_date) == (
            "Weekly review",
            ends,
        )
        await client.work_schedules.patch(
            schedule_key, m.PatchWorkScheduleRequest(schedule_end_date=None)
        )
        patched = await client.work_schedules.get(schedule_key)
        assert patched.schedule_end_date is None
        assert patched.work_item_title_definition == "Weekly review"


@covers("getAllWorkTemplates", "getWorkTemplateByID")
async def test_work_templates() -> None:
    async with fake_client() as (_, client):
        templates = [t async for t in client.work_templates.list()]
        assert templates
        assert templates[0].work_template_key
        template = await client.work_templates.get(templates[0].work_template_key)
        assert isinstance(template, m.WorkTemplate)


@covers(
    "getAllTimesheets",
    "getTimesheetByID",
    "getAllIndividualTimeEntries",
    "GetIndividualTimeEntryByKey",
)
async def test_time() -> None:
    async with fake_client() as (_, client):
        sheets = [s async for s in client.timesheets.list()]
        assert sheets
        assert sheets[0].timesheet_key
        assert isinstance(await client.timesheets.get(sheets[0].timesheet_key), m.Timesheet)
        entries = [e async for e in client.time_entries.list(page_size=1000)]
        assert entries
        assert entries[0].individual_time_entry_key
        entry = await client.time_entries.get(entries[0].individual_time_entry_key)
        assert isinstance(entry, m.TimeEntry)


@covers(
    "getInvoices",
    "getInvoiceByKey",
    "getPayments",
    "getPaymentByPaymentKey",
    "createManualPayment",
    "deleteManualPayment",
    "reverseManualPayment",
)
async def test_invoices_and_payments() -> None:
    async with fake_client(size=40) as (_, client):
        invoices = [i async for i in client.invoices.list()]
        awaiting = [i for i in invoices if i.invoice_status == m.InvoiceStatus("AwaitingPayment")]
        assert awaiting
        invoice_key = awaiting[0].invoice_key
        assert invoice_key
        invoice = await client.invoices.get(invoice_key, expand=["LineItems", "Payments", "Data"])
        assert isinstance(invoice, m.Invoice)
        assert isinstance(invoice.invoice_total, Decimal | None)
        payments = [p async for p in client.payments.list()]
        if payments and payments[0].payment_key:
            assert isinstance(await client.payments.get(payments[0].payment_key), m.Payment)
        payment = m.CreateManualPaymentRequest(
            invoice_key=invoice_key,
            payment_method=m.PaymentMethod.CASH,
            payment_date=dt.date.today(),
            total_amount=Decimal("0.01"),
        )
        reversed_one = await client.manual_payments.create(payment)
        assert isinstance(reversed_one, m.ManualPaymentCreated)
        assert reversed_one.payment_processing_key
        await client.manual_payments.reverse(
            m.ReverseManualPaymentRequest(
                payment_key=reversed_one.payment_processing_key, reversal_date=NOW
            )
        )
        deleted_one = await client.manual_payments.create(payment)
        assert deleted_one.payment_processing_key
        await client.manual_payments.delete(deleted_one.payment_processing_key)
        with pytest.raises(ka.NotFoundError):
            await client.manual_payments.delete(deleted_one.payment_processing_key)


@covers("createExpense")
async def test_expenses() -> None:
    async with fake_client() as (fake, client):
        work_item_key = key(fake, "WorkItems")
        expense = await client.expenses.create(
            m.CreateExpenseRequest(
                timeline=m.Timeline(entity_type=m.EntityType.WORK_ITEM, entity_key=work_item_key),
                expense_date=NOW,
                value=Decimal("12.00"),
                billable_value=Decimal("10.50"),
                description="Taxi",
            )
        )
        assert isinstance(expense, m.Expense)
        assert expense.expense_key
        assert expense.timeline == m.Timeline(
            entity_type=m.EntityType.WORK_ITEM, entity_key=work_item_key
        )
        assert (expense.expense_date, expense.value, expense.billable_value) == (
            NOW,
            Decimal("12.00"),
            Decimal("10.50"),
        )
        assert expense.description == "Taxi"


@covers("createUser", "getAllTeams", "getTeamByKey", "addTeamMembers", "removeTeamMember")
async def test_users_and_teams() -> None:
    async with fake_client() as (_, client):
        user = await client.users.create(
            m.CreateUserRequest(name="Ann Lee", email_address="ann.lee@example.com")
        )
        assert user.id
        teams = [t async for t in client.teams.list()]
        assert teams
        team_key = teams[0].team_key
        assert team_key
        await client.teams.add_members(team_key, m.AddTeamMembersRequest(user_keys=[user.id]))
        team = await client.teams.get(team_key)
        assert isinstance(team, m.TeamProfile)
        assert user.id in [member.key for member in team.members or []]
        await client.teams.remove_member(team_key, m.RemoveTeamMemberRequest(user_key=user.id))
        team = await client.teams.get(team_key)
        assert user.id not in [member.key for member in team.members or []]


@covers("getAllRoles")
async def test_roles() -> None:
    async with fake_client() as (_, client):
        roles = [r async for r in client.roles.list(page_size=200)]
        assert all(isinstance(r, m.Role) for r in roles)


@covers(
    "GetCustomFieldDefinitions",
    "CreateCustomFieldDefinition",
    "DeleteCustomFieldDefinition",
    "GetCustomFieldValues",
    "UpdateCustomFieldValues",
)
async def test_custom_fields() -> None:
    async with fake_client() as (fake, client):
        definition = await client.custom_fields.create(
            m.CreateCustomFieldDefinitionRequest(name="Revenue", type=m.CustomFieldType.NUMBER)
        )
        assert definition.name == "Revenue"
        listed = [d async for d in client.custom_fields.list() if d.name == "Revenue"]
        assert len(listed) == 1
        definition_key = listed[0].key
        assert definition_key
        contact_key = key(fake, "Contacts")
        await client.custom_field_values.update(
            contact_key,
            ka.custom_field_values_request(
                contact_key,
                [ka.custom_field_value(definition_key, "Number", Decimal("42.5"))],
            ),
        )
        values = ka.CustomFieldAccessor(await client.custom_field_values.get(contact_key))
        assert values.number(definition_key) == Decimal("42.5")
        assert values.number("Revenue") == Decimal("42.5")
        await client.custom_fields.delete(definition_key)
        with pytest.raises(ka.NotFoundError):
            await client.custom_fields.delete(definition_key)


@covers("createNote", "getNoteByNoteKey", "getComment")
async def test_notes_and_comments() -> None:
    async with fake_client() as (fake, client):
        users = [u async for u in client.users.list()]
        assert users[0].email_address
        note = await client.notes.create(
            m.CreateNoteRequest(
                subject="Call",
                body="Called the client",
                author_email_address=users[0].email_address,
                timelines=[
                    m.Timeline(entity_type=m.EntityType.CONTACT, entity_key=key(fake, "Contacts"))
                ],
            )
        )
        assert note.note_key
        again = await client.notes.get(note.note_key)
        assert again.subject == "Call"
        for comment in again.comments or []:
            assert comment.comment_key
            assert isinstance(await client.comments.get(comment.comment_key), m.Comment)
        with pytest.raises(ka.NotFoundError):
            await client.comments.get("no such 'comment'")


@covers("getEstimateSummariesByWorkItemKey")
async def test_estimate_summaries() -> None:
    async with fake_client() as (fake, client):
        summaries = await client.estimate_summaries.list(key(fake, "WorkItems"))
        assert all(isinstance(s, m.EstimateSummary) for s in summaries)


@covers(
    "createWebhookSubscription",
    "getWebhookSubscriptionsByWebhookType",
    "delWebhookSubscriptionsByWebhookType",
    "delAllWebhookSubscriptions",
)
async def test_webhook_subscriptions() -> None:
    async with fake_client() as (_, client):
        created = await client.webhook_subscriptions.create(
            m.CreateWebhookSubscriptionRequest(
                target_url="https://example.com/hook",
                webhook_type=m.WebhookType.CONTACT,
                signing_key="0123456789abcdef",
            )
        )
        assert created.target_url == "https://example.com/hook"
        got = await client.webhook_subscriptions.get(m.WebhookType.CONTACT)
        assert got.webhook_type == m.WebhookType.CONTACT
        await client.webhook_subscriptions.delete(m.WebhookType.CONTACT)
        with pytest.raises(ka.NotFoundError):
            await client.webhook_subscriptions.get(m.WebhookType.CONTACT)
        await client.webhook_subscriptions.delete_all()


@covers("ListIntegrationTasks", "GetIntegrationTask", "UpdateIntegrationTask")
async def test_integration_tasks() -> None:
    async with fake_client() as (_, client):
        tasks = [t async for t in client.integration_tasks.list()]
        assert tasks
        task_key = tasks[0].task_key
        assert task_key
        task = await client.integration_tasks.get(task_key)
        assert isinstance(task, m.IntegrationTask)
        await client.integration_tasks.update(
            task_key, m.ReplaceIntegrationTaskRequest(task_name="Sync")
        )


@covers("ListIntegrationTaskDefintions")
async def test_integration_task_definitions() -> None:
    async with fake_client() as (_, client):
        definitions = [d async for d in client.integration_task_definitions.list()]
        assert all(isinstance(d, m.IntegrationTaskDefinition) for d in definitions)


@covers(
    "createFile", "listFiles", "getFileDetailsByKey", "downloadFileDetailsByKey", "downloadFile"
)
async def test_files(tmp_path: Path) -> None:
    async with fake_client() as (fake, client):
        work_key = key(fake, "WorkItems")
        created = await client.files.upload(
            b"hello file", filename="a.txt", content_type="text/plain", work_item_key=work_key
        )
        assert created.id
        listing = await client.files.list(m.EntityType.WORK_ITEM, work_key)
        assert listing.attachments
        details = await client.files.get(created.id)
        assert details.file_name == "a.txt"
        assert b"".join([c async for c in client.files.download(created.id)]) == b"hello file"
        assert await client.files.download_to(created.id, tmp_path / "a.txt") == 10


@covers("putContactByID", "getContactByID")
async def test_concurrent_modify_refetches_after_409() -> None:
    async with FakeKarbon(rate_limit=None, size=3, latency=(0.05, 0.05)) as fake:
        account = fake.accounts[0]
        async with ka.KarbonClient(
            bearer_token=account.bearer_token,
            access_key=account.access_key,
            base_url=fake.base_url,
        ) as client:
            contact_key = key(fake, "Contacts")
            await asyncio.gather(
                client.contacts.modify(contact_key, lambda c: attrs.evolve(c, first_name="One")),
                client.contacts.modify(contact_key, lambda c: attrs.evolve(c, last_name="Two")),
            )
            final = await client.contacts.get(contact_key)
            assert (final.first_name, final.last_name) == ("One", "Two")
            # 2 GET + 2 PUT, one of which lost (409) and was redone (GET + PUT), a GET of the
            # record after each winning PUT, + the last GET
            assert len(account.arrivals) == 9


@covers("putWorkItemByID", "getWorkItemByID")
async def test_modify_gives_up_after_its_bound_of_conflicts() -> None:
    async with fake_client() as (fake, client):
        fake.add_fault(Fault.conflict(), account=0, method="PUT", count=None)
        with pytest.raises(ka.ConflictError) as caught:
            await client.work_items.modify(
                key(fake, "WorkItems"), lambda w: attrs.evolve(w, title="X"), attempts=2
            )
        assert caught.value.code == "4020"
