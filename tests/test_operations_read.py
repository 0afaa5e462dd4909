"""Reads against FakeKarbon, one test per operation, each with its error path."""

from __future__ import annotations

import pytest
from _fake_helpers import covers, fake_client, key

import karbon_async as ka
from karbon_async import models as m


@covers("getAllContacts", "getContactByID", "getContactByUDI")
async def test_contacts_reads() -> None:
    async with fake_client() as (fake, client):
        items = [c async for c in client.contacts.list()]
        assert len(items) == 5
        assert all(isinstance(c, m.ContactSummary) for c in items)
        contact = await client.contacts.get(key(fake, "Contacts"))
        assert isinstance(contact, m.Contact)
        assert contact.contact_key == key(fake, "Contacts")
        assert contact.user_defined_identifier is not None
        same = await client.contacts.get_by_user_defined_identifier(contact.user_defined_identifier)
        assert same.contact_key == contact.contact_key
        with pytest.raises(ka.NotFoundError):
            await client.contacts.get("nope")
        with pytest.raises(ka.NotFoundError):
            await client.contacts.get_by_user_defined_identifier("no such O'Brien")
        with pytest.raises(ValueError, match="options: BusinessCards, ClientTeam, ClientAccess"):
            await client.contacts.get(contact.contact_key, expand="Nonsense")
        assert not [p for _, _, p in fake.accounts[0].request_log if "Nonsense" in p]


@covers("getAllOrganizations", "getOrganizationByID", "getOrganizationByUDI")
async def test_organizations_reads() -> None:
    async with fake_client() as (fake, client):
        items = [o async for o in client.organizations.list(top=3)]
        assert len(items) == 3
        organization = await client.organizations.get(key(fake, "Organizations"))
        assert isinstance(organization, m.Organization)
        assert organization.user_defined_identifier is not None
        by_udi = await client.organizations.get_by_user_defined_identifier(
            organization.user_defined_identifier
        )
        assert isinstance(by_udi, m.OrganizationWithBusinessCards)
        assert by_udi.organization_key == organization.organization_key
        with pytest.raises(ka.NotFoundError):
            await client.organizations.get("nope")
        with pytest.raises(ka.NotFoundError):
            await client.organizations.get_by_user_defined_identifier("nope")


@covers("getClientGroups", "getClientGroupByID", "getClientGroupByUDI")
async def test_client_groups_reads() -> None:
    async with fake_client() as (fake, client):
        items = [g async for g in client.client_groups.list()]
        assert items
        assert all(isinstance(g, m.ClientGroupSummary) for g in items)
        group = await client.client_groups.get(key(fake, "ClientGroups"))
        assert isinstance(group, m.ClientGroup)
        assert group.user_defined_identifier is not None
        by_udi = await client.client_groups.get_by_user_defined_identifier(
            group.user_defined_identifier
        )
        assert by_udi.client_group_key == group.client_group_key
        with pytest.raises(ka.NotFoundError):
            await client.client_groups.get("nope")
        with pytest.raises(ka.NotFoundError):
            await client.client_groups.get_by_user_defined_identifier("nope")


@covers("getAllWorkItems", "getWorkItemByID")
async def test_work_items_reads() -> None:
    async with fake_client() as (fake, client):
        items = [w async for w in client.work_items.list(filter=ka.F.PrimaryStatus == "InProgress")]
        assert all(w.primary_status == m.PrimaryStatus.IN_PROGRESS for w in items)
        work = await client.work_items.get(key(fake, "WorkItems"))
        assert isinstance(work, m.WorkItem)
        with pytest.raises(ka.NotFoundError):
            await client.work_items.get("nope")
        with pytest.raises(ka.BadRequestError):
            [w async for w in client.work_items.list(filter="NoSuchField eq 1")]


@covers("getAllUsers", "getUserById")
async def test_users_reads() -> None:
    async with fake_client() as (fake, client):
        users = [u async for u in client.users.list()]
        assert users
        assert all(isinstance(u, m.UserSummary) for u in users)
        user = await client.users.get(key(fake, "Users"))
        assert isinstance(user, m.User)
        with pytest.raises(ka.NotFoundError):
            await client.users.get("nope")


@covers("getTenantSettings")
async def test_tenant_settings_read_once_per_client() -> None:
    async with fake_client() as (fake, client):
        settings = await client.tenant_settings.get()
        assert isinstance(settings, m.TenantSettings)
        assert settings.work_types
        await client.tenant_settings.get()
        arrivals = len(fake.accounts[0].arrivals)
        assert arrivals == 1
        await client.tenant_settings.refresh()
        assert len(fake.accounts[0].arrivals) == 2


async def test_a_wrong_token_is_an_authentication_error() -> None:
    async with (
        fake_client() as (fake, _),
        ka.KarbonClient(bearer_token="wrong", access_key="wrong", base_url=fake.base_url) as client,
    ):
        with pytest.raises(ka.AuthenticationError):
            await client.tenant_settings.get()
