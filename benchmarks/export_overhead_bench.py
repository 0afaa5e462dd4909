"""Client overhead per page: typed SDK pages (and the exporter) vs a plain aiohttp + json loop.

The same pages (Contacts, 100 per page, from a warmed FakeKarbon in a child process, no rate
limit) are fetched one after another by: a bare ``aiohttp`` + ``json.loads`` loop following
``@odata.nextLink``; ``client.contacts.list().pages()`` (typed models, budget, retries, origin
checks; no prefetch, to be sequential like the loop); and the exporter (raw pages written as
JSON Lines, checkpoints committed), with its collector tuning and without (``tune_gc=False``).
Reported: CPU and wall milliseconds per page of this process (median of ``--rounds``), each as a
ratio to the plain loop, and the time spent in garbage collections per page.

    python benchmarks/export_overhead_bench.py --pages 500 --rounds 5
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import json
import statistics
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).parent))

import aiohttp
from _fake_server import cpu_seconds, start_server, stop_server

import karbon_async as ka
from karbon_async.export import Account, Exporter

PAGE = 100
LIMIT = ka.RateLimit(1_000_000, 1.0)


async def plain(base_url: str, token: str, key: str) -> int:
    headers = {"Authorization": f"Bearer {token}", "AccessKey": key, "Accept": "application/json"}
    pages = 0
    async with aiohttp.ClientSession(headers=headers) as session:
        url: str | None = f"{base_url}/v3/Contacts?$top={PAGE}"
        while url:
            async with session.get(url) as response:
                response.raise_for_status()
                document = json.loads(await response.read())
            pages += 1
            url = document.get("@odata.nextLink")
    return pages


async def typed(base_url: str, token: str, key: str) -> int:
    pages = 0
    async with ka.KarbonClient(
        bearer_token=token, access_key=key, base_url=base_url, rate_limit=LIMIT
    ) as client:
        async for _ in client.contacts.list(page_size=PAGE, prefetch=False).pages():
            pages += 1
    return pages


async def export_pages(base_url: str, token: str, key: str, tune_gc: bool) -> int:
    with tempfile.TemporaryDirectory(prefix="karbon-overhead-") as out:
        report = await Exporter(
            [Account("a", token, key, base_url, LIMIT)],
            ["contacts"],
            out=out,
            page_size=PAGE,
            tune_gc=tune_gc,
        ).run()
    return report.accounts[0].pages


async def exporter(base_url: str, token: str, key: str) -> int:
    return await export_pages(base_url, token, key, tune_gc=True)


async def exporter_default_gc(base_url: str, token: str, key: str) -> int:
    return await export_pages(base_url, token, key, tune_gc=False)


class GcPauses:
    """Time spent in collections (gc.callbacks), in milliseconds, while ``active``."""

    def __init__(self) -> None:
        self.total = 0.0
        self.count = 0
        self._start = 0.0
        gc.callbacks.append(self._note)

    def _note(self, phase: str, info: dict[str, int]) -> None:
        if phase == "start":
            self._start = time.perf_counter()
        else:
            self.total += (time.perf_counter() - self._start) * 1000
            self.count += 1

    def reset(self) -> tuple[float, int]:
        figures = (self.total, self.count)
        self.total, self.count = 0.0, 0
        return figures


PAUSES = GcPauses()


async def measure(
    fn: Callable[[str, str, str], Awaitable[int]], hello: dict[str, Any]
) -> tuple[float, float, float, int]:
    account = hello["accounts"][0]
    PAUSES.reset()
    cpu0, wall0 = cpu_seconds(), time.perf_counter()
    pages = await fn(hello["base_url"], account["token"], account["key"])
    cpu, wall = cpu_seconds() - cpu0, time.perf_counter() - wall0
    paused, collections = PAUSES.reset()
    return cpu / pages * 1000, wall / pages * 1000, paused / pages, collections


async def run(args: argparse.Namespace) -> dict[str, Any]:
    server, hello = await asyncio.to_thread(
        start_server, accounts=1, sizes={"Contacts": args.pages * PAGE}, limit=LIMIT
    )
    sides: dict[str, Callable[[str, str, str], Awaitable[int]]] = {
        "plain_aiohttp_json": plain,
        "typed_sdk_pages": typed,
        "exporter_raw_jsonl": exporter,
        "exporter_raw_jsonl_default_gc": exporter_default_gc,
    }
    results: dict[str, list[tuple[float, float, float, int]]] = {name: [] for name in sides}
    await measure(plain, hello)  # warm up connections and caches
    for _ in range(args.rounds):
        for name, fn in sides.items():
            results[name].append(await measure(fn, hello))
    await asyncio.to_thread(stop_server, server)
    out: dict[str, Any] = {"pages": args.pages, "records_per_page": PAGE, "rounds": args.rounds}
    base_cpu = statistics.median(r[0] for r in results["plain_aiohttp_json"])
    base_wall = statistics.median(r[1] for r in results["plain_aiohttp_json"])
    for name, values in results.items():
        cpu = statistics.median(r[0] for r in values)
        wall = statistics.median(r[1] for r in values)
        out[name] = {
            "cpu_ms_per_page": round(cpu, 3),
            "wall_ms_per_page": round(wall, 3),
            "gc_pause_ms_per_page": round(statistics.median(r[2] for r in values), 4),
            "gc_collections": statistics.median(r[3] for r in values),
            "cpu_ratio_to_plain": round(cpu / base_cpu, 2),
            "wall_ratio_to_plain": round(wall / base_wall, 2),
        }
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--pages", type=int, default=500)
    parser.add_argument("--rounds", type=int, default=5)
    print(json.dumps(asyncio.run(run(parser.parse_args())), indent=1))


if __name__ == "__main__":
    main()
