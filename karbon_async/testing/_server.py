"""``FakeKarbon``: a real HTTP server that behaves like Karbon API v3 for tests and benchmarks.

The SDK's promises are about the wire (never exceed the rate limit at arrival, retry the right
failures, page every record exactly once), so they are tested against a real socket, not mocks.
The fake records every arrival with ``time.monotonic()`` the moment the request reaches the
handler, judges it against an exact sliding window, and only then applies configured latency
and faults, so its timestamps are what a real server would see.

What answers which path is one table, ``_routes.ROUTES``; paths it does not name are the
generic entity-set GETs of ``_entity_sets``.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
import time
from collections import deque
from collections.abc import Iterable, Mapping
from datetime import datetime, timezone
from typing import Any

from aiohttp import web

from karbon_async._limits import RateLimit

from . import _files
from ._account import LOG_LIMIT, FakeAccount, StoredFile
from ._common import ODATA_JSON, Call, Reply, error, json_response
from ._contract import check_request
from ._data import COLLECTIONS, AccountData
from ._entity_sets import check_options, get_entity_set, no_resource, require_get
from ._events import ChangeEvent, ChangeListener
from ._faults import Fault, FaultKind, FaultRule
from ._keys import b64url
from ._routes import ROUTES
from ._store import CollectionStore
from ._webhook_delivery import DEFAULT_RETRY_DELAYS, WebhookDelivery

__all__ = ["FakeKarbon"]

_log = logging.getLogger(__name__)
_DEFAULT_LIMIT = RateLimit()

_WRITE_METHODS = frozenset({"POST", "PUT", "PATCH", "DELETE"})
_CONFLICT_BODY = error(
    "4020", "The resource was modified by another request. Refetch the latest version and retry."
)


def _rate_limited(retry_after: int) -> web.Response:
    body = {
        "statusCode": "429",
        "message": f"Rate limit is exceeded. Try again in {retry_after} seconds.",
    }
    return json_response(429, body, headers={"Retry-After": str(retry_after)}, odata=False)


class FakeKarbon:
    """An embedded fake Karbon API v3 server on a random local port.

    Use it as ``async with FakeKarbon(accounts=2) as fake:`` (or ``await fake.start()`` and
    ``await fake.close()``), point the client at ``fake.base_url`` with an account's
    ``bearer_token``/``access_key``, and assert on ``fake.accounts[i].arrivals``.
    """

    def __init__(
        self,
        accounts: int = 1,
        *,
        rate_limit: RateLimit | None = _DEFAULT_LIMIT,
        latency: tuple[float, float] | None = None,
        seed: int = 0,
        size: int = 200,
        sizes: Mapping[str, int] | None = None,
        host: str = "127.0.0.1",
        port: int = 0,
        allow_insecure_webhooks: bool = False,
        download_token_ttl: float = 60.0,
        webhook_retry_delays: Iterable[float] = DEFAULT_RETRY_DELAYS,
        webhook_coalesce_window: float = 60.0,
        strict: bool = True,
        spec_pedantic: bool = False,
    ) -> None:
        if accounts < 1:
            raise ValueError(f"accounts must be at least 1, got {accounts}")
        if latency is not None and not 0 <= latency[0] <= latency[1]:
            raise ValueError(f"latency must be (low, high) with 0 <= low <= high, got {latency}")
        if size < 0:
            raise ValueError(f"size must be non-negative, got {size}")
        unknown = set(sizes or ()) - set(COLLECTIONS)
        if unknown:
            raise ValueError(f"unknown collections in sizes: {sorted(unknown)}")
        self.rate_limit = rate_limit
        self.latency = latency
        self.seed = seed
        self.size = size
        self.host = host
        self._port = port
        rng = random.Random(f"karbon-fake-credentials:{seed}")
        self.accounts: list[FakeAccount] = [
            FakeAccount(i, AccountData(seed, i, size, sizes), rng, rate_limit)
            for i in range(accounts)
        ]
        self._by_token = {a.bearer_token: a for a in self.accounts}
        self._latency_rng = random.Random(f"karbon-fake-latency:{seed}")
        self._faults: list[FaultRule] = []
        self._runner: web.AppRunner | None = None
        self._closing = asyncio.Event()
        self.base_url = ""
        self.strict = strict
        """Answer 400 to requests live Karbon refuses, and to those the spec forbids where no
        live evidence says otherwise (see ``_contract``); False: accept them."""
        self.spec_pedantic = spec_pedantic
        """Also refuse what the spec or Karbon's guides forbid but live Karbon was seen to
        accept (the "accepted" rows of ``_live_behaviours``: explicit nulls, free-text labels,
        numeric strings, a second webhook subscription for a type)."""
        self.allow_insecure_webhooks = allow_insecure_webhooks
        """Accept http:// loopback webhook TargetUrls (for tests that run a local receiver)."""
        self.download_token_ttl = download_token_ttl
        self.download_base_url = ""
        """Origin of the second server that serves file bytes behind the 302 of Download."""
        self._download_runner: web.AppRunner | None = None
        self._download_tokens: dict[str, tuple[float, FakeAccount, str]] = {}
        self._token_rng = random.Random(f"karbon-fake-tokens:{seed}")
        self._fault_rng = random.Random(f"karbon-fake-faults:{seed}")
        self._listeners: list[ChangeListener] = []
        self.events: deque[ChangeEvent] = deque(maxlen=LOG_LIMIT)
        """Recent change events (what webhook delivery would be told), oldest first."""
        self.unauthenticated = 0
        """Requests rejected with 401 (they are not attributed to any account)."""
        self.total_requests = 0
        self.webhook_delivery = WebhookDelivery(
            self, retry_delays=tuple(webhook_retry_delays), coalesce_window=webhook_coalesce_window
        )
        """POSTs signed webhooks to subscribed TargetUrls (see ``_webhook_delivery``)."""

    # -- lifecycle
    async def start(self) -> None:
        """Bind the port and start serving; ``base_url`` is valid afterwards."""
        if self._runner is not None:
            raise RuntimeError("FakeKarbon is already started")
        app = web.Application()
        app.router.add_route("*", "/{tail:.*}", self._handle)
        runner = web.AppRunner(app, access_log=None, shutdown_timeout=1.0)
        await runner.setup()
        try:
            site = web.TCPSite(runner, self.host, self._port)
            await site.start()
        except BaseException:
            await runner.cleanup()
            raise
        self._runner = runner
        host, port = runner.addresses[0][:2]
        self.base_url = f"http://{host}:{port}"
        downloads = web.Application()
        downloads.router.add_get("/files/{token}", self._serve_download)
        download_runner = web.AppRunner(downloads, access_log=None, shutdown_timeout=1.0)
        await download_runner.setup()
        try:
            await web.TCPSite(download_runner, self.host, 0).start()
        except BaseException:
            await download_runner.cleanup()
            await self.close()
            raise
        self._download_runner = download_runner
        dhost, dport = download_runner.addresses[0][:2]
        self.download_base_url = f"http://{dhost}:{dport}"
        await self.webhook_delivery.start()

    async def close(self) -> None:
        """Stop serving; pending latency/delay sleeps end at once. Safe to call twice."""
        runner, self._runner = self._runner, None
        if runner is None:
            return
        self._closing.set()
        await self.webhook_delivery.close()
        downloads, self._download_runner = self._download_runner, None
        if downloads is not None:
            await downloads.cleanup()
        await runner.cleanup()

    async def __aenter__(self) -> FakeKarbon:
        await self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    # -- test helpers
    def add_fault(
        self,
        fault: Fault,
        *,
        account: int | None = None,
        count: int | None = 1,
        method: str | None = None,
        path: str | None = None,
        rate: float = 1.0,
    ) -> FaultRule:
        """Make the next ``count`` matching requests fail with ``fault`` (None: all of them).

        With ``rate`` below 1 only that seeded-random fraction of matching requests is hit
        (``count`` then counts hits), e.g. ``add_fault(Fault.status(503), count=None,
        rate=0.1)`` fails about 10% of all requests, reproducibly for a given seed.

        Matching is on account index (None: any), HTTP method (None: any) and a path prefix
        such as "/v3/Contacts" (None: any). Rules are tried in the order they were added and
        at most one applies per request; window-rejected requests never consume a fault.
        """
        if not 0.0 <= rate <= 1.0:
            raise ValueError(f"rate must be within [0, 1], got {rate}")
        rule = FaultRule(fault, account, method.upper() if method else None, path, count)
        rule.rate = rate
        self._faults.append(rule)
        return rule

    def clear_faults(self) -> None:
        """Remove every registered fault."""
        self._faults.clear()

    def collection(self, account: int | FakeAccount, name: str) -> CollectionStore:
        """The expected data: ``fake.collection(0, "Contacts").get(key)``, ``.count``, ..."""
        acct = account if isinstance(account, FakeAccount) else self.accounts[account]
        return acct.collection(name)

    def add_change_listener(self, listener: ChangeListener) -> None:
        """Call ``listener(event)`` after every successful write (see :class:`ChangeEvent`)."""
        self._listeners.append(listener)

    def remove_change_listener(self, listener: ChangeListener) -> None:
        """Stop calling ``listener``; unknown listeners are ignored."""
        with contextlib.suppress(ValueError):
            self._listeners.remove(listener)

    def webhook_subscriptions(self, account: int | FakeAccount) -> dict[str, dict[str, str | None]]:
        """An account's subscriptions: type -> {"TargetUrl", "WebhookType", "SigningKey"}."""
        acct = account if isinstance(account, FakeAccount) else self.accounts[account]
        return {k: dict(v) for k, v in acct.webhooks.items()}

    def cancel_webhook_subscription(self, account: int | FakeAccount, webhook_type: str) -> bool:
        """Drop a subscription as Karbon does after 10 failed deliveries; False if none."""
        acct = account if isinstance(account, FakeAccount) else self.accounts[account]
        return acct.webhooks.pop(webhook_type, None) is not None

    def add_note_comment(
        self, account: int | FakeAccount, note_key: str, body: str, author_key: str | None = None
    ) -> str:
        """Add a comment to a note (Karbon's API has no endpoint for it); returns its key."""
        acct = account if isinstance(account, FakeAccount) else self.accounts[account]
        notes = acct.data.store("Notes")
        index = notes.index_of(note_key)
        if index is None:
            raise KeyError(note_key)
        users = acct.data.store("Users")
        comments = acct.data.store("Comments")
        now = datetime.now(timezone.utc)
        key = comments.create(
            {
                "CommentTypeKey": note_key,
                "CommentBody": body,
                "CreatedDate": f"{now:%Y-%m-%dT%H:%M:%S}Z",
                "AuthorKey": author_key or (users.key_of(0) if users.base_size else None),
            }
        )
        note = dict(notes.record_at(index))
        note["Comments"] = [*note.get("Comments", []), {"CommentKey": key}]
        notes.put(note_key, note)
        self.record_change(
            acct, "Note", "NoteComment", "Inserted", key,
            {"ParentEntityType": "Note", "ParentEntityKey": note_key},
        )  # fmt: skip
        return key

    def record_change(
        self,
        account: FakeAccount,
        webhook_type: str,
        resource_type: str,
        action: str,
        key: str,
        extra: dict[str, Any],
    ) -> None:
        event = ChangeEvent(
            account, webhook_type, resource_type, action, key, datetime.now(timezone.utc), extra
        )
        self.events.append(event)
        for listener in list(self._listeners):
            try:
                listener(event)
            except Exception:
                _log.exception("FakeKarbon change listener %r failed", listener)

    # -- downloads
    def mint_download_token(self, account: FakeAccount, file_key: str) -> str:
        now = time.monotonic()
        for token, (expires, _, _) in list(self._download_tokens.items()):
            if expires < now:
                del self._download_tokens[token]
        token = b64url(self._token_rng.randbytes(24))
        self._download_tokens[token] = (now + self.download_token_ttl, account, file_key)
        return token

    def resolve_download_token(self, token: str) -> tuple[FakeAccount, StoredFile] | None:
        entry = self._download_tokens.get(token)
        if entry is None or entry[0] < time.monotonic():
            return None
        account, key = entry[1], entry[2]
        f = account.files.get(key)
        return None if f is None else (account, f)

    async def _serve_download(self, request: web.Request) -> web.StreamResponse:
        found = self.resolve_download_token(request.match_info["token"])
        if found is None:
            return json_response(
                403, error("4001", "Attachment token could not be validated."), odata=False
            )
        return _files.file_response(found[1])

    @property
    def collections(self) -> Iterable[str]:
        """Names of the collections the fake serves."""
        return tuple(COLLECTIONS)

    # -- request pipeline
    async def _sleep(self, seconds: float) -> None:
        if seconds <= 0 or self._closing.is_set():
            return
        with contextlib.suppress(asyncio.TimeoutError):
            await asyncio.wait_for(self._closing.wait(), seconds)

    async def _apply_latency(self) -> None:
        if self.latency is not None:
            low, high = self.latency
            await self._sleep(self._latency_rng.uniform(low, high))

    def _authenticate(self, request: web.Request) -> FakeAccount | str:
        auth = request.headers.get("Authorization")
        key = request.headers.get("AccessKey")
        if not auth or not key:
            return "JWT not present."
        scheme, _, token = auth.partition(" ")
        account = self._by_token.get(token.strip()) if scheme.lower() == "bearer" else None
        if account is None or account.access_key != key.strip():
            return "Invalid credentials"
        return account

    def _take_fault(self, account: int, method: str, path: str) -> Fault | None:
        for rule in self._faults:
            if rule.matches(account, method, path):
                if rule.rate < 1.0 and self._fault_rng.random() >= rule.rate:
                    continue
                if rule.remaining is not None:
                    rule.remaining -= 1
                rule.hits += 1
                return rule.fault
        return None

    async def _handle(self, request: web.Request) -> web.StreamResponse:
        now = time.monotonic()
        self.total_requests += 1
        account = self._authenticate(request)
        if isinstance(account, str):
            self.unauthenticated += 1
            await self._apply_latency()
            return json_response(
                401, {"error": {"statusCode": "401", "message": account}}, odata=False
            )
        account.arrivals.append(now)
        account.requests += 1
        account.request_log.append((now, request.method, request.path_qs))
        retry_after = account.admit(now)
        if retry_after is not None:
            account.rejected_429 += 1
            await self._apply_latency()
            return _rate_limited(retry_after)
        fault = self._take_fault(account.index, request.method, request.path)
        lock = request.path.rstrip("/").lower() if request.method in _WRITE_METHODS else None
        conflicted = lock is not None and not account.begin_write(lock)
        try:
            return await self._finish(request, account, fault, conflicted)
        finally:
            if lock is not None and not conflicted:
                account.end_write(lock)

    async def _finish(
        self, request: web.Request, account: FakeAccount, fault: Fault | None, conflicted: bool
    ) -> web.StreamResponse:
        """Latency, faults and the answer, while a write holds its record's lock."""
        await self._apply_latency()
        if conflicted and request.method in ("PUT", "PATCH", "DELETE"):
            return json_response(409, _CONFLICT_BODY, odata=False)
        if fault is not None:
            if fault.kind is FaultKind.RATE_LIMITED:
                account.rejected_429 += 1
                return _rate_limited(fault.retry_after)
            if fault.kind is FaultKind.STATUS:
                if fault.status_code == 429:
                    account.rejected_429 += 1
                    retry = {"Retry-After": str(fault.retry_after)}
                    return json_response(429, fault.body, headers=retry, odata=False)
                return json_response(fault.status_code, fault.body, odata=False)
            if fault.kind is FaultKind.DISCONNECT:
                return await self._disconnect(request)
            if fault.kind is FaultKind.DELAY:
                await self._sleep(fault.seconds)
        response = await self._respond(request, account)
        if fault is not None and fault.kind is FaultKind.TRUNCATE:
            return await self._truncate(request, response)
        if fault is not None and fault.kind is FaultKind.MALFORMED_JSON:
            raw = response.body if isinstance(response, web.Response) else None
            body = raw if isinstance(raw, bytes) else b'{"value":[{"x":1}]}'
            cut = body[: max(1, len(body) // 2)]
            return web.Response(status=200, body=cut, headers={"Content-Type": ODATA_JSON})
        return response

    async def _truncate(
        self, request: web.Request, response: web.StreamResponse
    ) -> web.StreamResponse:
        """Send status, headers and half the body of ``response``, then close the socket."""
        body = response.body if isinstance(response, web.Response) else None
        data = body if isinstance(body, bytes) else b'{"value":[]}'
        stream = web.StreamResponse(status=response.status, headers=response.headers)
        stream.content_length = len(data)
        await stream.prepare(request)
        await stream.write(data[: len(data) // 2])
        transport = request.transport
        if transport is not None:
            transport.close()
        return stream

    async def _disconnect(self, request: web.Request) -> web.StreamResponse:
        """Drop the connection after reading the request, without a status line."""
        await request.read()
        transport = request.transport
        if transport is not None:
            transport.abort()
        # aiohttp cannot send this on an aborted transport; it only completes the handler.
        return web.Response(status=500)

    async def _respond(self, request: web.Request, account: FakeAccount) -> web.StreamResponse:
        try:
            return await self._dispatch(request, account)
        except Reply as reply:
            return json_response(reply.status, reply.body, odata=False)

    async def _dispatch(self, request: web.Request, account: FakeAccount) -> web.StreamResponse:
        path = request.path
        if not path.lower().startswith("/v3/"):
            raise no_resource(request)
        rest = path[4:].rstrip("/")
        if self.strict:
            json_body = request.method in ("POST", "PUT", "PATCH") and not (
                request.content_type.startswith("multipart/")
            )
            raw = await request.read() if json_body else None
            refused = check_request(
                request.method,
                rest,
                str(request.url),
                request.headers,
                raw,
                live=not self.spec_pedantic,
            )
            if refused is not None:
                raise refused
        method_matched = False
        for r in ROUTES:
            m = r.pattern.match(rest)
            if m is None:
                continue
            method_matched = True
            if r.method == request.method or (r.method == "GET" and request.method == "HEAD"):
                if request.method == "GET":
                    check_options(request, frozenset())
                raw = b""
                if request.method in (
                    "POST",
                    "PUT",
                    "PATCH",
                ) and not request.content_type.startswith("multipart/"):
                    raw = await request.read()
                return await r.handler(Call(self, account, request, m.groupdict(), raw))
        if method_matched and request.method != "GET":
            require_get(request)
        return get_entity_set(request, account, rest, self.base_url)
