"""Peak memory of a large export: one account, N contacts, JSON Lines, checkpoints on.

The fake server runs in a child process (generating records on the fly), the exporter here;
the exporter's resident set size is sampled as records arrive and its peak (``ru_maxrss``) is
reported. Constant memory means the peak does not grow with N.

    python benchmarks/export_memory_bench.py --records 1000000
    python benchmarks/export_memory_bench.py --records 100000     # to compare
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import resource
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).parent))

from _fake_server import start_server, stop_server

import karbon_async as ka
from karbon_async.export import Account, Exporter, ExportEvent


def rss_mb() -> float:
    with open("/proc/self/statm") as statm:
        pages = int(statm.read().split()[1])
    return pages * os.sysconf("SC_PAGE_SIZE") / 2**20


def _jsonl_bytes(directory: str) -> int:
    return sum(p.stat().st_size for p in Path(directory).rglob("*.jsonl"))


async def run(args: argparse.Namespace) -> dict[str, Any]:
    limit = ka.RateLimit(1_000_000, 1.0)  # memory, not the limiter, is measured here
    server, hello = await asyncio.to_thread(
        start_server, accounts=1, sizes={"Contacts": args.records}, limit=limit, warm=False
    )
    samples: dict[str, float] = {}
    marks = [args.records * k // 10 for k in range(1, 11)]

    def on_event(event: ExportEvent) -> None:
        if event.kind == "page" and event.stream is not None:
            while marks and event.stream.records >= marks[0]:
                samples[f"{marks.pop(0)}"] = round(rss_mb(), 1)

    account = hello["accounts"][0]
    before = rss_mb()
    with tempfile.TemporaryDirectory(prefix="karbon-mem-") as out:
        exporter = Exporter(
            [Account("big", account["token"], account["key"], hello["base_url"], limit)],
            ["contacts"],
            out=out,
            page_size=100,
            on_event=on_event,
        )
        started = time.monotonic()
        report = await exporter.run()
        seconds = time.monotonic() - started
        size = await asyncio.to_thread(_jsonl_bytes, out)
    await asyncio.to_thread(stop_server, server)
    return {
        "records": report.records,
        "ok": report.ok,
        "seconds": round(seconds, 1),
        "records_per_s": round(report.records / seconds),
        "file_mb": round(size / 2**20, 1),
        "rss_mb_before_export": round(before, 1),
        "rss_mb_at_each_tenth": samples,
        "peak_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--records", type=int, default=1_000_000)
    print(json.dumps(asyncio.run(run(parser.parse_args())), indent=1))


if __name__ == "__main__":
    main()
