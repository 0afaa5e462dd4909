"""``FakeKarbon``: a real HTTP server that behaves like Karbon API v3 for tests and benchmarks.

The SDK's promises are about the wire (never exceed the rate limit at arrival, retry the right
failures, page every record exactly once), so they are tested against a real socket, not mocks.
The fake records every arrival with ``time.monotonic()`` the moment the request reaches the
handler, judges it against an exact sliding window, and only then applies configured latency
and faults, so its timestamps are what a real server would see.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import enum
import json
import logging
import random
import time
import uuid
from collections import deque
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any
from urllib.parse import quote

from aiohttp import web

from karbon_async._limits import RateLimit

from ._api import ROUTES, Call, Reply, StoredFile, file_response
from ._data import COLLECTIONS, AccountData, CollectionDef, CollectionStore, Record
from ._events import ChangeEvent, ChangeListener
from ._odata import ODataError, compile_filter, parse_orderby, sort_records
from ._ratelimit import SlidingWindow, max_in_window
from ._webhook_delivery import DEFAULT_RETRY_DELAYS, WebhookDelivery

__all__ = ["FakeAccount", "FakeKarbon", "Fault", "FaultKind", "FaultRule"]

_log = logging.getLogger(__name__)
_DEFAULT_LIMIT = RateLimit()
_LOG_LIMIT = 100_000
_ODATA_JSON = (
    "application/json; odata.metadata=minimal; odata.streaming=true; "
    "IEEE754Compatible=false; charset=utf-8"
)
_PLAIN_JSON = "application/json; charset=utf-8"
_LIST_OPTIONS = frozenset({"$top", "$skip", "$filter", "$orderby", "$count"})
_SINGLE_OPTIONS = frozenset({"$expand"})
_OPTION_NAMES = {"orderby": "OrderBy", "skiptoken": "SkipToken", "deltatoken": "DeltaToken"}


# --------------------------------------------------------------------------- faults


class FaultKind(enum.Enum):
    """What a :class:`Fault` does to the request it hits."""

    STATUS = "status"
    RATE_LIMITED = "rate_limited"
    DISCONNECT = "disconnect"
    DELAY = "delay"
    MALFORMED_JSON = "malformed_json"
    TRUNCATE = "truncate"


def _error(code: str, message: str) -> dict[str, Any]:
    return {"error": {"code": code, "message": message}}


def _default_fault_body(status: int) -> Any:
    """The body Karbon sends with ``status``, so a fault looks like the real failure."""
    if status == 401:
        return {"error": {"statusCode": "401", "message": "JWT not present."}}
    if status == 404:
        return _error("4004", "Not Found")
    if status == 409:
        return _error(
            "4020",
            "The resource was modified by another request. Refetch the latest version and retry.",
        )
    if status == 429:
        return {"statusCode": "429", "message": "Rate limit is exceeded. Try again in 1 seconds."}
    if 400 <= status < 500:
        return _error("4002", "Bad Request")
    return _error(
        "5001",
        "Unexpected Internal Error. Please contact Karbon HQ Technical support with API Request "
        "Id of 63792674374107265425.",
    )


@dataclass(frozen=True)
class Fault:
    """A failure to inject; build one with the class methods, register it with ``add_fault``."""

    kind: FaultKind
    status_code: int = 200
    body: Any = None
    retry_after: int = 1
    seconds: float = 0.0

    @classmethod
    def status(cls, status: int = 500, body: Any = None) -> Fault:
        """Answer ``status`` with Karbon's body for it (5xx: the 5001 body) or ``body``."""
        return cls(
            FaultKind.STATUS, status, body if body is not None else _default_fault_body(status)
        )

    @classmethod
    def rate_limited(cls, retry_after: int = 1) -> Fault:
        """A gateway 429 with ``Retry-After``, whatever the sliding window says."""
        return cls(FaultKind.RATE_LIMITED, 429, retry_after=retry_after)

    @classmethod
    def disconnect(cls) -> Fault:
        """Read the request, then drop the connection without answering."""
        return cls(FaultKind.DISCONNECT)

    @classmethod
    def delay(cls, seconds: float) -> Fault:
        """Wait ``seconds`` before answering normally (to trigger client timeouts)."""
        return cls(FaultKind.DELAY, seconds=seconds)

    @classmethod
    def conflict(cls) -> Fault:
        """Karbon's 409 for a write that lost an optimistic-concurrency race (code 4020)."""
        return cls.status(409)

    @classmethod
    def truncate(cls) -> Fault:
        """Send the real status and headers (full Content-Length), half the body, then close."""
        return cls(FaultKind.TRUNCATE)

    @classmethod
    def malformed_json(cls) -> Fault:
        """Answer 200 with the real body cut in half, as a broken proxy might."""
        return cls(FaultKind.MALFORMED_JSON)


