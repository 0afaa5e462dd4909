"""``DeliveryChaos``: a loopback proxy between FakeKarbon's webhook deliveries and a receiver that
drops, duplicates and delays (so reorders) them, as the internet and Karbon's retries do.

::

    chaos = DeliveryChaos(target="http://127.0.0.1:8001", drop=0.15, duplicate=0.15, seed=7)
    async with chaos:                      # serves on chaos.url
        ...subscribe with chaos.url + path as the TargetUrl...
    chaos.counts                           # {"dropped": n, "duplicated": n, "forwarded": n}

A dropped delivery is answered 200, so the fake counts it delivered: the event is lost, as when
a load balancer swallows it. A duplicated one is forwarded twice. Every forwarded delivery waits
a random ``0..max_delay`` seconds first, so deliveries overtake each other.
"""

from __future__ import annotations

import asyncio
import random
import socket
from collections import Counter

import aiohttp
from aiohttp import web

__all__ = ["DeliveryChaos"]


class DeliveryChaos:
    def __init__(
        self,
        target: str,
        *,
        drop: float = 0.1,
        duplicate: float = 0.1,
        max_delay: float = 0.05,
        seed: int | None = None,
        host: str = "127.0.0.1",
        port: int = 0,
    ) -> None:
        if not 0 <= drop <= 1 or not 0 <= duplicate <= 1 or drop + duplicate > 1:
            raise ValueError("drop and duplicate are probabilities adding up to at most 1")
        self.target = target.rstrip("/")
        self.drop = drop
        self.duplicate = duplicate
        self.max_delay = max_delay
        self.enabled = True
        """False: forward every delivery once, at once."""
        self.counts: Counter[str] = Counter()
        self._rng = random.Random(seed)
        self._host = host
        self._port = port or _free_port(host)
        self._session: aiohttp.ClientSession | None = None
        self._runner: web.AppRunner | None = None

    @property
    def url(self) -> str:
        return f"http://{self._host}:{self._port}"

    async def start(self) -> None:
        self._session = aiohttp.ClientSession()
        app = web.Application()
        app.router.add_route("POST", "/{tail:.*}", self._handle)
        self._runner = web.AppRunner(app)
        await self._runner.setup()
        await web.TCPSite(self._runner, self._host, self._port).start()

    async def close(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None
        if self._session is not None:
            await self._session.close()
            self._session = None

    async def __aenter__(self) -> DeliveryChaos:
        await self.start()
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.close()

    async def _handle(self, request: web.Request) -> web.Response:
        body = await request.read()
        headers = {k: v for k, v in request.headers.items() if k in ("Signature", "Content-Type")}
        roll = self._rng.random() if self.enabled else 1.0
        if roll < self.drop:
            self.counts["dropped"] += 1
            return web.Response(status=200)
        copies = 2 if roll < self.drop + self.duplicate else 1
        if self.enabled:
            await asyncio.sleep(self._rng.uniform(0, self.max_delay))
        assert self._session is not None
        status = 502
        for _ in range(copies):
            try:
                async with self._session.post(
                    self.target + request.path_qs, data=body, headers=headers
                ) as response:
                    status = response.status
            except aiohttp.ClientError:
                status = 502  # the receiver is down: Karbon sees a failure and retries
        self.counts["duplicated" if copies == 2 else "forwarded"] += 1
        return web.Response(status=status)


def _free_port(host: str) -> int:
    with socket.socket() as sock:
        sock.bind((host, 0))
        port: int = sock.getsockname()[1]
        return port
