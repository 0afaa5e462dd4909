"""KarbonClient: one aiohttp session, one account budget, the resources."""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from types import TracebackType
from typing import Any

import aiohttp

from ._budget import Budget, shared_budget
from ._exceptions import ConfigurationError, UnsafeURLError
from ._hooks import EventHook, Hooks
from ._limits import Lane, RateLimit
from ._raw import RawResources
from ._resources import ResourceSet
from ._retry import RetryPolicy
from ._sender import Credentials, RequestSender
from ._transport import AiohttpTransport, Timeout, Transport
from ._urls import normalise_base_url, origin_of

DEFAULT_BASE_URL = "https://api.karbonhq.com"
DEFAULT_TIMEOUT = 60.0
_UNSET: Any = RequestSender._UNSET


class _LazyBudget:
    """The account's shared budget, looked up in the running loop on first use, so a client can
    be made outside a coroutine."""

    def __init__(self, origin: str, access_key: str, limit: RateLimit) -> None:
        self._args = (origin, access_key, limit)

    def __call__(self) -> Budget:
        return shared_budget(*self._args)


class KarbonClient(ResourceSet):
    """An async client for one Karbon account.

    Use it as ``async with KarbonClient(...) as client:`` (or call ``await client.aclose()``).
    Every client of the same account in one event loop shares one rate-limit budget.
    """

    def __init__(
        self,
        *,
        bearer_token: str,
        access_key: str,
        base_url: str = DEFAULT_BASE_URL,
        rate_limit: RateLimit | None = None,
        retry: RetryPolicy | None = None,
        timeout: Timeout | float | None = DEFAULT_TIMEOUT,
        budget: Budget | None = None,
        transport: Transport | None = None,
        session: aiohttp.ClientSession | None = None,
        proxy: str | None = None,
        trust_env: bool = False,
        event_hooks: Mapping[str, Sequence[EventHook]] | None = None,
        on_event: EventHook | None = None,
        lane: Lane | None = None,
    ) -> None:
        credentials = Credentials(bearer_token=bearer_token, access_key=access_key)
        if not isinstance(base_url, str):
            raise TypeError("base_url must be a str")
        base_url = normalise_base_url(base_url)
        origin_of(base_url)  # an absolute http(s) URL, or UnsafeURLError now
        if transport is not None and session is not None:
            raise ValueError("pass either transport= or session=, not both")
        if transport is not None and (proxy is not None or trust_env):
            raise ValueError("proxy= and trust_env= configure the built-in transport, not yours")
        if proxy is not None:
            origin_of(proxy)  # an absolute http(s) URL without credentials in it
        limit = rate_limit if rate_limit is not None else RateLimit()
        if budget is not None and rate_limit is not None and budget.limit != rate_limit:
            raise ValueError("rate_limit disagrees with the given budget's limit")
        adopt_base_url = getattr(budget, "adopt_base_url", None)
        if callable(adopt_base_url):  # RedisBudget: its key names the account and base URL
            adopt_base_url(base_url)
        self._owns_transport = transport is None
        self._transport: Transport = transport or AiohttpTransport(
            session, proxy=proxy, trust_env=trust_env
        )
        self._sender = RequestSender(
            base_url=base_url,
            credentials=credentials,
            transport=self._transport,
            budget_factory=(
                (lambda: budget) if budget is not None else _LazyBudget(base_url, access_key, limit)
            ),
            retry=retry or RetryPolicy(),
            timeout=timeout,
            hooks=Hooks(event_hooks, on_event),
        )
        super().__init__(self._sender, lane=lane)

    @classmethod
    def from_env(cls, **options: object) -> KarbonClient:
        """A client from ``KARBON_BEARER_TOKEN``, ``KARBON_ACCESS_KEY`` and, optionally,
        ``KARBON_BASE_URL``; keyword options are passed through."""
        missing = [
            name
            for name in ("KARBON_BEARER_TOKEN", "KARBON_ACCESS_KEY")
            if not os.environ.get(name)
        ]
        if missing:
            raise ConfigurationError(f"missing environment variable(s): {', '.join(missing)}")
        if "base_url" not in options:
            base_url = os.environ.get("KARBON_BASE_URL") or DEFAULT_BASE_URL
            try:
                origin_of(normalise_base_url(base_url))
            except UnsafeURLError as exc:
                raise ConfigurationError(f"KARBON_BASE_URL: {exc}") from None
            options["base_url"] = base_url
        return cls(
            bearer_token=os.environ["KARBON_BEARER_TOKEN"],
            access_key=os.environ["KARBON_ACCESS_KEY"],
            **options,  # type: ignore[arg-type]
        )

    @property
    def base_url(self) -> str:
        return self._sender.base_url

    @property
    def budget(self) -> Budget:
        """This account's budget; ``client.budget.snapshot()`` for operators."""
        return self._sender.budget

    def with_options(
        self,
        *,
        lane: Lane | None = _UNSET,
        retry: RetryPolicy | None = None,
        timeout: Timeout | float | None = _UNSET,
        event_hooks: Mapping[str, Sequence[EventHook]] | None = None,
        on_event: EventHook | None = None,
    ) -> KarbonClient:
        """A view of this client: the whole client surface (resources, ``with_raw_response``,
        ``budget``, ``with_options``, ``aclose``) on the same session, budget, event loop and
        per-client cache, with calls in another ``lane`` (None: each operation's default),
        ``retry`` policy, ``timeout`` (seconds, a ``Timeout``, or None for no limit) or hooks
        (``event_hooks``/``on_event`` replace the view's; by default it keeps this client's).
        Options left out are this client's, so views of views stack, e.g.
        ``client.with_options(lane=Lane.INTERACTIVE, timeout=5).work_items.get(key)``.

        Credentials, ``base_url``, ``rate_limit``, ``budget`` and the transport options
        (``transport``, ``session``, ``proxy``, ``trust_env``) name another account or
        connection: make another client for them. Closing a view (``aclose``, ``async with``)
        does not close the shared session; close the client that made it."""
        hooks = Hooks(event_hooks, on_event) if event_hooks or on_event is not None else None
        view = object.__new__(type(self))
        view._owns_transport = False
        view._transport = self._transport
        view._sender = self._sender.with_options(retry=retry, timeout=timeout, hooks=hooks)
        ResourceSet.__init__(view, view._sender, lane=self._lane if lane is _UNSET else lane)
        return view

    @property
    def with_raw_response(self) -> RawResources:
        """Each awaited call returns a ``RawResponse`` (``status``, ``headers``, ``parsed``),
        e.g. ``(await client.with_raw_response.contacts.get(key)).headers``."""
        return RawResources(self)

    async def aclose(self) -> None:
        if self._owns_transport:
            await self._transport.aclose()

    async def __aenter__(self) -> KarbonClient:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        await self.aclose()

    def __repr__(self) -> str:
        return f"KarbonClient(base_url={self.base_url!r})"
