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
import random
import time
import uuid
from collections import deque
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote

from aiohttp import web

from karbon_async._limits import RateLimit

from ._data import COLLECTIONS, AccountData, CollectionDef, CollectionStore, Record
from ._odata import ODataError, compile_filter, parse_orderby, sort_records
from ._ratelimit import SlidingWindow, max_in_window

__all__ = ["FakeAccount", "FakeKarbon", "Fault", "FaultKind", "FaultRule"]

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


class _Reply(Exception):
    """Raised inside dispatch to answer immediately with a JSON error."""

    def __init__(self, status: int, body: Any) -> None:
        super().__init__(status)
        self.status = status
        self.body = body


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
        self.unauthenticated = 0
        """Requests rejected with 401 (they are not attributed to any account)."""
        self.total_requests = 0

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

    async def close(self) -> None:
        """Stop serving; pending latency/delay sleeps end at once. Safe to call twice."""
        runner, self._runner = self._runner, None
        if runner is None:
            return
        self._closing.set()
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
    ) -> FaultRule:
        """Make the next ``count`` matching requests fail with ``fault`` (None: all of them).

        Matching is on account index (None: any), HTTP method (None: any) and a path prefix
        such as "/v3/Contacts" (None: any). Rules are tried in the order they were added and
        at most one applies per request; window-rejected requests never consume a fault.
        """
        rule = FaultRule(fault, account, method.upper() if method else None, path, count)
        self._faults.append(rule)
        return rule

    def clear_faults(self) -> None:
        """Remove every registered fault."""
        self._faults.clear()

    def collection(self, account: int | FakeAccount, name: str) -> CollectionStore:
        """The expected data: ``fake.collection(0, "Contacts").get(key)``, ``.count``, ..."""
        acct = account if isinstance(account, FakeAccount) else self.accounts[account]
        return acct.collection(name)

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
        await self._apply_latency()
        if fault is not None:
            if fault.kind is FaultKind.RATE_LIMITED:
                account.rejected_429 += 1
                return _rate_limited(fault.retry_after)
            if fault.kind is FaultKind.STATUS:
                if fault.status_code == 429:
                    account.rejected_429 += 1
                return _json(fault.status_code, fault.body)
            if fault.kind is FaultKind.DISCONNECT:
                return await self._disconnect(request)
            if fault.kind is FaultKind.DELAY:
                await self._sleep(fault.seconds)
        response = self._respond(request, account)
        if fault is not None and fault.kind is FaultKind.MALFORMED_JSON:
            body = response.body if isinstance(response.body, bytes) else b'{"value":[{"x":1}]}'
            cut = body[: max(1, len(body) // 2)]
            return web.Response(status=200, body=cut, headers={"Content-Type": _ODATA_JSON})
        return response

    async def _disconnect(self, request: web.Request) -> web.StreamResponse:
        """Drop the connection after reading the request, without a status line."""
        await request.read()
        transport = request.transport
        if transport is not None:
            transport.abort()
        # aiohttp cannot send this on an aborted transport; it only completes the handler.
        return web.Response(status=500)

    def _respond(self, request: web.Request, account: FakeAccount) -> web.Response:
        try:
            return self._dispatch(request, account)
        except _Reply as reply:
            return _json(reply.status, reply.body)

    def _dispatch(self, request: web.Request, account: FakeAccount) -> web.Response:
        path = request.path
        if not path.lower().startswith("/v3/"):
            raise self._no_resource(request)
        rest = path[4:].rstrip("/")
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
            return self._get_single(request, store, key)
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
                name = item.strip()
                if name not in definition.expand:
                    raise _Reply(
                        400,
                        _error(
                            "4002",
                            f"Could not find a property named '{name}' on type "
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
        self._check_options(request, _LIST_OPTIONS)
        top = definition.max_top
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
        with_count = True
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
                items = [definition.summary(r) for r in map(store.record_at, store.iter_indexes())]
                if filter_text is not None:
                    predicate = compile_filter(
                        filter_text,
                        store.fields,
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
                page = [definition.summary(r) for r in store.page(skip, top)]
        except ODataError as exc:
            raise _Reply(400, _error("4002", str(exc))) from exc
        if definition.list_item_type is not None:
            page = [{"@odata.type": definition.list_item_type, **item} for item in page]
        body: dict[str, Any] = {"@odata.context": f"{self.base_url}/v3/{definition.list_context}"}
        if with_count:
            body["@odata.count"] = total
        body["value"] = page
        if page and skip + top < total:
            body["@odata.nextLink"] = self._next_link(request, definition, skip + top, top)
        return _json(200, body, odata=True)

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
