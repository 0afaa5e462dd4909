"""``client.with_raw_response``: a single call's parsed result with the HTTP status and headers.

The capture travels in a context variable set around the one awaited call, so the request path
needs no extra parameter: the sender notes the successful response of the task's current call.
"""

from __future__ import annotations

import contextvars
import inspect
from collections.abc import Callable, Mapping
from typing import Any

import attrs

from ._transport import Response

# The successful responses of the call being captured, in order (a modify() makes two).
captured: contextvars.ContextVar[list[Response] | None] = contextvars.ContextVar(
    "karbon_raw_response", default=None
)


def note(response: Response) -> None:
    responses = captured.get()
    if responses is not None:
        responses.append(response)


@attrs.frozen
class RawResponse:
    """What one call returned, with the last successful HTTP response behind it."""

    status: int
    headers: Mapping[str, str]
    """The response's headers (the server's: no request header, so no credentials)."""
    parsed: Any
    """What the same call returns without ``with_raw_response``."""


class RawResource:
    """A resource whose awaitable methods return ``RawResponse``; paginated listings are not
    single calls and are refused."""

    def __init__(self, resource: object) -> None:
        self._resource = resource

    def __getattr__(self, name: str) -> Callable[..., Any]:
        method = getattr(self._resource, name)
        if not callable(method):
            raise TypeError(f"{name} is not an operation")

        async def call(*args: Any, **kwargs: Any) -> RawResponse:
            responses: list[Response] = []
            token = captured.set(responses)
            try:
                result = method(*args, **kwargs)
                if not inspect.isawaitable(result):
                    raise TypeError(
                        f"with_raw_response needs a single awaited call; {name}() returns "
                        f"{type(result).__name__}"
                    )
                parsed = await result
            finally:
                captured.reset(token)
            if not responses:
                raise TypeError(f"{name}() made no request to capture")
            last = responses[-1]
            return RawResponse(status=last.status, headers=last.headers, parsed=parsed)

        return call


class RawResources:
    """``client.with_raw_response``: ``await client.with_raw_response.contacts.get(key)``."""

    def __init__(self, resources: object) -> None:
        self._resources = resources

    def __getattr__(self, name: str) -> RawResource:
        resource = getattr(self._resources, name)
        if not hasattr(resource, "_sender"):
            raise AttributeError(f"{name} is not a resource")
        return RawResource(resource)
