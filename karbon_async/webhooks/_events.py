"""The webhook payload, typed: one model for Karbon's 9 payload schemas.

Every payload carries ``ResourcePermaKey``, ``ResourceType``, ``ActionType`` and ``TimeStamp``;
some add ``ClientKey``/``ClientType`` (CustomFieldValue, IntegrationTask), ``WorkItemKey``
(IntegrationTask) or ``ParentEntityType``/``ParentEntityKey`` (NoteComment). Resource types
really used in payloads: ``Contact`` (also for Organizations and ClientGroups), ``Work``,
``Note``, ``NoteComment``, ``User``, ``Invoice``, ``Estimate`` (EstimateSummary subscriptions),
``CustomFieldValue`` (CustomField subscriptions) and ``IntegrationTask``. Types and actions the
API adds later decode to pseudo-members (``is_known`` is False) instead of failing, and unknown
keys are kept in ``extra``.
"""

from __future__ import annotations

import datetime as dt
import json
import re
from collections.abc import Mapping
from typing import Any, Final

import attrs

from .._converter import structure
from .._exceptions import KarbonError
from .._generated.models import ClientType, WebhookActionType, WebhookResourceType, WebhookType
from .._model_base import KarbonModel, api_field


class InvalidPayloadError(KarbonError, ValueError):
    """A webhook body that is not a Karbon payload (not JSON, not an object, no key or type).

    ``reason`` is the short text a receiver answers and counts it by."""

    def __init__(self, message: str, *, reason: str = "invalid payload") -> None:
        super().__init__(message)
        self.reason = reason


MAX_NESTING_DEPTH: Final = 32
"""Karbon's payloads are flat objects. A body nested deeper is refused before it is decoded:
a few kilobytes of brackets would otherwise exhaust the decoder's recursion."""

_JSON_STRING = re.compile(rb'"(?:[^"\\]|\\.)*"', re.DOTALL)
_BRACKET = re.compile(rb"[\[\]{}]")


def _check_nesting(raw: bytes) -> None:
    depth = 0
    for bracket in _BRACKET.findall(_JSON_STRING.sub(b"", raw)):  # brackets in strings don't nest
        depth += 1 if bracket in (b"[", b"{") else -1
        if depth > MAX_NESTING_DEPTH:
            raise InvalidPayloadError(
                f"body nested deeper than {MAX_NESTING_DEPTH} levels",
                reason="payload nested too deeply",
            )


WEBHOOK_TYPE_OF: Final[Mapping[WebhookResourceType, WebhookType]] = {
    WebhookResourceType.CONTACT: WebhookType.CONTACT,
    WebhookResourceType.WORK: WebhookType.WORK,
    WebhookResourceType.NOTE: WebhookType.NOTE,
    WebhookResourceType.NOTE_COMMENT: WebhookType.NOTE,
    WebhookResourceType.USER: WebhookType.USER,
    WebhookResourceType.INVOICE: WebhookType.INVOICE,
    WebhookResourceType.ESTIMATE: WebhookType.ESTIMATE_SUMMARY,
    WebhookResourceType.CUSTOM_FIELD_VALUE: WebhookType.CUSTOM_FIELD,
    WebhookResourceType.INTEGRATION_TASK: WebhookType.INTEGRATION_TASK,
}
"""The subscription type (``WebhookType``) that delivers each payload ``ResourceType``."""

RESOURCE_ALIASES: Final[Mapping[str, WebhookResourceType]] = {
    "EstimateSummary": WebhookResourceType.ESTIMATE,
    "CustomField": WebhookResourceType.CUSTOM_FIELD_VALUE,
    "WorkItem": WebhookResourceType.WORK,
    "Comment": WebhookResourceType.NOTE_COMMENT,
}
"""Subscription-type (and API-path) spellings accepted where a payload ResourceType is expected."""


def _fold_name(value: str) -> str:
    return value.replace(" ", "").replace("_", "").casefold()


_FOLDED_ALIASES: Final = {_fold_name(name): member for name, member in RESOURCE_ALIASES.items()}


def resource_type(value: str | WebhookResourceType) -> WebhookResourceType:
    """A payload ResourceType from its name; subscription-type spellings (``EstimateSummary``,
    ``CustomField``) and ``WorkItem`` map to the names the payloads really use."""
    if isinstance(value, WebhookResourceType):
        return value
    alias = _FOLDED_ALIASES.get(_fold_name(value))
    return alias if alias is not None else WebhookResourceType(value)


@attrs.frozen(kw_only=True)
class WebhookEvent(KarbonModel):
    """One webhook notification: which resource changed, how, and when."""

    resource_perma_key: str
    """The key of the resource that changed (for ``Contact``: a Contact, Organization or
    ClientGroup key)."""
    resource_type: WebhookResourceType
    action_type: WebhookActionType
    timestamp: dt.datetime | None = api_field("TimeStamp", default=None)  # noqa: RUF009
    """When the resource was last altered (aware); absent in payloads from before 2024-08."""
    client_key: str | None = None
    client_type: ClientType | None = None
    work_item_key: str | None = None
    parent_entity_type: WebhookResourceType | None = None
    parent_entity_key: str | None = None

    @property
    def webhook_type(self) -> WebhookType | None:
        """The subscription type that delivers this event; None for an unknown resource type."""
        return WEBHOOK_TYPE_OF.get(self.resource_type)

    @property
    def resource_key(self) -> tuple[str, str]:
        """``(resource_type, resource_perma_key)``: what duplicates are collapsed by."""
        return (self.resource_type.value, self.resource_perma_key)

    def age(self, now: dt.datetime | None = None) -> float | None:
        """Seconds since ``timestamp`` (None when the payload has no timestamp)."""
        if self.timestamp is None:
            return None
        now = now or dt.datetime.now(dt.timezone.utc)
        return (now - self.timestamp).total_seconds()

    def is_stale(self, max_age: float, now: dt.datetime | None = None) -> bool:
        """True when ``timestamp`` is more than ``max_age`` seconds in the past."""
        age = self.age(now)
        return age is not None and age > max_age


def parse_event(raw_body: bytes | str | Mapping[str, Any]) -> WebhookEvent:
    """Decode a webhook body (verify its signature first) into a :class:`WebhookEvent`.

    Raises :class:`InvalidPayloadError` when the body is not a JSON object with a non-empty
    ``ResourcePermaKey``, ``ResourceType`` and ``ActionType``, or is nested deeper than
    ``MAX_NESTING_DEPTH``.
    """
    if isinstance(raw_body, Mapping):
        document: Any = raw_body
    else:
        _check_nesting(raw_body.encode() if isinstance(raw_body, str) else raw_body)
        try:
            document = json.loads(raw_body)
        except (ValueError, UnicodeDecodeError):
            raise InvalidPayloadError("body is not JSON") from None
    if not isinstance(document, Mapping):
        raise InvalidPayloadError("body is not a JSON object")
    for name in ("ResourcePermaKey", "ResourceType", "ActionType"):
        value = document.get(name)
        if not isinstance(value, str) or not value.strip():
            raise InvalidPayloadError(f"{name} is missing or not a non-empty string")
    try:
        return structure(document, WebhookEvent)
    except Exception:  # cattrs raises ExceptionGroups; their text may quote the body
        raise InvalidPayloadError("payload does not match the webhook schema") from None
