"""Routing events to handlers, and fetching the record an event is about."""

from __future__ import annotations

import difflib
import inspect
from collections.abc import Awaitable, Callable, Iterable, Mapping
from typing import Any, Final, TypeVar

import attrs

from .._exceptions import NotFoundError
from .._generated.models import WebhookActionType, WebhookResourceType
from .._limits import Lane
from .._resources import ResourceSet
from ._events import RESOURCE_ALIASES, WebhookEvent, resource_type

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
    no fetcher, and when the record is gone (404). Other errors propagate (the client has
    already retried them: the worker dead-letters the event)."""
    if event.action_type == WebhookActionType.DELETED:
        return None
    fetcher = fetchers.get(event.resource_type)
    if fetcher is None:
        return None
    try:
        return await fetcher(client, event)
    except NotFoundError:
        return None


# Names a reader may reach for that payloads never carry, with where such events arrive.
_RESOURCE_HINTS: Final[Mapping[str, str]] = {
    "organization": "Organizations arrive as 'Contact' events",
    "organisation": "Organizations arrive as 'Contact' events",
    "clientgroup": "ClientGroups arrive as 'Contact' events",
}


def _fold(value: str) -> str:
    return value.replace(" ", "").replace("_", "").replace("-", "").casefold()


def _closest(value: str, names: Iterable[str]) -> str | None:
    by_fold = {_fold(name): name for name in names}
    found = difflib.get_close_matches(_fold(value), by_fold, n=1, cutoff=0.6)
    return by_fold[found[0]] if found else None


def _unknown_name(what: str, value: str, names: Iterable[str], hint: str | None) -> ValueError:
    names = list(names)
    closest = _closest(value, names)
    advice = hint or (f"did you mean {closest!r}?" if closest else None)
    return ValueError(
        f"unknown webhook {what} {value!r}"
        + (f": {advice}" if advice else "")
        + f" (known: {', '.join(names)}, or {ANY!r} for any; allow_unknown=True accepts a"
        " name this SDK does not know yet)"
    )


def _resource(value: object, allow_unknown: bool) -> WebhookResourceType | None:
    if not isinstance(value, str):
        raise TypeError(f"resource must be a resource type name or {ANY!r}, not {value!r}")
    if value == ANY:
        return None
    if not value.strip():
        raise ValueError("resource must not be empty (use '*' for any resource type)")
    member = resource_type(value)
    if not member.is_known and not allow_unknown:
        names = [*(m.value for m in WebhookResourceType), *RESOURCE_ALIASES]
        raise _unknown_name(
            "resource type", value, names, _RESOURCE_HINTS.get(_fold(value).removesuffix("s"))
        )
    return member


def _action(value: object, allow_unknown: bool) -> WebhookActionType | None:
    if value is None or value == ANY:
        return None
    if not isinstance(value, str):
        raise TypeError(f"action must be an action name, {ANY!r} or None, not {value!r}")
    if not value.strip():
        raise ValueError("action must not be empty (use None or '*' for any action)")
    member = WebhookActionType(value)
    if not member.is_known and not allow_unknown:
        raise _unknown_name("action", value, (m.value for m in WebhookActionType), None)
    return member


def _is_async(handler: object) -> bool:
    # A coroutine function, a partial of one, or an object whose __call__ is one (read as a
    # bound method: callable() would not say whether it is async).
    call = getattr(handler, "__call__", None)  # noqa: B004
    return inspect.iscoroutinefunction(handler) or inspect.iscoroutinefunction(call)


def _name(handler: object) -> str:
    return getattr(handler, "__qualname__", None) or repr(handler)


def _check_handler(handler: object, *, fetch: bool = False) -> None:
    """Raise TypeError unless ``handler`` can be awaited as the worker will call it:
    ``await handler(event)``, or ``await handler(event, record)`` when ``fetch`` is true."""
    arguments = "(event, record)" if fetch else "(event)"
    if not callable(handler):
        raise TypeError(f"webhook handler must be an async function, not {handler!r}")
    if not _is_async(handler):
        raise TypeError(
            f"webhook handler {_name(handler)} must be an async function (async def, or an "
            f"object with an async __call__): it is called as await handler{arguments}"
        )
    try:
        signature = inspect.signature(handler)
    except (TypeError, ValueError):  # nothing to introspect (some C callables): trust it
        return
    signature = signature.replace(return_annotation=inspect.Signature.empty)
    try:
        signature.bind(*((None, None) if fetch else (None,)))
    except TypeError as error:
        if fetch:
            hint = "; with fetch=True it also receives the fetched record (None if none)"
        else:
            try:
                signature.bind(None, None)
                hint = "; pass fetch=True to receive the fetched record as well"
            except TypeError:
                hint = ""
        raise TypeError(
            f"webhook handler {_name(handler)}{signature} cannot be called as "
            f"handler{arguments}: {error}{hint}"
        ) from None


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

    Routes are checked when they are registered, so that a mistake fails at start-up rather
    than at the first event: the handler must be an async function (or an object whose
    ``__call__`` is one) that accepts ``(event)``, or ``(event, record)`` with ``fetch=True``
    (TypeError); resource types and actions must be names this SDK knows (ValueError that
    suggests the closest one). ``allow_unknown=True`` accepts a name Karbon added later.
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
        allow_unknown: bool = False,
    ) -> Route:
        """Register ``handler`` (checked as :class:`Router` describes) and return its route."""
        route = Route(
            resource_type=_resource(resource, allow_unknown),
            action=_action(action, allow_unknown),
            handler=handler,
            fetch=fetch,
            name=_name(handler),
        )
        _check_handler(handler, fetch=fetch)
        self.routes.append(route)
        return route

    def on(
        self,
        resource: str | WebhookResourceType,
        action: str | WebhookActionType | None = None,
        *,
        fetch: bool = False,
        allow_unknown: bool = False,
    ) -> Callable[[H], H]:
        """Decorator: run the handler for events of ``resource`` (``"*"``: any) and ``action``
        (None or ``"*"``: any). The names are checked at once, the handler when it is
        decorated."""
        # Checked before the decorator is applied, so a typo fails on the @router.on line.
        _resource(resource, allow_unknown)
        _action(action, allow_unknown)

        def register(handler: H) -> H:
            self.add(resource, action, handler, fetch=fetch, allow_unknown=allow_unknown)
            return handler

        return register

    def fallback(self, handler: H) -> H:
        """Decorator: ``async def handler(event)`` for events no route matched."""
        _check_handler(handler)
        self.fallbacks.append(handler)
        return handler

    def match(self, event: WebhookEvent) -> list[Route]:
        routes = [route for route in self.routes if route.matches(event)]
        if routes:
            return routes
        return [Route(None, None, handler, False, _name(handler)) for handler in self.fallbacks]

    async def fetch(self, client: ResourceSet, event: WebhookEvent) -> Any:
        """The record of ``event`` through this router's fetchers, in the INTERACTIVE lane."""
        return await fetch_record(client, event, self.fetchers)
