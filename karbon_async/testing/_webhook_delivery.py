"""Webhook delivery for FakeKarbon: what Karbon does after a subscribed resource changes.

After each successful write FakeKarbon tells its change listeners; this module is one. For an
account with a subscription of the change's WebhookType it:

* coalesces changes of the same resource: the notification is sent ``coalesce_window`` seconds
  after the last change (Karbon: 60 s; set it near 0 in tests), with the latest action, except
  that an ``Inserted`` followed by updates is still sent as ``Inserted``;
* POSTs ``{"ResourcePermaKey","ResourceType","ActionType","TimeStamp", ...extras}`` as JSON to
  the TargetUrl, signed with the stored SigningKey (header ``Signature``: lowercase hex
  HMAC-SHA256 of the raw body) when the subscription has one;
* delivers one notification at a time per subscription, retries a failure (no 2xx, a
  connection error or a timeout) after ``retry_delays[i]`` (the last delay repeats), and after
  ``max_failures`` (10) consecutive failures cancels the subscription, as Karbon does; a 2xx
  resets the count.

Loopback ``http://`` TargetUrls exist only because ``FakeKarbon(allow_insecure_webhooks=True)``
accepts them; Karbon itself requires https.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import hmac
import json
import logging
import time
from collections import deque
from collections.abc import Sequence
from datetime import datetime, timezone
from typing import Any, Protocol

import aiohttp
import attrs

__all__ = ["DEFAULT_RETRY_DELAYS", "DeliveryAttempt", "WebhookDelivery"]

_log = logging.getLogger("karbon_async.testing.webhooks")

DEFAULT_RETRY_DELAYS: tuple[float, ...] = (1.0, 2.0, 4.0, 8.0, 15.0, 30.0, 60.0, 120.0, 240.0)
"""Increasing delays between attempts (Karbon's own schedule is not documented)."""


class _Fake(Protocol):
    def add_change_listener(self, listener: Any) -> None: ...
    def remove_change_listener(self, listener: Any) -> None: ...
    def webhook_subscriptions(self, account: Any) -> dict[str, dict[str, str | None]]: ...
    def cancel_webhook_subscription(self, account: Any, webhook_type: str) -> bool: ...


@attrs.frozen
class DeliveryAttempt:
    """One POST the fake made (or tried to make) to a TargetUrl."""

    account: int
    webhook_type: str
    target_url: str
    body: bytes = attrs.field(repr=False)
    signature: str | None = attrs.field(repr=False)
    status: int | None
    """The receiver's status; None when the request failed (connection error, timeout)."""
    error: str | None
    attempt: int
    """1 for the first attempt of a notification, 2 for its first retry, ..."""
    at: float

    @property
    def ok(self) -> bool:
        return self.status is not None and 200 <= self.status < 300

    @property
    def headers(self) -> dict[str, str]:
        """The headers that were sent (to replay a delivery in a test)."""
        headers = {"Content-Type": "application/json"}
        if self.signature is not None:
            headers["Signature"] = self.signature
        return headers


def _format_timestamp(value: datetime) -> str:
    if value.tzinfo is None:
        value = value.replace(tzinfo=timezone.utc)
    return value.astimezone(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def _account_index(account: Any) -> int:
    index = getattr(account, "index", account)
    return int(index)


@attrs.define
class _Pending:
    account: Any
    webhook_type: str
    payload: dict[str, Any]
    timer: asyncio.TimerHandle | None = None


@attrs.define
class _Outbox:
    queue: deque[dict[str, Any]] = attrs.field(factory=deque)
    task: asyncio.Task[None] | None = None
    failures: int = 0


class WebhookDelivery:
    """Delivers FakeKarbon's change events to its webhook subscriptions (see the module doc).

    ``FakeKarbon`` starts one of these itself; standalone::

        async with WebhookDelivery(fake, coalesce_window=0.0, retry_delays=(0.05,)) as delivery:
            ...
            await delivery.wait_idle()
            delivery.attempts    # every POST made, with its body, signature and status
    """

    def __init__(
        self,
        fake: _Fake,
        *,
        retry_delays: Sequence[float] = DEFAULT_RETRY_DELAYS,
        coalesce_window: float = 60.0,
        max_failures: int = 10,
        timeout: float = 10.0,
    ) -> None:
        if not retry_delays or any(delay < 0 for delay in retry_delays):
            raise ValueError("retry_delays must be non-empty and non-negative")
        if coalesce_window < 0 or max_failures < 1 or timeout <= 0:
            raise ValueError("invalid coalesce_window, max_failures or timeout")
        self.fake = fake
        self.retry_delays = tuple(retry_delays)
        self.coalesce_window = coalesce_window
        self.max_failures = max_failures
        self.timeout = timeout
        self.attempts: deque[DeliveryAttempt] = deque(maxlen=100_000)
        self.cancelled: list[tuple[int, str]] = []
        """(account index, WebhookType) of every subscription auto-cancelled."""
        self._pending: dict[tuple[int, str, str, str], _Pending] = {}
        self._outboxes: dict[tuple[int, str], _Outbox] = {}
        self._accounts: dict[int, Any] = {}
        self._session: aiohttp.ClientSession | None = None
        self._idle = asyncio.Event()
        self._idle.set()

    # ------------------------------------------------------------------ lifecycle

    @property
    def running(self) -> bool:
        return self._session is not None

    async def start(self) -> None:
        if self._session is not None:
            return
        self._session = aiohttp.ClientSession(
            timeout=aiohttp.ClientTimeout(total=self.timeout), trust_env=False
        )
        self.fake.add_change_listener(self._on_change)

    async def close(self) -> None:
        """Stop delivering; notifications not yet delivered are dropped. Safe to call twice."""
        session, self._session = self._session, None
        if session is None:
            return
        self.fake.remove_change_listener(self._on_change)
        for pending in self._pending.values():
            if pending.timer is not None:
                pending.timer.cancel()
        self._pending.clear()
        tasks = [box.task for box in self._outboxes.values() if box.task is not None]
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        self._outboxes.clear()
        self._idle.set()
        await session.close()

    async def __aenter__(self) -> WebhookDelivery:
        await self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    async def wait_idle(self, timeout: float = 10.0) -> None:
        """Wait until nothing is waiting to be coalesced, queued or being delivered."""
        await asyncio.wait_for(self._idle.wait(), timeout)

    def _update_idle(self) -> None:
        busy = bool(self._pending) or any(
            box.queue or (box.task is not None and not box.task.done())
            for box in self._outboxes.values()
        )
        if busy:
            self._idle.clear()
        else:
            self._idle.set()

    # ------------------------------------------------------------------ intake

    def _on_change(self, event: Any) -> None:
        if self._session is None:
            return
        account = event.account
        index = _account_index(account)
        subscription = self.fake.webhook_subscriptions(account).get(event.webhook_type)
        if subscription is None:
            return
        self._accounts[index] = account
        payload: dict[str, Any] = {
            "ResourcePermaKey": event.key,
            "ResourceType": event.resource_type,
            "ActionType": event.action,
            "TimeStamp": _format_timestamp(event.timestamp),
            **dict(event.extra or {}),
        }
        slot = (index, event.webhook_type, event.resource_type, event.key)
        pending = self._pending.get(slot)
        if pending is None:
            pending = self._pending[slot] = _Pending(account, event.webhook_type, payload)
        else:
            first_action = pending.payload["ActionType"]
            pending.payload = payload
            if first_action == "Inserted" and payload["ActionType"] == "Updated":
                pending.payload["ActionType"] = "Inserted"
            if pending.timer is not None:
                pending.timer.cancel()  # Karbon sends after the changes stop
        loop = asyncio.get_running_loop()
        pending.timer = loop.call_later(self.coalesce_window, self._flush, slot)
        self._idle.clear()

    def _flush(self, slot: tuple[int, str, str, str]) -> None:
        pending = self._pending.pop(slot, None)
        if pending is None or self._session is None:
            self._update_idle()
            return
        key = (slot[0], pending.webhook_type)
        box = self._outboxes.setdefault(key, _Outbox())
        box.queue.append(pending.payload)
        if box.task is None or box.task.done():
            box.task = asyncio.get_running_loop().create_task(
                self._drain(key, box), name=f"fake-webhook-{key[0]}-{key[1]}"
            )
        self._update_idle()

    # ------------------------------------------------------------------ sending

    async def _drain(self, key: tuple[int, str], box: _Outbox) -> None:
        account_index, webhook_type = key
        account = self._accounts[account_index]
        try:
            while box.queue:
                payload = box.queue[0]
                attempt = 0
                while True:
                    subscription = self.fake.webhook_subscriptions(account).get(webhook_type)
                    if subscription is None:  # deleted or cancelled meanwhile
                        box.queue.clear()
                        box.failures = 0
                        break
                    attempt += 1
                    if await self._post(key, subscription, payload, attempt):
                        box.failures = 0
                        box.queue.popleft()
                        break
                    box.failures += 1
                    if box.failures >= self.max_failures:
                        self.fake.cancel_webhook_subscription(account, webhook_type)
                        self.cancelled.append(key)
                        _log.warning(
                            "fake webhook subscription %s of account %d cancelled after %d "
                            "consecutive failed deliveries",
                            webhook_type,
                            account_index,
                            box.failures,
                        )
                        box.queue.clear()
                        box.failures = 0
                        break
                    delay = self.retry_delays[min(attempt - 1, len(self.retry_delays) - 1)]
                    await asyncio.sleep(delay)
        finally:
            box.task = None
            self._update_idle()

    async def _post(
        self,
        key: tuple[int, str],
        subscription: dict[str, str | None],
        payload: dict[str, Any],
        attempt: int,
    ) -> bool:
        session = self._session
        url = subscription.get("TargetUrl") or ""
        signing_key = subscription.get("SigningKey")
        body = json.dumps(payload, separators=(",", ":")).encode()
        signature = (
            hmac.new(signing_key.encode(), body, hashlib.sha256).hexdigest()
            if signing_key
            else None
        )
        headers = {"Content-Type": "application/json"}
        if signature is not None:
            headers["Signature"] = signature
        status: int | None = None
        error: str | None = None
        if session is None:
            return False
        try:
            async with session.post(url, data=body, headers=headers) as response:
                status = response.status
                with contextlib.suppress(aiohttp.ClientError):
                    await response.read()
        except (aiohttp.ClientError, asyncio.TimeoutError, OSError, ValueError) as failure:
            error = f"{type(failure).__name__}: {failure}"
        record = DeliveryAttempt(
            account=key[0],
            webhook_type=key[1],
            target_url=url,
            body=body,
            signature=signature,
            status=status,
            error=error,
            attempt=attempt,
            at=time.monotonic(),
        )
        self.attempts.append(record)
        return record.ok
