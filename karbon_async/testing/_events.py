"""Change events: what the fake tells webhook delivery (and tests) after each successful write."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Any

import attrs

from ._account import FakeAccount

__all__ = ["ChangeEvent", "ChangeListener"]


@attrs.frozen
class ChangeEvent:
    """One write the fake accepted, in webhook terms.

    ``webhook_type`` is the subscription type it would be delivered to ("Contact", "Work",
    "Note", "User", "Invoice", "CustomField", "IntegrationTask"); ``resource_type`` and
    ``action`` are the payload's ResourceType/ActionType ("NoteComment", "CustomFieldValue";
    "Inserted", "Updated", "Deleted"); ``extra`` holds the payload's additional properties
    (ParentEntityType/ParentEntityKey, ClientKey/ClientType, WorkItemKey).
    """

    account: FakeAccount
    webhook_type: str
    resource_type: str
    action: str
    key: str
    timestamp: datetime
    extra: dict[str, Any] = attrs.field(factory=dict)


ChangeListener = Callable[[ChangeEvent], None]