@dataclass
class FaultRule:
    """A registered fault and what it matches; ``remaining`` counts down (None: forever)."""

    fault: Fault
    account: int | None
    method: str | None
    path: str | None
    remaining: int | None
    hits: int = 0
    rate: float = 1.0
    """Fraction of matching requests hit (drawn from the fake's seeded RNG)."""

    def matches(self, account: int, method: str, path: str) -> bool:
        if self.remaining is not None and self.remaining <= 0:
            return False
        if self.account is not None and self.account != account:
            return False
        if self.method is not None and self.method != method:
            return False
        return self.path is None or path.startswith(self.path)


# --------------------------------------------------------------------------- accounts


def _b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


class FakeAccount:
    """One Karbon tenant of the fake: its credentials, its data and what arrived for it."""

    def __init__(
        self, index: int, data: AccountData, rng: random.Random, rate_limit: RateLimit | None
    ) -> None:
        self.index = index
        self.data = data
        self.name = f"{data.firm} ({index})"
        self.bearer_token = str(uuid.UUID(int=rng.getrandbits(128), version=4))
        header = _b64url(b'{"alg":"HS256","typ":"JWT"}')
        claims = json.dumps({"tenant": data.tenant_key, "app": f"fake-{index}"}).encode()
        self.access_key = f"{header}.{_b64url(claims)}.{_b64url(rng.randbytes(32))}"
        self.rate_limit = rate_limit
        self._window = (
            SlidingWindow(rate_limit.requests, rate_limit.per) if rate_limit is not None else None
        )
        self.arrivals: list[float] = []
        """``time.monotonic()`` of every request that arrived for this account, in order."""
        self.requests = 0
        self.rejected_429 = 0
        """429s sent to this account: window rejections and injected rate-limit faults."""
        self.request_log: deque[tuple[float, str, str]] = deque(maxlen=_LOG_LIMIT)
        """(monotonic time, method, path with query) of recent requests."""
        self.webhooks: dict[str, dict[str, str | None]] = {}
        self.custom_field_values: dict[str, list[dict[str, Any]]] = {}
        self.files: dict[str, StoredFile] = {}
        self._writing: set[str] = set()

    @property
    def headers(self) -> dict[str, str]:
        """The two headers every request for this account must carry."""
        return {"Authorization": f"Bearer {self.bearer_token}", "AccessKey": self.access_key}

    def max_in_window(self, per: float | None = None) -> int:
        """Most arrivals (accepted or not) in any window ``(t - per, t]``.

        ``per`` defaults to the fake's rate-limit period. A client that keeps this at or under
        the limit never caused a 429 by itself.
        """
        if per is None:
            per = self.rate_limit.per if self.rate_limit is not None else 60.0
        return max_in_window(self.arrivals, per)

    def collection(self, name: str) -> CollectionStore:
        """This account's data for collection ``name`` (e.g. "Contacts")."""
        return self.data.store(name)

    def __repr__(self) -> str:
        return f"FakeAccount(index={self.index}, name={self.name!r}, requests={self.requests})"


# --------------------------------------------------------------------------- server


_Reply = Reply
_WRITE_METHODS = frozenset({"POST", "PUT", "PATCH", "DELETE"})
_CONFLICT_BODY = _error(
    "4020", "The resource was modified by another request. Refetch the latest version and retry."
)


def _json(
    status: int, body: Any, *, odata: bool = False, headers: Mapping[str, str] | None = None
) -> web.Response:
    text = json.dumps(body, ensure_ascii=False, separators=(",", ":"))
    headers = {**(headers or {}), "Content-Type": _ODATA_JSON if odata else _PLAIN_JSON}
    return web.Response(status=status, body=text.encode(), headers=headers)


