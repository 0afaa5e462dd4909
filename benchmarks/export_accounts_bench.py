"""Many-account export benchmark: N accounts at the real limit, exported at once in one process.

The fake server runs in a child process (``_fake_server.py``), its list pages generated
and cached before the clock starts, so the exporter's process is measured on its own; both
share this machine's cores. Each account holds exactly ``windows * requests`` pages (contacts,
organizations and work items; users fill the rest), so a full export needs ``windows`` windows.

Reported: per account, successful pages beyond the first window's allowance over the time from
its first to its last page, as a share of ``requests / per`` (min, mean, aggregate); 429s (the
client's count and the server's); most arrivals in any window; CPU seconds of the exporter and
of the server against wall time x cores (headroom).

    python benchmarks/export_accounts_bench.py                          # 200 accounts, 4 windows
    python benchmarks/export_accounts_bench.py --accounts 20 --per 10   # a quick look
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).parent))

from _fake_server import cpu_seconds, start_server, stop_server

import karbon_async as ka
from karbon_async.export import Account, Exporter

COLLECTIONS = ("Contacts", "Organizations", "WorkItems")


def sizes_for(args: argparse.Namespace) -> dict[str, int]:
    pages = args.windows * args.requests - 1  # one page of users
    share, extra = divmod(pages, len(COLLECTIONS))
    sizes = {name: share * args.page_size for name in COLLECTIONS}
    sizes["Contacts"] += extra * args.page_size
    sizes["Users"] = args.page_size
    return sizes


async def run(args: argparse.Namespace) -> dict[str, Any]:
    limit = ka.RateLimit(args.requests, args.per)
    started_server = time.monotonic()
    server, hello = await asyncio.to_thread(
        start_server,
        accounts=args.accounts,
        sizes=sizes_for(args),
        limit=limit,
        latency=(args.latency_min, args.latency_max),
    )
    warmup = time.monotonic() - started_server
    accounts = [
        Account(a["name"] + f" #{i}", a["token"], a["key"], hello["base_url"], limit)
        for i, a in enumerate(hello["accounts"])
    ]
    with tempfile.TemporaryDirectory(prefix="karbon-bench-") as out:
        exporter = Exporter(
            accounts,
            ["contacts", "organizations", "work-items", "users"],
            out=out,
            page_size=args.page_size,
            durable=not args.no_fsync,
        )
        cpu0, wall0 = cpu_seconds(), time.monotonic()
        report = await exporter.run()
        cpu, wall = cpu_seconds() - cpu0, time.monotonic() - wall0
    stats = await asyncio.to_thread(stop_server, server)
    rates = [a.sustained_rate() or 0.0 for a in report.accounts]
    beyond = sum(a.pages_fetched - limit.requests for a in report.accounts)
    spans = sum((a.last_page_at or 0) - (a.first_page_at or 0) for a in report.accounts)
    cores = os.cpu_count() or 1
    return {
        "accounts": args.accounts,
        "limit": f"{args.requests}/{args.per:g}s",
        "page_size": args.page_size,
        "windows": args.windows,
        "fsync": not args.no_fsync,
        "ok": report.ok,
        "records": report.records,
        "requests": report.requests,
        "pages": sum(a.pages_fetched for a in report.accounts),
        "wall_s": round(wall, 1),
        "server_warmup_s": round(warmup, 1),
        "rate_over_limit_min": round(min(rates), 4),
        "rate_over_limit_mean": round(sum(rates) / len(rates), 4),
        "rate_over_limit_aggregate": round(
            beyond
            / (spans / len(report.accounts))
            / (len(report.accounts) * args.requests / args.per),
            4,
        ),
        "client_429s": report.rate_limited,
        "server_429s": stats["rejected_429"],
        "server_max_in_window": stats["max_in_window"],
        "exporter_cpu_s": round(cpu, 1),
        "exporter_core_share": round(cpu / wall, 3),
        "server_cpu_s": round(stats["cpu"], 1),  # serving only, not the warm-up
        "cpu_headroom": round(1 - (cpu + stats["cpu"]) / (wall * cores), 3),
        "cores": cores,
        "python": platform.python_version(),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--accounts", type=int, default=200)
    parser.add_argument("--requests", type=int, default=120)
    parser.add_argument("--per", type=float, default=60.0)
    parser.add_argument("--windows", type=int, default=4)
    parser.add_argument("--page-size", type=int, default=10)
    parser.add_argument("--latency-min", type=float, default=0.01)
    parser.add_argument("--latency-max", type=float, default=0.05)
    parser.add_argument("--no-fsync", action="store_true")
    args = parser.parse_args()
    print(json.dumps(asyncio.run(run(args)), indent=1))


if __name__ == "__main__":
    main()
