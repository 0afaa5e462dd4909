"""Karbon webhooks: subscriptions, signature verification, typed events and a worker.

::

    from karbon_async import webhooks as wh

    router = wh.Router()

    @router.on("Work", "Updated", fetch=True)
    async def work_updated(event: wh.WebhookEvent, work_item: WorkItem | None) -> None: ...

    async with (
        ka.KarbonClient.from_env() as client,
        wh.WebhookWorker(router, client=client) as worker,
    ):
        await wh.ensure_subscription(client, "Work", "https://example.com/hooks/karbon", KEY)
        receiver = wh.WebhookReceiver(KEY, worker)
        app.add_subapp("/hooks/karbon/", receiver.aiohttp_app())   # or receiver.receive(...)

Karbon signs the raw body (lowercase hex HMAC-SHA256 keyed with the SigningKey, header
``Signature``), coalesces changes over 60 seconds, retries a failing endpoint 10 times and then
cancels the subscription.
"""

from .._generated.models import WebhookActionType, WebhookResourceType, WebhookType
from ._events import (
    MAX_NESTING_DEPTH,
    RESOURCE_ALIASES,
    WEBHOOK_TYPE_OF,
    InvalidPayloadError,
    WebhookEvent,
    parse_event,
    resource_type,
)
from ._receiver import (
    DEFAULT_LOG_INTERVAL,
    DEFAULT_MAX_AGE,
    DEFAULT_MAX_BODY_SIZE,
    DEFAULT_MAX_FUTURE_SKEW,
    EventSink,
    ReceiveResult,
    WebhookReceiver,
    aiohttp_handler,
)
from ._router import ANY, DEFAULT_FETCHERS, Fetcher, Handler, Route, Router, fetch_record
from ._seen import MemorySeenStore, RedisSeenStore, SeenStore
from ._signature import (
    SIGNATURE_HEADER,
    InvalidSignatureError,
    compute_signature,
    verify_signature,
)
from ._subscriptions import (
    EnsuredSubscription,
    SubscriptionAction,
    SubscriptionKeeper,
    ensure_subscription,
    get_subscription,
    validate_signing_key,
    validate_target_url,
)
from ._worker import DeadLetter, SubmitOutcome, WebhookWorker, WorkerStats, merge_events

__all__ = [
    "ANY",
    "DEFAULT_FETCHERS",
    "DEFAULT_LOG_INTERVAL",
    "DEFAULT_MAX_AGE",
    "DEFAULT_MAX_BODY_SIZE",
    "DEFAULT_MAX_FUTURE_SKEW",
    "MAX_NESTING_DEPTH",
    "RESOURCE_ALIASES",
    "SIGNATURE_HEADER",
    "WEBHOOK_TYPE_OF",
    "DeadLetter",
    "EnsuredSubscription",
    "EventSink",
    "Fetcher",
    "Handler",
    "InvalidPayloadError",
    "InvalidSignatureError",
    "MemorySeenStore",
    "ReceiveResult",
    "RedisSeenStore",
    "Route",
    "Router",
    "SeenStore",
    "SubmitOutcome",
    "SubscriptionAction",
    "SubscriptionKeeper",
    "WebhookActionType",
    "WebhookEvent",
    "WebhookReceiver",
    "WebhookResourceType",
    "WebhookType",
    "WebhookWorker",
    "WorkerStats",
    "aiohttp_handler",
    "compute_signature",
    "ensure_subscription",
    "fetch_record",
    "get_subscription",
    "merge_events",
    "parse_event",
    "resource_type",
    "validate_signing_key",
    "validate_target_url",
    "verify_signature",
]
