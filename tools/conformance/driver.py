"""Drive every operation through the SDK against one running Prism, and judge each exchange.

A request is valid when Prism flags nothing about it: no ``sl-violations`` entry located in the
request, and no 4xx answer. A response is decoded when the SDK's method returned without error,
returned the model the operation documents, and re-encoding it keeps every key of the body
Prism sent (the SDK keeps unknown keys, so a lost key is a decoding defect).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import AsyncIterator, Callable
from typing import Any
from urllib.parse import urlsplit

import attrs
from spec_check import missing_keys

import karbon_async as ka

from .limits import as_spec_names, orderby_typos, schema_errors, tighten
from .operations import CALLS, Call, Kind, bound_method
from .spec import Spec

# Plausible credentials: Prism checks that both security headers are present.
BEARER_TOKEN = "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJjb25mb3JtYW5jZSJ9.c2lnbmF0dXJl"
ACCESS_KEY = "eyJhbGciOiJIUzI1NiJ9.eyJ0ZW5hbnQiOiJjb25mb3JtYW5jZSJ9.c2lnbmF0dXJl"
FALLBACK_KEY = "3Nb8jKpL5tQR"
CALL_TIMEOUT = 30.0
UPLOAD_BYTES = b"conformance upload\n"


@attrs.frozen
class Exchange:
    method: str
    url: str
    status: int
    headers: dict[str, str]
    body: bytes | None
    """None for a streamed response (its body went to the SDK's caller)."""

    def violations(self) -> list[dict[str, Any]]:
        raw = next((v for k, v in self.headers.items() if k.lower() == "sl-violations"), None)
        return parse_violations(raw)


def parse_violations(raw: str | None) -> list[dict[str, Any]]:
    """Prism's ``sl-violations`` header: a JSON list of {location, severity, code, message}."""
    if not raw:
        return []
    try:
        parsed = json.loads(raw)
    except ValueError:
        return [{"location": ["?"], "message": raw}]
    return [v for v in parsed if isinstance(v, dict)] if isinstance(parsed, list) else []


def describe_violation(violation: dict[str, Any]) -> str:
    location = ".".join(str(part) for part in violation.get("location") or [])
    return f"{location}: {violation.get('message', '')}".strip()


class RecordingTransport:
    """The SDK's own aiohttp transport, with every exchange recorded. Requests go out exactly
    as the SDK built them: Prism answers its lowest 2xx unasked, so no ``Prefer: code=``
    header is needed."""

    def __init__(self, base_url: str) -> None:
        self._inner = ka.AiohttpTransport()
        self._origin = urlsplit(base_url).netloc
        self.exchanges: list[Exchange] = []

    def _checked(self, request: ka.Request) -> ka.Request:
        # Prism's links and redirects may name Karbon's production host: nothing leaves
        # this machine (the SDK sees a connection failure, as it would offline).
        if urlsplit(request.url).netloc != self._origin:
            raise ka.ConnectError(
                "not sent: the conformance run talks only to the Prism server",
                method=request.method,
                url=request.url,
            )
        return request

    async def send(
        self, request: ka.Request, *, before_resend: Callable[[], Any] | None = None
    ) -> ka.Response:
        response = await self._inner.send(self._checked(request), before_resend=before_resend)
        self.exchanges.append(
            Exchange(
                request.method, request.url, response.status, dict(response.headers), response.body
            )
        )
        return response

    @contextlib.asynccontextmanager
    async def stream(self, request: ka.Request) -> AsyncIterator[ka.StreamedResponse]:
        async with self._inner.stream(self._checked(request)) as response:
            self.exchanges.append(
                Exchange(request.method, request.url, response.status, dict(response.headers), None)
            )
            yield response

    async def aclose(self) -> None:
        await self._inner.aclose()


@attrs.define
class Outcome:
    operation_id: str
    method: str
    variant: str = ""
    """The query options of a variant call (``orderby='FullName desc'``); "" for the plain one."""
    request_valid: bool = False
    decoded: bool = False
    problems: list[str] = attrs.field(factory=list)
    """What Prism flagged or what failed to decode; empty when both checks passed."""
    notes: list[str] = attrs.field(factory=list)
    """Findings about the spec or Prism itself (e.g. its response violations): not failures."""
    limit: str | None = None
    """Why this row is a known limit of Prism, when it is."""
    excused: str | None = None
    """Why the SDK rightly refused the body Prism sent, when it did: ``spec: ...`` (the body
    breaks the operation's own response schema) or ``sdk: ...`` (it breaks only the SDK's
    documented tightening of it, see ``limits.tighten``)."""

    @property
    def passed(self) -> bool:
        return self.request_valid and self.decoded

    @property
    def label(self) -> str:
        return f"{self.operation_id} [{self.variant}]" if self.variant else self.operation_id


QUERY_OPTIONS = {"$orderby": "orderby", "$expand": "expand", "$count": "count"}
"""Query parameters whose values the spec enumerates -> the SDK's keyword for them."""


def variants(spec: Spec, call: Call) -> list[dict[str, Any]]:
    """Keyword options to call ``call`` with, one set per value the spec enumerates for its
    ``$orderby``, ``$expand`` and ``$count`` parameters, so Prism checks how the SDK writes
    each one."""
    if call.kind not in (Kind.LIST, Kind.GET):
        return []
    found: list[dict[str, Any]] = []
    typos = orderby_typos(spec, call.operation_id)
    for param in spec.parameters(call.operation_id):
        keyword = QUERY_OPTIONS.get(param.get("name", ""))
        if param.get("in") != "query" or keyword is None:
            continue
        schema = spec.deref(param.get("schema") or {})
        if schema.get("type") == "boolean":
            found.append({keyword: True})
        for value in schema.get("enum") or []:
            if keyword == "orderby" and value in typos:
                continue  # a spec defect, listed by limits.orderby_typos
            found.append({keyword: value.split(",") if keyword == "expand" else value})
    return found


def path_key(spec: Spec, operation_id: str) -> str:
    """The key to put in the operation's path: the spec's example, else a plausible one."""
    return spec.parameter_example(operation_id, "path") or FALLBACK_KEY


def _body(spec: Spec, call: Call) -> Any:
    """The request model the call takes, built from the spec's example through the SDK's
    public ``structure``."""
    assert call.request is not None
    return ka.structure(spec.request_example(call.operation_id), call.request)


async def call_operation(
    client: ka.KarbonClient, spec: Spec, call: Call, options: dict[str, Any] | None = None
) -> Any:
    """Call ``call``'s method as a user would; ``options`` (list and get only): its keyword
    query options."""
    method = bound_method(client, call)
    op = call.operation_id
    kind = call.kind
    options = options or {}
    if kind is Kind.LIST:
        # One item: the whole first page is still decoded, and the paginator returns before it
        # looks at @odata.nextLink, which Prism cannot make point at itself (see limits.py).
        paginator = method(max_items=1, prefetch=False, **options)
        async with contextlib.aclosing(paginator.pages()) as pages:
            async for page in pages:
                return page
        return None
    if kind is Kind.SINGLETON or kind is Kind.DELETE_ALL:
        return await method()
    if kind is Kind.CREATE:
        return await method(_body(spec, call))
    if kind is Kind.KEYED_WRITE:
        return await method(path_key(spec, op), _body(spec, call))
    if kind is Kind.FILE_LIST:
        entity_type = spec.parameter_example(op, "path") or "Contact"
        return await method(entity_type, spec.parameter_example(op, "query") or FALLBACK_KEY)
    if kind is Kind.UPLOAD:
        return await method(
            UPLOAD_BYTES, filename="notes.txt", content_type="text/plain", contact_key=FALLBACK_KEY
        )
    if kind is Kind.DOWNLOAD:
        argument = (
            spec.parameter_example(op, "query")
            if call.method.endswith("by_token")
            else path_key(spec, op)
        )
        return b"".join([chunk async for chunk in method(argument or FALLBACK_KEY)])
    if kind is Kind.GET:
        return await method(path_key(spec, op), **options)
    return await method(path_key(spec, op))  # DELETE, KEYED_LIST


def decode_problems(call: Call, result: Any, raw: Any) -> list[str]:
    """Why ``result`` is not a faithful decoding of ``raw`` (empty: it is)."""
    if call.response is None:
        return []
    if call.kind is Kind.LIST:
        if not isinstance(result, ka.Page):
            return [f"list returned {type(result).__name__}, not a Page"]
        items = result.items
    else:
        items = result if call.kind is Kind.KEYED_LIST else [result]
    raw_items = _raw_items(call, raw)
    problems = [
        f"returned {type(item).__name__}, not {call.response.__name__}"
        for item in items
        if not isinstance(item, call.response)
    ]
    # The list call returned one item, but the SDK decoded the whole page the same way.
    for index, raw_item in enumerate(raw_items):
        item = items[index] if index < len(items) else ka.structure(raw_item, call.response)
        if not isinstance(item, call.response):
            continue  # already reported
        lost = missing_keys(raw_item, ka.unstructure(item))
        problems += [
            f"lost key [{index}]{key}" if len(raw_items) > 1 else f"lost key {key}" for key in lost
        ]
    return problems


def _raw_items(call: Call, raw: Any) -> list[Any]:
    if call.kind in (Kind.LIST, Kind.KEYED_LIST):
        found = raw.get("value", raw.get("values")) if isinstance(raw, dict) else None
        return found if isinstance(found, list) else []
    return [raw]


async def drive(
    base_url: str, spec: Spec, *, with_options: bool = False
) -> tuple[list[Outcome], list[Outcome]]:
    """One Outcome per operation of the spec, in the spec's order; then, ``with_options``,
    one per query option the spec enumerates (see ``variants``)."""
    transport = RecordingTransport(base_url)
    outcomes: list[Outcome] = []
    extra: list[Outcome] = []
    async with ka.KarbonClient(
        bearer_token=BEARER_TOKEN,
        access_key=ACCESS_KEY,
        base_url=base_url,
        rate_limit=ka.RateLimit(requests=10_000, per=1.0),
        retry=ka.RetryPolicy(max_attempts=1),
        transport=transport,
    ) as client:
        try:
            for operation_id in spec.operations:
                call = CALLS.get(operation_id)
                if call is None:
                    outcomes.append(
                        Outcome(operation_id, "?", problems=["no SDK method in the harness table"])
                    )
                    continue
                transport.exchanges.clear()
                outcomes.append(await _run_one(client, spec, call, transport))
            for call in (CALLS[op] for op in spec.operations if op in CALLS and with_options):
                for options in variants(spec, call):
                    transport.exchanges.clear()
                    extra.append(await _run_one(client, spec, call, transport, options))
        finally:
            await transport.aclose()  # the client closes only a transport it made itself
    return outcomes, extra


async def _run_one(
    client: ka.KarbonClient,
    spec: Spec,
    call: Call,
    transport: RecordingTransport,
    options: dict[str, Any] | None = None,
) -> Outcome:
    variant = ", ".join(f"{k}={v!r}" for k, v in (options or {}).items())
    outcome = Outcome(call.operation_id, call.method, variant)
    error: BaseException | None = None
    result: Any = None
    try:
        result = await asyncio.wait_for(call_operation(client, spec, call, options), CALL_TIMEOUT)
    except Exception as exc:  # every failure is a finding, reported and counted
        error = exc
    exchanges = list(transport.exchanges)
    request_violations: list[str] = []
    for exchange in exchanges:
        for violation in exchange.violations():
            where = (violation.get("location") or ["?"])[0]
            text = describe_violation(violation)
            (request_violations if where == "request" else outcome.notes).append(text)
    if not exchanges:
        if error is None:
            outcome.problems.append("nothing was sent")
        else:  # the SDK refused before sending: the harness's input or a client-side check
            outcome.problems.append(f"not sent: {type(error).__name__}: {error}")
        return outcome
    # The operation's own request is the first; a download's redirect may follow it.
    first, last = exchanges[0], exchanges[-1]
    rejected = 400 <= first.status < 500
    outcome.request_valid = not request_violations and not rejected
    outcome.problems += request_violations
    if rejected and not request_violations:
        outcome.problems.append(f"HTTP {first.status}: {(first.body or b'')[:300]!r}")
    raw: Any = None
    if last.body:
        with contextlib.suppress(ValueError):
            raw = json.loads(last.body)
    if error is not None:
        if not rejected:
            outcome.problems.append(f"decode: {type(error).__name__}: {describe_error(error)}")
            if last.body:
                outcome.excused = refused_rightly(spec, call.operation_id, last.status, raw)
        return outcome
    lost = decode_problems(call, result, raw)
    outcome.problems += [f"decode: {p}" for p in lost]
    outcome.decoded = not lost
    return outcome


def refused_rightly(spec: Spec, operation_id: str, status: int, body: Any) -> str | None:
    """Why the SDK was right to refuse ``body``, Prism's ``status`` answer to the operation:
    it breaks the spec's own response schema, or the SDK's documented tightening of it. None
    when the body is valid even after tightening: then refusing it is an SDK failure."""
    schema = spec.response_schema(operation_id, status)
    if schema is None:
        return None
    bundled = spec.bundled(schema)
    body = as_spec_names(operation_id, body)
    errors = schema_errors(bundled, body)
    if errors:
        return "spec: the body breaks the operation's own response schema: " + "; ".join(errors)
    errors = schema_errors(tighten(bundled, operation_id, request=False), body)
    if errors:
        return "sdk: the body breaks only the SDK's documented tightening: " + "; ".join(errors)
    return None


def describe_error(error: BaseException, limit: int = 600) -> str:
    text = str(error)
    exceptions = getattr(error, "exceptions", None)
    if exceptions:  # cattrs' ClassValidationError: the first leaf says what went wrong
        notes = getattr(error, "__notes__", None) or []
        text += f" [{'; '.join(str(n) for n in notes)}]" if notes else ""
        text += " <- " + describe_error(exceptions[0], limit)
    else:
        notes = getattr(error, "__notes__", None) or []
        if notes:
            text += f" [{'; '.join(str(n) for n in notes)}]"
    return text[:limit]
