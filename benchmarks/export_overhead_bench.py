"""Client overhead per page: typed SDK pages and the exporter vs plain aiohttp loops.

The same pages (Contacts, 100 per page, from a warmed FakeKarbon in a child process, no rate
limit) are fetched one after another by: a bare ``aiohttp`` + ``json.loads`` loop following
``@odata.nextLink``; a bare ``aiohttp`` + ``orjson`` loop writing each record as a JSON Lines
line (``orjson.dumps``) to a file; ``client.contacts.list().pages()`` (typed models, budget,
retries, origin checks; no prefetch, to be sequential like the loops); and the exporter
(records written as the API sent them, checkpoints committed), durable (fsync, the default) and
not. Reported: CPU and wall milliseconds per page of this process (median of ``--rounds``),
each as a ratio to the json.loads loop and to the orjson loop, and the time spent in garbage
collections per page.

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
import orjson
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


async def plain_orjson_jsonl(base_url: str, token: str, key: str) -> int:
    headers = {"Authorization": f"Bearer {token}", "AccessKey": key, "Accept": "application/json"}
    pages = 0
    with tempfile.TemporaryDirectory(prefix="karbon-overhead-") as out:
        # Written inline like the exporter's pages (page-cache writes; no thread hop).
        file = open(Path(out) / "contacts.jsonl", "wb")  # noqa: ASYNC230, SIM115
        try:
            async with aiohttp.ClientSession(headers=headers) as session:
                url: str | None = f"{base_url}/v3/Contacts?$top={PAGE}"
                while url:
                    async with session.get(url) as response:
                        response.raise_for_status()
                        document = orjson.loads(await response.read())
                    file.write(b"".join(orjson.dumps(r) + b"\n" for r in document["value"]))
                    pages += 1
                    url = document.get("@odata.nextLink")
        finally:
            file.close()
    return pages


async def typed(base_url: str, token: str, key: str) -> int:
    pages = 0
    async with ka.KarbonClient(
        bearer_token=token, access_key=key, base_url=base_url, rate_limit=LIMIT
    ) as client:
        async for _ in client.contacts.list(page_size=PAGE, prefetch=False).pages():
            pages += 1
    return pages


async def export_pages(base_url: str, token: str, key: str, durable: bool) -> int:
    with tempfile.TemporaryDirectory(prefix="karbon-overhead-") as out:
        report = await Exporter(
            [Account("a", token, key, base_url, LIMIT)],
            ["contacts"],
            out=out,
            page_size=PAGE,
            durable=durable,
        ).run()
    return report.accounts[0].pages


async def exporter(base_url: str, token: str, key: str) -> int:
    return await export_pages(base_url, token, key, durable=True)


async def exporter_not_durable(base_url: str, token: str, key: str) -> int:
    return await export_pages(base_url, token, key, durable=False)


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
        "plain_aiohttp_orjson_jsonl": plain_orjson_jsonl,
        "typed_sdk_pages": typed,
        "exporter_jsonl": exporter,
        "exporter_jsonl_not_durable": exporter_not_durable,
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
    orjson_cpu = statistics.median(r[0] for r in results["plain_aiohttp_orjson_jsonl"])
    for name, values in results.items():
        cpu = statistics.median(r[0] for r in values)
        wall = statistics.median(r[1] for r in values)
        out[name] = {
            "cpu_ms_per_page": round(cpu, 3),
            "wall_ms_per_page": round(wall, 3),
            "gc_pause_ms_per_page": round(statistics.median(r[2] for r in values), 4),
            "gc_collections": statistics.median(r[3] for r in values),
            "cpu_ratio_to_plain": round(cpu / base_cpu, 2),
            "cpu_ratio_to_orjson_jsonl": round(cpu / orjson_cpu, 2),
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
