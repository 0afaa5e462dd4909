"""Test support for karbon_async: an embedded fake Karbon API v3 server.

::

    from karbon_async.testing import FakeKarbon, Fault

    async with FakeKarbon(accounts=2, seed=7, size=500) as fake:
        acct = fake.accounts[0]
        ...  # talk to fake.base_url with acct.bearer_token / acct.access_key
        assert acct.max_in_window() <= 120

Nothing here is imported by the SDK itself; it exists so the SDK (and code built on it) can be
tested against real HTTP with Karbon's rate limit, paging, OData options, error bodies and
injected failures.
"""

from __future__ import annotations

from ._account import FakeAccount
from ._chaos import DeliveryChaos
from ._events import ChangeEvent
from ._faults import Fault, FaultKind, FaultRule
from ._odata import ODataError
from ._server import FakeKarbon
from ._store import CollectionStore
from ._webhook_delivery import DeliveryAttempt, WebhookDelivery

__all__ = [
    "ChangeEvent",
    "CollectionStore",
    "DeliveryChaos",
    "DeliveryAttempt",
    "FakeAccount",
    "FakeKarbon",
    "Fault",
    "FaultKind",
    "FaultRule",
    "ODataError",
    "WebhookDelivery",
]
