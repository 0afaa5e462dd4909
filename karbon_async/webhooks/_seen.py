"""Where the receiver's replay guard and the worker's dedupe remember what they have seen.

In memory by default (one process); :class:`RedisSeenStore` shares it between the receiver
instances behind a load balancer, so that a delivery (or a Karbon retry of it) landing on two
instances is handled once.
"""

from __future__ import annotations

import importlib
import math
import time
from collections import OrderedDict
from collections.abc import Callable
from types import TracebackType
from typing import TYPE_CHECKING, Protocol

from .._exceptions import ConfigurationError
from ._events import WebhookEvent

if TYPE_CHECKING:
    from redis.asyncio import Redis


class SeenStore(Protocol):
    """Remembers keys for a while; ``first_seen`` must be atomic across everyone sharing it."""

    async def first_seen(self, key: str, ttl: float) -> bool:
        """Remember ``key`` for ``ttl`` seconds; True when it was not remembered already."""
        ...

    async def forget(self, key: str) -> None:
        """Drop ``key``, so that the next ``first_seen`` of it is True again."""
        ...


def change_key(event: WebhookEvent) -> str | None:
    """One change of one resource: resource, action and ``TimeStamp``; None without one (then
    two notifications cannot be told apart from one sent twice)."""
    if event.timestamp is None:
        return None
    # The payload is signed, so its fields are Karbon's; "|" only keeps them apart.
    return "|".join(
        (
            event.resource_type.value,
            event.resource_perma_key,
            event.action_type.value,
            event.timestamp.isoformat(),
        )
    )


class MemorySeenStore:
    """The default store: this process only, at most ``max_size`` keys (the oldest go first)."""

    def __init__(self, max_size: int = 100_000, clock: Callable[[], float] = time.monotonic):
        if max_size < 1:
            raise ValueError("max_size must be at least 1")
        self.max_size = max_size
        self._clock = clock
        self._expiry: OrderedDict[str, float] = OrderedDict()

    def __len__(self) -> int:
        return len(self._expiry)

    async def first_seen(self, key: str, ttl: float) -> bool:
        # No await inside: atomic within the event loop.
        now = self._clock()
        expires = self._expiry.get(key)
        if expires is not None and expires > now:
            return False
        self._expiry.pop(key, None)
        self._expiry[key] = now + ttl
        self._evict(now)
        return True

    async def forget(self, key: str) -> None:
        self._expiry.pop(key, None)

    def _evict(self, now: float) -> None:
        # Insertion order is expiry order whenever the ttl is the same for every key (one
        # receiver or worker per store); otherwise an expired key may wait behind a live one.
        while self._expiry:
            oldest, expires = next(iter(self._expiry.items()))
            if expires > now and len(self._expiry) <= self.max_size:
                break
            del self._expiry[oldest]


class RedisSeenStore:
    """A store shared through Redis: ``SET prefix+key 1 NX PX ttl``, atomic in Redis, expired by
    Redis. Needs the ``redis`` extra (``pip install 'karbon-async[redis]'``).

    ``RedisSeenStore("redis://host:6379/0")`` opens its own connection pool (closed by
    ``aclose()`` or ``async with``); ``RedisSeenStore(client=redis_client)`` uses yours and
    leaves it open. Give every receiver of one subscription the same ``prefix``.
    """

    def __init__(
        self,
        url: str = "redis://localhost:6379/0",
        *,
        client: Redis | None = None,
        prefix: str = "karbon_async:webhooks:",
    ) -> None:
        self.prefix = prefix
        self._owns_client = client is None
        if client is None:
            try:
                redis_asyncio = importlib.import_module("redis.asyncio")
            except ImportError as error:
                raise ConfigurationError(
                    "RedisSeenStore needs redis-py: pip install 'karbon-async[redis]'"
                ) from error
            client = redis_asyncio.Redis.from_url(url)
        self._client: Redis = client

    def __repr__(self) -> str:  # never the URL: it may hold a password
        return f"RedisSeenStore(prefix={self.prefix!r})"

    async def first_seen(self, key: str, ttl: float) -> bool:
        # PX takes whole milliseconds, at least 1.
        milliseconds = max(1, math.ceil(ttl * 1000))
        created = await self._client.set(self.prefix + key, b"1", nx=True, px=milliseconds)
        return bool(created)

    async def forget(self, key: str) -> None:
        await self._client.delete(self.prefix + key)

    async def aclose(self) -> None:
        if self._owns_client:
            await self._client.aclose()

    async def __aenter__(self) -> RedisSeenStore:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        await self.aclose()
