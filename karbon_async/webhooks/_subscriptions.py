"""Webhook subscriptions: validated before sending, kept alive across auto-cancellation."""

from __future__ import annotations

import asyncio
import contextlib
import enum
import ipaddress
import logging
import re
from collections.abc import Callable, Iterable
from typing import Any
from urllib.parse import urlsplit

import attrs

from .._exceptions import KarbonError, NotFoundError
from .._generated.models import (
    CreateWebhookSubscriptionRequest,
    WebhookSubscription,
    WebhookType,
)
from .._limits import Lane
from .._resources import ResourceSet
from .._retry import ALWAYS_FINAL

logger = logging.getLogger("karbon_async.webhooks")

MAX_TARGET_URL_LENGTH = 2000
MIN_SIGNING_KEY_LENGTH = 16
_SIGNING_KEY = re.compile(r"[A-Za-z0-9_-]+")
_LOOPBACK_NAMES = frozenset({"localhost"})


def _is_loopback(host: str) -> bool:
    if host.lower() in _LOOPBACK_NAMES:
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def validate_target_url(url: str, *, allow_insecure_loopback: bool = False) -> str:
    """Check a TargetUrl as Karbon does: at most 2000 characters, beginning with lowercase
    ``https://`` (case-sensitive), with a host. ``allow_insecure_loopback`` also admits
    ``http://`` to a loopback address, which only FakeKarbon accepts."""
    if not isinstance(url, str):
        raise TypeError("TargetUrl must be a str")
    if len(url) > MAX_TARGET_URL_LENGTH:
        raise ValueError(f"TargetUrl must be at most {MAX_TARGET_URL_LENGTH} characters")
    parts = urlsplit(url)
    if url.startswith("https://") and parts.hostname:
        return url
    if allow_insecure_loopback and url.startswith("http://") and _is_loopback(parts.hostname or ""):
        return url
    raise ValueError("TargetUrl must begin with https:// (lowercase) and name a host")


def validate_signing_key(key: str) -> str:
    """Check a SigningKey: at least 16 characters of letters, digits, ``-`` and ``_``."""
    if not isinstance(key, str):
        raise TypeError("SigningKey must be a str")
    if len(key) < MIN_SIGNING_KEY_LENGTH or _SIGNING_KEY.fullmatch(key) is None:
        # The message never includes the key.
        raise ValueError(
            f"SigningKey must be at least {MIN_SIGNING_KEY_LENGTH} characters of letters, "
            "digits, '-' and '_'"
        )
    return key


class SubscriptionAction(str, enum.Enum):
    UNCHANGED = "unchanged"
    """An active subscription with the same TargetUrl already existed."""
    CREATED = "created"
    """None existed (never created, deleted, or auto-cancelled): one was created."""
    REPLACED = "replaced"
    """One existed with another TargetUrl (or ``replace=True``): deleted, then created."""
    RECREATED = "recreated"
    """A subscription this process had ensured was gone (auto-cancelled after 10 failed
    deliveries, or deleted by someone else): created again. Only reported by
    :class:`SubscriptionKeeper`."""


@attrs.frozen
class EnsuredSubscription:
    webhook_type: WebhookType
    target_url: str
    action: SubscriptionAction
    subscription: WebhookSubscription | None = attrs.field(default=None, repr=False)


def _create_body(
    webhook_type: WebhookType, target_url: str, signing_key: str
) -> CreateWebhookSubscriptionRequest:
    if target_url.startswith("https://"):
        return CreateWebhookSubscriptionRequest(
            target_url=target_url, webhook_type=webhook_type, signing_key=signing_key
        )
    # An http:// loopback URL for FakeKarbon, already checked by validate_target_url.
    with attrs.validators.disabled():
        return CreateWebhookSubscriptionRequest(
            target_url=target_url, webhook_type=webhook_type, signing_key=signing_key
        )


async def get_subscription(
    client: ResourceSet, webhook_type: WebhookType | str
) -> WebhookSubscription | None:
    """The active subscription of ``webhook_type``, or None (404: none, or auto-cancelled)."""
    try:
        return await client.webhook_subscriptions.get(
            WebhookType(webhook_type).value, lane=Lane.INTERACTIVE
        )
    except NotFoundError:
        return None


