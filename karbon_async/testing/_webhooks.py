"""Webhook subscription endpoints (delivery of the notifications lives in ``_webhook_delivery``)."""

from __future__ import annotations

import re

from aiohttp import web

from karbon_async._generated.operations import OPERATIONS

from ._common import (
    Call,
    Reply,
    error,
    json_response,
    location,
    no_content,
)

__all__ = ["WEBHOOK_TYPES"]


WEBHOOK_TYPES = (
    "Contact", "CustomField", "Work", "Note", "User", "IntegrationTask", "Invoice",
    "EstimateSummary",
)  # fmt: skip


_SIGNING_KEY = re.compile(r"^[A-Za-z0-9_-]{16,}$")


def _webhook_type(raw: str, *, status: int) -> str:
    for name in WEBHOOK_TYPES:
        if name.lower() == raw.lower():
            return name
    raise Reply(
        status,
        error(
            "4004",
            f"No Webhook Type found for the provided WebhookType input value : {raw}. "
            "Valid WebhookTypes are Contact, Work, Note",
        ),
    )


def _loopback_http(url: str) -> bool:
    return bool(re.match(r"http://(127\.\d+\.\d+\.\d+|localhost|\[::1\])(:\d+)?(/|$)", url))


async def create_webhook(call: Call) -> web.StreamResponse:
    if not call.raw.strip() or call.raw.strip() == b"null":
        raise Reply(400, error("4002", "WebhookSubscription model cannot be null."))
    body = call.body("webhookSubscription")
    url, kind, signing = body.get("TargetUrl"), body.get("WebhookType"), body.get("SigningKey")
    if not isinstance(url, str) or not url or not isinstance(kind, str) or not kind:
        raise Reply(400, error("4005", "Required payload data is missing: webhookSubscription"))
    webhook_type = _webhook_type(kind, status=400)
    insecure_ok = call.fake.allow_insecure_webhooks and _loopback_http(url)
    if not url.startswith("https://") and not insecure_ok:
        raise Reply(400, error("4002", "Target URL must begin with https://"))
    if len(url) > 2000:
        raise Reply(400, error("4002", "Target URL must be at most 2000 characters"))
    if signing is not None and (not isinstance(signing, str) or not _SIGNING_KEY.match(signing)):
        raise Reply(
            400,
            error(
                "4002",
                "SigningKey must be at least 16 characters of letters, digits, '-' or '_'",
            ),
        )
    subscriptions = call.account.webhooks
    # Live replaces the type's subscription (see _live_behaviours "webhook-second-post"); the
    # quick reference's "delete it first" is advice, enforced only when spec-pedantic.
    if webhook_type in subscriptions and call.fake.spec_pedantic:
        raise Reply(
            400,
            error(
                "4002",
                f"A webhook subscription for {webhook_type} already exists. Delete it first.",
            ),
        )
    subscriptions[webhook_type] = {
        "TargetUrl": url,
        "WebhookType": webhook_type,
        "SigningKey": signing,
    }
    out = {
        "@odata.context": call.context("WebhookSubscriptions/$entity"),
        "TargetUrl": url,
        "WebhookType": webhook_type,
    }
    status = OPERATIONS["createWebhookSubscription"].success_status
    return json_response(status, out, headers=location(call, "WebhookSubscriptions", url))


async def get_webhook(call: Call) -> web.StreamResponse:
    webhook_type = _webhook_type(call.params["type"], status=404)
    sub = call.account.webhooks.get(webhook_type)
    if sub is None:
        raise Reply(404, error("4004", f"No existing webhook subscription for {webhook_type}"))
    out = {
        "@odata.context": call.context("WebhookSubscriptions/$entity"),
        "TargetUrl": sub["TargetUrl"],
        "WebhookType": webhook_type,
    }
    return json_response(200, out)


async def delete_webhook(call: Call) -> web.StreamResponse:
    webhook_type = _webhook_type(call.params["type"], status=404)
    if call.account.webhooks.pop(webhook_type, None) is None:
        raise Reply(404, error("4004", f"No existing webhook subscription for {webhook_type}"))
    return no_content()


async def delete_all_webhooks(call: Call) -> web.StreamResponse:
    call.account.webhooks.clear()
    return no_content()
