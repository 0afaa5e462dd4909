"""TenantSettings: fetched once per client, refreshed on request."""

from __future__ import annotations

import asyncio

from ._endpoint import Resource, operation
from ._generated import models as m
from ._generated.operations import Ops
from ._limits import Lane
from ._read_endpoints import SingletonEndpoint

_CACHE_KEY = "tenant_settings"


class TenantSettingsResource(Resource):
    """The account's WorkTypes, ContactTypes and work statuses: what a caller needs before
    creating work. ``get()`` asks the API once per client (``with_options`` views share it);
    ``refresh()`` asks again."""

    _fetch = SingletonEndpoint.of(Ops.getTenantSettings)

    @operation("getTenantSettings")
    async def get(self, *, refresh: bool = False, lane: Lane | None = None) -> m.TenantSettings:
        cache = self._sender.cache
        lock = cache.setdefault(_CACHE_KEY + ".lock", asyncio.Lock())
        async with lock:
            cached = cache.get(_CACHE_KEY)
            if refresh or not isinstance(cached, m.TenantSettings):
                cached = await self._fetch(lane=lane)
                cache[_CACHE_KEY] = cached
            return cached

    async def refresh(self, *, lane: Lane | None = None) -> m.TenantSettings:
        """Fetch the settings again and cache the new answer."""
        return await self.get(refresh=True, lane=lane)

    def cached(self) -> m.TenantSettings | None:
        """The cached settings, or None before the first ``get``."""
        value = self._sender.cache.get(_CACHE_KEY)
        return value if isinstance(value, m.TenantSettings) else None