async def ensure_subscription(
    client: ResourceSet,
    webhook_type: WebhookType | str,
    target_url: str,
    signing_key: str,
    *,
    replace: bool = False,
    allow_insecure_loopback: bool = False,
) -> EnsuredSubscription:
    """Make sure ``webhook_type`` is delivered to ``target_url``, signed with ``signing_key``.

    Karbon keeps one subscription per type and never returns the SigningKey, so an existing
    subscription with the same TargetUrl is kept as it is (pass ``replace=True`` after changing
    the key); one with another URL is deleted and created again. A 404 means there is none —
    including after Karbon auto-cancelled it following 10 failed deliveries — and one is created.
    URL and key are validated before anything is sent (``ValueError``).
    """
    kind = WebhookType(webhook_type)
    validate_target_url(target_url, allow_insecure_loopback=allow_insecure_loopback)
    validate_signing_key(signing_key)
    body = _create_body(kind, target_url, signing_key)
    current = await get_subscription(client, kind)
    if current is not None and current.target_url == target_url and not replace:
        return EnsuredSubscription(kind, target_url, SubscriptionAction.UNCHANGED, current)
    if current is not None:
        with contextlib.suppress(NotFoundError):  # already gone: fine
            await client.webhook_subscriptions.delete(kind.value, lane=Lane.INTERACTIVE)
        action = SubscriptionAction.REPLACED
    else:
        action = SubscriptionAction.CREATED
    created = await client.webhook_subscriptions.create(body, lane=Lane.INTERACTIVE)
    logger.info("webhook subscription %s %s", kind.value, action.value)
    return EnsuredSubscription(kind, target_url, action, created)


class SubscriptionKeeper:
    """Keeps subscriptions alive: ``await keeper.check()`` on a schedule (or ``keeper.run()``)
    re-creates any that Karbon auto-cancelled and reports them as ``RECREATED``.

    ::

        keeper = SubscriptionKeeper(client, ["Work", "Contact"], url, key,
                                    on_recreated=lambda ensured: start_catch_up_sync())
        asyncio.create_task(keeper.run(interval=300))

    A re-created subscription means deliveries were lost: catch up with an incremental sync
    (see the README's "Catching up after downtime").
    """

    def __init__(
        self,
        client: ResourceSet,
        webhook_types: Iterable[WebhookType | str],
        target_url: str,
        signing_key: str,
        *,
        on_recreated: Callable[[EnsuredSubscription], Any] | None = None,
        allow_insecure_loopback: bool = False,
    ) -> None:
        self.client = client
        self.webhook_types = [WebhookType(kind) for kind in webhook_types]
        self.target_url = validate_target_url(
            target_url, allow_insecure_loopback=allow_insecure_loopback
        )
        self.signing_key = validate_signing_key(signing_key)
        self.on_recreated = on_recreated
        self._allow_insecure = allow_insecure_loopback
        self._ensured: set[WebhookType] = set()

    def __repr__(self) -> str:  # never the key
        return f"SubscriptionKeeper(types={self.webhook_types!r}, target_url={self.target_url!r})"

    async def check(self) -> list[EnsuredSubscription]:
        results = []
        for kind in self.webhook_types:
            ensured = await ensure_subscription(
                self.client,
                kind,
                self.target_url,
                self.signing_key,
                allow_insecure_loopback=self._allow_insecure,
            )
            if ensured.action == SubscriptionAction.CREATED and kind in self._ensured:
                ensured = attrs.evolve(ensured, action=SubscriptionAction.RECREATED)
                logger.warning(
                    "webhook subscription %s had been cancelled (after 10 failed deliveries, "
                    "or deleted); re-created it",
                    kind.value,
                )
                if self.on_recreated is not None:
                    self.on_recreated(ensured)
            self._ensured.add(kind)
            results.append(ensured)
        return results

    async def run(self, interval: float = 300.0) -> None:
        """``check()`` every ``interval`` seconds until cancelled; a failed check is logged and
        the next one comes at its time. That schedule is the only repetition here: a check's
        requests were already retried by the client, and a POST that may have been processed
        is best checked by the next ``check()`` (which finds the subscription) rather than sent
        again. An error that would recur on every check (``UnsafeURLError``,
        ``ConfigurationError``: the retry module's ``ALWAYS_FINAL``) is raised instead."""
        while True:
            try:
                await self.check()
            except ALWAYS_FINAL:
                raise
            except KarbonError as error:
                logger.warning("webhook subscription check failed: %s", error)
            await asyncio.sleep(interval)
