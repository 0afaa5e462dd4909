"""What every endpoint module of the fake shares: the request (:class:`Call`), a route
(:class:`Route`), Karbon's error bodies and JSON responses.

The generic entity-set GETs (lists with OData options, single records, UDI lookups) live in
``_entity_sets``; everything else is a row of ``_routes.ROUTES`` -- (method, path pattern,
handler) -- naming a handler of a domain module (``_clients``, ``_work``, ``_billing``, ...), so
the server never grows a branch per resource. Handlers get a :class:`Call` and return a response
or raise :class:`Reply`. Handlers reach the server only through :class:`Host`.
"""

from __future__ import annotations

import copy
import json
import re
from collections.abc import Awaitable, Callable, Mapping
from datetime import datetime, timezone
from typing import Any, Protocol

import attrs
from aiohttp import web

from ._account import FakeAccount, StoredFile
from ._keys import mix64
from ._store import CollectionStore

__all__ = ["Call", "Handler", "Host", "Reply", "Route", "error", "json_response"]


PLAIN_JSON = "application/json; charset=utf-8"
ODATA_JSON = (
    "application/json; odata.metadata=minimal; odata.streaming=true; "
    "IEEE754Compatible=false; charset=utf-8"
)


def error(code: str, message: str) -> dict[str, Any]:
    return {"error": {"code": code, "message": message}}


def invalid_model(target: str, message: str) -> Reply:
    """Karbon's 4003 "Invalid Model." answer naming the offending property."""
    return Reply(
        400,
        {
            "error": {
                "code": "4003",
                "message": "Invalid Model.",
                "details": {"code": "InvalidProperty", "target": target, "message": message},
            }
        },
    )


class Reply(Exception):
    """Raised by a handler to answer at once (usually an error)."""

    def __init__(self, status: int, body: Any = None) -> None:
        super().__init__(status)
        self.status = status
        self.body = body


def json_response(
    status: int, body: Any, *, odata: bool = True, headers: Mapping[str, str] | None = None
) -> web.Response:
    text = json.dumps(body, ensure_ascii=False, separators=(",", ":"))
    all_headers = {**(headers or {}), "Content-Type": ODATA_JSON if odata else PLAIN_JSON}
    return web.Response(status=status, body=text.encode(), headers=all_headers)


def no_content() -> web.Response:
    return web.Response(status=204)


def stamp() -> str:
    """Now as Karbon writes LastModifiedDateTime (7 fractional digits)."""
    now = datetime.now(timezone.utc)
    return f"{now:%Y-%m-%dT%H:%M:%S}.{now.microsecond * 10:07d}Z"


def guid_from(value: int) -> str:
    hi, lo = mix64(value), mix64(value ^ 0x5A5A)
    h = f"{hi:016x}{lo:016x}"
    return f"{h[:8]}-{h[8:12]}-4{h[13:16]}-{h[16:20]}-{h[20:]}"


class Host(Protocol):
    """What handlers may use of the server (``FakeKarbon``), and nothing else."""

    base_url: str
    download_base_url: str
    allow_insecure_webhooks: bool
    spec_pedantic: bool

    def record_change(
        self,
        account: FakeAccount,
        webhook_type: str,
        resource_type: str,
        action: str,
        key: str,
        extra: dict[str, Any],
    ) -> None: ...

    def mint_download_token(self, account: FakeAccount, file_key: str) -> str: ...

    def resolve_download_token(self, token: str) -> tuple[FakeAccount, StoredFile] | None: ...


@attrs.frozen
class Call:
    """One request as a handler sees it."""

    fake: Host
    account: FakeAccount
    request: web.Request
    params: dict[str, str]
    raw: bytes = b""

    def store(self, name: str) -> CollectionStore:
        return self.account.data.store(name)

    def body(self, entity: str) -> dict[str, Any]:
        """The JSON object body; a missing/null/non-object body is Karbon's 4005."""
        if not self.raw.strip():
            raise Reply(400, error("4005", f"Required payload data is missing: {entity}"))
        try:
            value = json.loads(self.raw)
        except ValueError as exc:
            raise Reply(400, error("4005", f"Required payload data is missing: {entity}")) from exc
        if not isinstance(value, dict):
            raise Reply(400, error("4005", f"Required payload data is missing: {entity}"))
        return value

    def context(self, suffix: str) -> str:
        return f"{self.fake.base_url}/v3/$metadata#{suffix}"

    def emit(
        self,
        webhook_type: str,
        resource_type: str,
        action: str,
        key: str,
        **extra: Any,
    ) -> None:
        self.fake.record_change(self.account, webhook_type, resource_type, action, key, extra)


Handler = Callable[[Call], Awaitable[web.StreamResponse]]


@attrs.frozen
class Route:
    method: str
    pattern: re.Pattern[str]
    handler: Handler


def require(store: CollectionStore, key: str) -> int:
    index = store.index_of(key)
    if index is None:
        raise Reply(404, error("4004", store.definition.not_found(key)))
    return index


def entity_body(call: Call, store: CollectionStore, key: str) -> dict[str, Any]:
    """A record as the single GET returns it with every navigation property expanded."""
    definition = store.definition
    body: dict[str, Any] = {
        "@odata.context": f"{call.fake.base_url}/v3/{definition.single_context}"
    }
    if definition.single_type:
        body["@odata.type"] = definition.single_type
    body.update(copy.deepcopy(store.record_at(require(store, key))))
    return body


def location(call: Call, collection: str, key: str) -> dict[str, str]:
    return {"Location": f"{call.fake.base_url}/v3/{collection}('{key}')"}