def _rate_limited(retry_after: int) -> web.Response:
    body = {
        "statusCode": "429",
        "message": f"Rate limit is exceeded. Try again in {retry_after} seconds.",
    }
    return _json(429, body, headers={"Retry-After": str(retry_after)})


def _option_error(name: str) -> _Reply:
    bare = name.lstrip("$")
    pretty = _OPTION_NAMES.get(bare.lower(), bare[:1].upper() + bare[1:])
    return _Reply(
        400,
        _error(
            "4002",
            f"Query option '{pretty}' is not allowed. To allow it, set the "
            "'AllowedQueryOptions' property on EnableQueryAttribute or QueryValidationSettings.",
        ),
    )


def _expand_name(requested: str, allowed: frozenset[str]) -> str | None:
    """Resolve an ``$expand`` item; Karbon's own examples mix "BusinessCard" and
    "BusinessCards" across entities, so either spelling is accepted."""
    for name in (requested, requested + "s", requested.removesuffix("s")):
        if name in allowed:
            return name
    return None


def _non_negative(name: str, raw: str) -> int:
    if not raw.isdigit():
        raise _Reply(
            400,
            _error(
                "4002",
                f"Invalid value '{raw}' for {name} query option found. The {name} query option "
                "requires a non-negative integer value.",
            ),
        )
    return int(raw)


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
        self.events: deque[ChangeEvent] = deque(maxlen=_LOG_LIMIT)
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
        self._emit(
            acct, "Note", "NoteComment", "Inserted", key,
            {"ParentEntityType": "Note", "ParentEntityKey": note_key},
        )  # fmt: skip
        return key

    def _emit(
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
    def _mint_download_token(self, account: FakeAccount, file_key: str) -> str:
        now = time.monotonic()
        for token, (expires, _, _) in list(self._download_tokens.items()):
            if expires < now:
                del self._download_tokens[token]
        token = _b64url(self._token_rng.randbytes(24))
        self._download_tokens[token] = (now + self.download_token_ttl, account, file_key)
        return token

    def _resolve_download_token(self, token: str) -> tuple[FakeAccount, StoredFile] | None:
        entry = self._download_tokens.get(token)
        if entry is None or entry[0] < time.monotonic():
            return None
        account, key = entry[1], entry[2]
        f = account.files.get(key)
        return None if f is None else (account, f)

    async def _serve_download(self, request: web.Request) -> web.StreamResponse:
        found = self._resolve_download_token(request.match_info["token"])
        if found is None:
            return _json(403, _error("4001", "Attachment token could not be validated."))
        return file_response(found[1])

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
            return _json(401, {"error": {"statusCode": "401", "message": account}})
        account.arrivals.append(now)
        account.requests += 1
        account.request_log.append((now, request.method, request.path_qs))
        window = account._window
        if window is not None:
            retry_after = window.admit(now)
            if retry_after is not None:
                account.rejected_429 += 1
                await self._apply_latency()
                return _rate_limited(retry_after)
        fault = self._take_fault(account.index, request.method, request.path)
        lock = request.path.rstrip("/").lower() if request.method in _WRITE_METHODS else None
        conflicted = lock is not None and lock in account._writing
        if lock is not None and not conflicted:
            account._writing.add(lock)
        try:
            return await self._finish(request, account, fault, conflicted)
        finally:
            if lock is not None and not conflicted:
                account._writing.discard(lock)

    async def _finish(
        self, request: web.Request, account: FakeAccount, fault: Fault | None, conflicted: bool
    ) -> web.StreamResponse:
        """Latency, faults and the answer, while a write holds its record's lock."""
        await self._apply_latency()
        if conflicted and request.method in ("PUT", "PATCH", "DELETE"):
            return _json(409, _CONFLICT_BODY)
        if fault is not None:
            if fault.kind is FaultKind.RATE_LIMITED:
                account.rejected_429 += 1
                return _rate_limited(fault.retry_after)
            if fault.kind is FaultKind.STATUS:
                if fault.status_code == 429:
                    account.rejected_429 += 1
                    retry = {"Retry-After": str(fault.retry_after)}
                    return _json(429, fault.body, headers=retry)
                return _json(fault.status_code, fault.body)
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
            return web.Response(status=200, body=cut, headers={"Content-Type": _ODATA_JSON})
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
        except _Reply as reply:
            return _json(reply.status, reply.body)

    async def _dispatch(self, request: web.Request, account: FakeAccount) -> web.StreamResponse:
        path = request.path
        if not path.lower().startswith("/v3/"):
            raise self._no_resource(request)
        rest = path[4:].rstrip("/")
        method_matched = False
        for r in ROUTES:
            m = r.pattern.match(rest)
            if m is None:
                continue
            method_matched = True
            if r.method == request.method or (r.method == "GET" and request.method == "HEAD"):
                if request.method == "GET":
                    self._check_options(request, frozenset())
                raw = b""
                if request.method in (
                    "POST",
                    "PUT",
                    "PATCH",
                ) and not request.content_type.startswith("multipart/"):
                    raw = await request.read()
                return await r.handler(Call(self, account, request, m.groupdict(), raw))
        if method_matched and request.method != "GET":
            self._require_get(request)
        head, _, tail = rest.partition("/")
        key: str | None = None
        if not tail and head.endswith("')") and "('" in head:
            head, _, quoted = head.partition("('")
            key = quoted[:-2].replace("''", "'")
        if head.lower() == "tenantsettings" and not tail and key is None:
            self._require_get(request)
            self._check_options(request, frozenset())
            body = {"@odata.context": f"{self.base_url}/v3/$metadata#TenantSettings/$entity"}
            body.update(account.data.tenant_settings())
            return _json(200, body, odata=True)
        definition = next((d for d in COLLECTIONS.values() if d.name.lower() == head.lower()), None)
        if definition is None or "/" in tail:
            raise self._no_resource(request)
        self._require_get(request)
        store = account.data.store(definition.name)
        if tail and definition.udi_function and tail.startswith(definition.udi_function + "("):
            return self._get_by_udi(request, store, tail)
        if tail:
            key = tail
        if key is not None:
            if not store.is_key_shaped(key):
                raise _Reply(400, _error("4002", "Provided key must be a valid GUID."))
            return self._get_single(request, store, key)
        if not definition.listable:
            raise self._no_resource(request)
        return self._get_list(request, store)

    def _no_resource(self, request: web.Request) -> _Reply:
        return _Reply(
            404,
            _error(
                "4002",
                f"No HTTP resource was found that matches the request URI '{request.url}'.",
            ),
        )

    @staticmethod
    def _require_get(request: web.Request) -> None:
        if request.method not in ("GET", "HEAD"):
            raise _Reply(
                405,
                _error(
                    "4002",
                    f"The requested resource does not support http method '{request.method}'.",
                ),
            )

    @staticmethod
    def _check_options(request: web.Request, allowed: frozenset[str]) -> None:
        for name in request.query:
            if name.startswith("$") and name.lower() not in allowed:
                raise _option_error(name)

    # -- single records
    def _single_body(self, request: web.Request, store: CollectionStore, record: Record) -> Any:
        definition = store.definition
        self._check_options(request, _SINGLE_OPTIONS)
        expand: set[str] = set()
        raw = request.query.get("$expand")
        if raw is not None:
            for item in raw.split(","):
                requested = item.strip()
                name = _expand_name(requested, definition.expand)
                if name is None:
                    raise _Reply(
                        400,
                        _error(
                            "4002",
                            f"Could not find a property named '{requested}' on type "
                            f"'KarbonService.{(definition.single_type or '.').split('.', 1)[1]}'.",
                        ),
                    )
                expand.add(name)
        body: dict[str, Any] = {"@odata.context": f"{self.base_url}/v3/{definition.single_context}"}
        if definition.single_type:
            body["@odata.type"] = definition.single_type
        for name, value in record.items():
            if name in definition.expand and name not in expand:
                continue
            body[name] = value
        return body

    def _get_single(self, request: web.Request, store: CollectionStore, key: str) -> web.Response:
        index = store.index_of(key)
        if index is None:
            raise _Reply(404, _error("4004", store.definition.not_found(key)))
        return _json(200, self._single_body(request, store, store.record_at(index)), odata=True)

    def _get_by_udi(self, request: web.Request, store: CollectionStore, tail: str) -> web.Response:
        definition = store.definition
        inner = tail[len(definition.udi_function or "") + 1 :]
        prefix = "UserDefinedIdentifier='"
        if not inner.endswith("')") or not inner.startswith(prefix):
            raise self._no_resource(request)
        udi = inner[len(prefix) : -2].replace("''", "'")
        if not udi.strip():
            raise _Reply(400, _error("4002", "UserDefinedIdentifier is missing or empty"))
        record = store.find_udi(udi)
        if record is None:
            raise _Reply(
                404,
                _error(
                    "4004", f"No {definition.udi_entity} found for provided UserDefinedIdentifer"
                ),
            )
        return _json(200, self._single_body(request, store, record), odata=True)

    # -- lists
    def _get_list(self, request: web.Request, store: CollectionStore) -> web.Response:
        definition = store.definition
        query = request.query
        allowed = _LIST_OPTIONS if definition.paged else frozenset({"$filter", "$orderby"})
        if definition.list_expand:
            allowed |= _SINGLE_OPTIONS
        self._check_options(request, allowed)
        expand = self._list_expand(request, definition)
        top = definition.max_top if definition.paged else max(1, store.count)
        if "$top" in query:
            top = _non_negative("$top", query["$top"])
            if top > definition.max_top:
                raise _Reply(
                    400,
                    _error(
                        "4002",
                        f"The limit of '{definition.max_top}' for Top query has been exceeded. "
                        f"The value from the incoming request is '{query['$top']}'.",
                    ),
                )
        skip = _non_negative("$skip", query["$skip"]) if "$skip" in query else 0
        with_count = definition.count_default
        if "$count" in query:
            raw_count = query["$count"].lower()
            if raw_count not in ("true", "false"):
                raise _Reply(
                    400, _error("4002", f"'{query['$count']}' is not a valid count option.")
                )
            with_count = raw_count == "true"
        filter_text = query.get("$filter")
        orderby_text = query.get("$orderby")
        try:
            if filter_text is not None or orderby_text is not None:
                items = [store.summary_at(i) for i in store.iter_indexes()]
                if filter_text is not None:
                    predicate = compile_filter(
                        filter_text,
                        definition.filter_fields or store.fields,
                        definition.filter_type,
                        definition.case_insensitive,
                    )
                    items = [i for i in items if predicate(i)]
                if orderby_text is not None:
                    clauses = parse_orderby(orderby_text, definition.orderby)
                    items = sort_records(items, clauses, definition.key_field)
                total = len(items)
                page = items[skip : skip + top]
            else:
                total = store.count
                page = store.page(skip, top)
        except ODataError as exc:
            raise _Reply(400, _error("4002", str(exc))) from exc
        if expand:
            page = [
                dict(item)
                | {n: (store.get(item[definition.key_field]) or {}).get(n) for n in expand}
                for item in page
            ]
        if definition.list_item_type is not None:
            page = [{"@odata.type": definition.list_item_type, **item} for item in page]
        body: dict[str, Any] = {"@odata.context": f"{self.base_url}/v3/{definition.list_context}"}
        if with_count:
            body["@odata.count"] = total
        body[definition.envelope] = page
        if definition.paged and page and skip + top < total:
            body["@odata.nextLink"] = self._next_link(request, definition, skip + top, top)
        return _json(200, body, odata=True)

    def _list_expand(self, request: web.Request, definition: CollectionDef) -> list[str]:
        raw = request.query.get("$expand")
        if raw is None:
            return []
        names = []
        for item in raw.split(","):
            name = _expand_name(item.strip(), definition.expand)
            if name is None:
                raise _Reply(
                    400,
                    _error(
                        "4002",
                        f"Could not find a property named '{item.strip()}' on type "
                        f"'KarbonService.{definition.filter_type}'.",
                    ),
                )
            names.append(name)
        return names

    def _next_link(
        self, request: web.Request, definition: CollectionDef, skip: int, top: int
    ) -> str:
        params = [
            (name, value)
            for name, value in request.query.items()
            if name not in ("$skip", "$top") and name.startswith("$")
        ]
        params += [("$top", str(top)), ("$skip", str(skip))]
        qs = "&".join(f"{name}={quote(value, safe=chr(39) + '(),:')}" for name, value in params)
        return f"{self.base_url}/v3/{definition.name}?{qs}"
