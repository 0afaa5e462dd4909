"""A fast, rate-limited list server in a child process, for many-account client benchmarks.

FakeKarbon's own work (generating, filtering and encoding records) would cost as much CPU as
the client being measured; this server answers ``GET /v3/Contacts`` from bytes encoded before
the clock starts, so it stays cheap at thousands of requests a second:

- accounts are told apart by the ``AccessKey`` header (any key is an account);
- every arrival is judged by Karbon's rule, at most ``requests`` arrivals in any ``per`` seconds
  per account, counted at arrival (``SlidingWindow``, the same judge FakeKarbon uses); over the
  limit the answer is a 429 with ``Retry-After``;
- every answer waits a latency drawn uniformly from ``[latency_min, latency_max]`` (a sleep, so
  it costs no CPU), 429s included;
- lists never end: each page of ``page_size`` realistic contacts (``decode_bench.contact``) links
  to the next by ``$skip``, so every account stays busy however long the run.

Protocol: the child prints ``{"base_url": ...}`` when ready; the lines ``start`` and ``stop`` on
its stdin mark the measured span (its CPU is counted between them); closing stdin makes it print
its statistics (``stats``) as one JSON line and exit.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import random
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from aiohttp import web

sys.path.insert(0, str(Path(__file__).parent))

from _fake_server import cpu_seconds, stop_server
from decode_bench import contact

from karbon_async.testing._ratelimit import SlidingWindow, max_in_window

BLOCKS = 20
"""Distinct pages of records, cycled through: a run sees every key again after BLOCKS pages."""


def run_delay() -> float:
    """Seconds the main thread was ready to run but waited for a core (Linux schedstat; 0
    elsewhere): other work on a shared machine taking the CPU from the measured loop."""
    try:
        with open("/proc/self/schedstat") as file:
            return int(file.read().split()[1]) / 1e9
    except OSError:
        return 0.0


class Tenant:
    __slots__ = ("arrivals", "rejected", "window")

    def __init__(self, requests: int, per: float) -> None:
        self.window = SlidingWindow(requests, per)
        self.arrivals: list[float] = []
        self.rejected = 0


async def serve(args: argparse.Namespace) -> None:
    tenants: dict[str, Tenant] = {}
    latency = random.Random(args.seed)
    low, high = args.latency_min, args.latency_max
    size = args.page_size
    blocks: list[bytes] = []
    link_prefix = b""
    unknown = 0

    async def contacts(request: web.Request) -> web.Response:
        now = time.monotonic()
        key = request.headers.get("AccessKey", "")
        tenant = tenants.get(key)
        if tenant is None:
            tenant = tenants[key] = Tenant(args.requests, args.per)
        tenant.arrivals.append(now)
        retry_after = tenant.window.admit(now)
        await asyncio.sleep(latency.uniform(low, high))
        if retry_after is not None:
            tenant.rejected += 1
            message = f"Rate limit is exceeded. Try again in {retry_after} seconds."
            return web.json_response(
                {"statusCode": "429", "message": message},
                status=429,
                headers={"Retry-After": str(retry_after)},
            )
        skip = int(request.query.get("$skip", "0"))
        body = b"".join(
            (
                b'{"@odata.context":"contacts","value":',
                blocks[skip // size % BLOCKS],
                b',"@odata.nextLink":"',
                link_prefix,
                str(skip + size).encode(),
                b'"}',
            )
        )
        return web.Response(body=body, content_type="application/json")

    async def other(request: web.Request) -> web.Response:
        nonlocal unknown
        unknown += 1
        return web.json_response({"error": {"message": "not served here"}}, status=404)

    app = web.Application()
    app.router.add_get("/v3/Contacts", contacts)
    app.router.add_route("*", "/{tail:.*}", other)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0, backlog=4096)
    await site.start()
    host, port = runner.addresses[0][:2]
    base = f"http://{host}:{port}"
    link_prefix = f"{base}/v3/Contacts?$top={size}&$skip=".encode()
    for number in range(BLOCKS):
        items = [contact(number * size + i) for i in range(size)]
        blocks.append(json.dumps(items).encode())
    print(json.dumps({"base_url": base}), flush=True)

    marks: dict[str, tuple[float, float, float]] = {}
    while line := (await asyncio.to_thread(sys.stdin.readline)).strip():
        marks[line] = (time.monotonic(), cpu_seconds(), run_delay())
    t0, cpu0, wait0 = marks.get("start", (0.0, 0.0, 0.0))
    t1, cpu1, wait1 = marks.get("stop", (time.monotonic(), cpu_seconds(), run_delay()))
    await runner.cleanup()
    arrivals = [t.arrivals for t in tenants.values()]
    print(
        json.dumps(
            {
                "accounts_seen": len(tenants),
                "requests": sum(len(a) for a in arrivals),
                "rejected_429": sum(t.rejected for t in tenants.values()),
                "max_in_window": max((max_in_window(a, args.per) for a in arrivals), default=0),
                "not_found": unknown,
                "cpu_s": cpu1 - cpu0,
                "run_delay_s": wait1 - wait0,
                "wall_s": t1 - t0,
            }
        ),
        flush=True,
    )


class PageServer:
    """The child process, from the measuring side."""

    def __init__(
        self,
        *,
        requests: int,
        per: float,
        latency: tuple[float, float],
        page_size: int,
        seed: int = 0,
    ) -> None:
        command = [
            sys.executable, __file__, "--requests", str(requests), "--per", str(per),
            "--latency-min", str(latency[0]), "--latency-max", str(latency[1]),
            "--page-size", str(page_size), "--seed", str(seed),
        ]  # fmt: skip
        self.process = subprocess.Popen(
            command, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True
        )
        assert self.process.stdout is not None
        self.base_url: str = json.loads(self.process.stdout.readline())["base_url"]

    def mark(self, name: str) -> None:
        assert self.process.stdin is not None
        self.process.stdin.write(name + "\n")
        self.process.stdin.flush()

    def stop(self) -> dict[str, Any]:
        return stop_server(self.process)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--requests", type=int, default=4)
    parser.add_argument("--per", type=float, default=2.0)
    parser.add_argument("--latency-min", type=float, default=0.02)
    parser.add_argument("--latency-max", type=float, default=0.04)
    parser.add_argument("--page-size", type=int, default=100)
    parser.add_argument("--seed", type=int, default=0)
    asyncio.run(serve(parser.parse_args()))


if __name__ == "__main__":
    main()
