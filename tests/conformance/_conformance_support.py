"""What the conformance tests share: the harness on the import path, and a transport that
answers every request with one canned response and keeps the requests.

Imported before ``conformance`` by each test module (not a conftest.py: the other tests import
their helpers from ``conftest``, and a second one would shadow it)."""

from __future__ import annotations

import contextlib
import json
import sys
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import karbon_async as ka

TOOLS = str(Path(__file__).resolve().parents[2] / "tools")
if TOOLS not in sys.path:
    sys.path.insert(0, TOOLS)

BEARER = "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJ0ZXN0In0.c2ln"
ACCESS_KEY = "eyJhbGciOiJIUzI1NiJ9.eyJ0ZW5hbnQiOiJ0ZXN0In0.c2ln"
BASE_URL = "http://127.0.0.1:9"


class StubTransport:
    def __init__(self, status: int = 200, body: Any = None) -> None:
        self.status = status
        self.body = b"" if body is None else json.dumps(body).encode()
        self.requests: list[ka.Request] = []

    def _response(self, request: ka.Request) -> ka.Response:
        self.requests.append(request)
        headers = {"Content-Type": "application/json"} if self.body else {}
        return ka.Response(status=self.status, headers=headers, body=self.body, url=request.url)

    async def send(self, request: ka.Request, *, before_resend: Any = None) -> ka.Response:
        return self._response(request)

    @contextlib.asynccontextmanager
    async def stream(self, request: ka.Request) -> AsyncIterator[ka.StreamedResponse]:
        response = self._response(request)

        async def chunks() -> AsyncIterator[bytes]:
            yield response.body

        yield ka.StreamedResponse(response.status, response.headers, response.url, chunks())

    async def aclose(self) -> None:
        pass


def stub_client(transport: StubTransport) -> ka.KarbonClient:
    return ka.KarbonClient(
        bearer_token=BEARER,
        access_key=ACCESS_KEY,
        base_url=BASE_URL,
        rate_limit=ka.RateLimit(requests=100_000, per=1.0),
        retry=ka.RetryPolicy(max_attempts=1),
        transport=transport,
    )
