"""Which resources a client has: the declarations, one line per operation."""

from __future__ import annotations

from ._generated import models as m
from ._limits import Lane
from ._resource import GetEndpoint, ListEndpoint, Resource
from ._sender import RequestSender


class Contacts(Resource):
    """People (a "Person" in Karbon's UI)."""

    list = ListEndpoint("/v3/Contacts", m.ContactSummary, operation_id="getAllContacts")
    get = GetEndpoint("/v3/Contacts/{key}", m.ResponseCreateContact, operation_id="getContactByID")


class Organizations(Resource):
    list = ListEndpoint(
        "/v3/Organizations", m.OrganizationSummary, operation_id="getAllOrganizations"
    )
    get = GetEndpoint(
        "/v3/Organizations/{key}", m.OrganizationWithContacts, operation_id="getOrganizationByID"
    )


class WorkItems(Resource):
    list = ListEndpoint("/v3/WorkItems", m.WorkItemSummary, operation_id="getAllWorkItems")
    get = GetEndpoint("/v3/WorkItems/{key}", m.WorkItem, operation_id="getWorkItemByID")


class Users(Resource):
    list = ListEndpoint("/v3/Users", m.GetSingleUser, operation_id="getAllUsers")
    get = GetEndpoint("/v3/Users/{key}", m.GetUserById, operation_id="getUserById")


class ResourceSet:
    """The resources, as attributes; ``KarbonClient`` is one, ``with_options`` returns one."""

    def __init__(self, sender: RequestSender, *, lane: Lane | None = None) -> None:
        self._sender = sender
        self.contacts = Contacts(sender, lane=lane)
        self.organizations = Organizations(sender, lane=lane)
        self.work_items = WorkItems(sender, lane=lane)
        self.users = Users(sender, lane=lane)
