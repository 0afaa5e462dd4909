"""Routing events to handlers, and fetching the record an event is about."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping
from typing import Any, Final, TypeVar

import attrs

from .._exceptions import NotFoundError
from .._generated.models import WebhookActionType, WebhookResourceType
from .._limits import Lane
from .._resources import ResourceSet
from ._events import WebhookEvent, resource_type

Handler = Callable[..., Awaitable[Any]]
"""``async def handler(event)``, or ``async def handler(event, record)`` when ``fetch=True``."""
Fetcher = Callable[[ResourceSet, WebhookEvent], Awaitable[Any]]
H = TypeVar("H", bound=Handler)

ANY: Final = "*"
"""Matches every resource type (or every action)."""


async def _contact(client: ResourceSet, event: WebhookEvent) -> Any:
    # One webhook type covers Contacts, Organizations and ClientGroups: try each in turn.
    key = event.resource_perma_key
    for get in (client.contacts.get, client.organizations.get, client.client_groups.get):
        try:
            return await get(key, lane=Lane.INTERACTIVE)
        except NotFoundError:
            continue
    return None


async def _custom_field_values(client: ResourceSet, event: WebhookEvent) -> Any:
    # The payload's key is the value's; the values are read per client (ClientKey).
    if not event.client_key:
        return None
    return await client.custom_field_values.get(event.client_key, lane=Lane.INTERACTIVE)


async def _estimate(client: ResourceSet, event: WebhookEvent) -> Any:
    # Estimate summaries are read per work item; the payload key is taken as that work item.
    return await client.estimate_summaries.list(event.resource_perma_key, lane=Lane.INTERACTIVE)


def _by_key(attribute: str) -> Fetcher:
    async def fetch(client: ResourceSet, event: WebhookEvent) -> Any:
        return await getattr(client, attribute).get(event.resource_perma_key, lane=Lane.INTERACTIVE)

    fetch.__name__ = f"fetch_{attribute}"
    return fetch


DEFAULT_FETCHERS: Final[Mapping[WebhookResourceType, Fetcher]] = {
    WebhookResourceType.CONTACT: _contact,
    WebhookResourceType.WORK: _by_key("work_items"),
    WebhookResourceType.NOTE: _by_key("notes"),
    WebhookResourceType.NOTE_COMMENT: _by_key("comments"),
    WebhookResourceType.USER: _by_key("users"),
    WebhookResourceType.INVOICE: _by_key("invoices"),
    WebhookResourceType.ESTIMATE: _estimate,
    WebhookResourceType.CUSTOM_FIELD_VALUE: _custom_field_values,
    WebhookResourceType.INTEGRATION_TASK: _by_key("integration_tasks"),
}
"""How each resource type's full record is fetched, always in the INTERACTIVE lane: Contact
tries Contacts, then Organizations, then ClientGroups; CustomFieldValue reads the values of
``ClientKey``; Estimate lists the estimate summaries of the key's work item."""


async def fetch_record(
    client: ResourceSet,
    event: WebhookEvent,
    fetchers: Mapping[WebhookResourceType, Fetcher] = DEFAULT_FETCHERS,
) -> Any:
    """The current record ``event`` is about, or None: for ``Deleted`` events, for types with
    no fetcher, and when the record is gone (404). Other errors propagate (and are retried)."""
    if event.action_type == WebhookActionType.DELETED:
        return None
    fetcher = fetchers.get(event.resource_type)
    if fetcher is None:
        return None
    try:
        return await fetcher(client, event)
    except NotFoundError:
        return None


@attrs.frozen
class Route:
    resource_type: WebhookResourceType | None
    """None: any resource type."""
    action: WebhookActionType | None
    """None: any action."""
    handler: Handler
    fetch: bool
    name: str

    def matches(self, event: WebhookEvent) -> bool:
        return (self.resource_type is None or self.resource_type == event.resource_type) and (
            self.action is None or self.action == event.action_type
        )


class Router:
    """Event handlers by resource type and action.

    ::

        router = Router()

        @router.on("Work", "Updated", fetch=True)
        async def work_changed(event: WebhookEvent, work_item: WorkItem | None) -> None: ...

        @router.on("Contact")            # every action
        async def contact_changed(event: WebhookEvent) -> None: ...

    With ``fetch=True`` the handler also receives the full record, fetched once per event in the
    limiter's INTERACTIVE lane (None for ``Deleted`` events and records that are gone). Every
    matching route runs, in registration order; ``fallback`` handlers receive events that no
    route matched (such as resource types the API adds later). Subscription-type spellings
    (``EstimateSummary``, ``CustomField``) are accepted for the payload names (``Estimate``,
    ``CustomFieldValue``).
    """

    def __init__(self, *, fetchers: Mapping[WebhookResourceType, Fetcher] | None = None) -> None:
        self.routes: list[Route] = []
        self.fallbacks: list[Handler] = []
        self.fetchers: dict[WebhookResourceType, Fetcher] = dict(fetchers or DEFAULT_FETCHERS)

    def add(
        self,
        resource: str | WebhookResourceType,
        action: str | WebhookActionType | None,
        handler: Handler,
        *,
        fetch: bool = False,
    ) -> Route:
        route = Route(
            resource_type=None if resource == ANY else resource_type(resource),
            action=None if action is None or action == ANY else WebhookActionType(action),
            handler=handler,
            fetch=fetch,
            name=getattr(handler, "__qualname__", repr(handler)),
        )
        self.routes.append(route)
        return route

    def on(
        self,
        resource: str | WebhookResourceType,
        action: str | WebhookActionType | None = None,
        *,
        fetch: bool = False,
    ) -> Callable[[H], H]:
        """Decorator: run the handler for events of ``resource`` (``"*"``: any) and ``action``
        (None: any)."""

        def register(handler: H) -> H:
            self.add(resource, action, handler, fetch=fetch)
            return handler

        return register

    def fallback(self, handler: H) -> H:
        """Decorator: ``async def handler(event)`` for events no route matched."""
        self.fallbacks.append(handler)
        return handler

    def match(self, event: WebhookEvent) -> list[Route]:
        routes = [route for route in self.routes if route.matches(event)]
        if routes:
            return routes
        return [
            Route(None, None, handler, False, getattr(handler, "__qualname__", repr(handler)))
            for handler in self.fallbacks
        ]

    async def fetch(self, client: ResourceSet, event: WebhookEvent) -> Any:
        """The record of ``event`` through this router's fetchers, in the INTERACTIVE lane."""
        return await fetch_record(client, event, self.fetchers)
