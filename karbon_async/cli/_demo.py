"""``karbon-async demo``: dozens of fake accounts at the real limit, all exported at once."""

from __future__ import annotations

import argparse
import asyncio
import tempfile
from typing import Any

from .._cli_inputs import check_writable
from .._limits import RateLimit
from ..export import DEFAULT_RESOURCES, Account, Exporter
from ._common import EXIT_FAILED, _positive_int, _positive_seconds
from ._progress import VIEWS, EventRelay, _add_progress, resolve_progress, run_with_view
from ._summary import print_summary


def _warm(fake: Any) -> None:
    for account in fake.accounts:
        for name in ("Contacts", "Organizations", "WorkItems", "Users"):
            store = account.collection(name)
            for index in store.iter_indexes():
                store.summary_at(index)


def _sustained_rate(arrivals: list[float], limit: RateLimit) -> float | None:
    """Requests after the first window over the time they took, as a share of the limit."""
    if len(arrivals) <= limit.requests + 1:
        return None
    span = arrivals[-1] - arrivals[0]
    return (len(arrivals) - limit.requests) / span / (limit.requests / limit.per)


async def run_demo(args: argparse.Namespace) -> int:
    """FakeKarbon in-process, dozens of accounts at the real limit, all exported at once."""
    from ..testing import FakeKarbon

    mode = resolve_progress(args.progress)
    limit = RateLimit(args.requests, args.per)
    # Each account needs two windows' worth of pages: one minute at the real limit.
    pages_wanted = args.windows * limit.requests
    per_collection = pages_wanted // 3
    sizes = {
        "Contacts": (per_collection + pages_wanted % 3 - 1) * args.page_size,
        "Organizations": per_collection * args.page_size,
        "WorkItems": per_collection * args.page_size,
        "Users": args.page_size,
    }
    out = args.out or tempfile.mkdtemp(prefix="karbon-demo-")
    check_writable(out)
    print(
        f"FakeKarbon in-process: {args.accounts} accounts, limit {limit.requests} requests per "
        f"{limit.per:g} s each, latency 20-80 ms, {pages_wanted} pages of {args.page_size} "
        f"records per account; exporting all at once to {out}",
        flush=True,
    )
    async with FakeKarbon(
        accounts=args.accounts, rate_limit=limit, latency=(0.02, 0.08), sizes=sizes, size=0
    ) as fake:
        # Generate the fake data up front: the real server's work is not the client's.
        await asyncio.to_thread(_warm, fake)
        accounts = [
            Account(a.name, a.bearer_token, a.access_key, fake.base_url, limit)
            for a in fake.accounts
        ]
        relay = EventRelay()
        exporter = Exporter(
            accounts,
            list(DEFAULT_RESOURCES),
            out=out,
            page_size=args.page_size,
            resume=False,
            on_event=relay,
        )
        view = VIEWS[mode](exporter, args.progress_interval)
        relay.listeners.append(view.on_event)
        report = await run_with_view(exporter, view)
        if args.verbose:
            print_summary(report, plain=True)
        header = (
            f"{'account':30} {'records':>8} {'requests':>8} {'429s':>5} "
            f"{'peak window':>12} {'rate/limit':>10}"
        )
        print(header)
        print("-" * len(header))
        rates = []
        for account, progress in zip(fake.accounts, report.accounts, strict=True):
            rate = _sustained_rate(sorted(account.arrivals), limit)
            if rate is not None:
                rates.append(rate)
            print(
                f"{account.name[:30]:30} {progress.records:8} {len(account.arrivals):8} "
                f"{account.rejected_429:5} {account.max_in_window():>5}/{limit.requests:<6} "
                f"{'-' if rate is None else f'{rate:.2f}':>10}"
            )
        total_429 = sum(a.rejected_429 for a in fake.accounts)
        mean = sum(rates) / len(rates) if rates else float("nan")
    print(
        f"\n{report.records} records and {report.requests} requests in {report.seconds:.1f} s; "
        f"{total_429} 429s; mean rate/limit {mean:.2f}.\n"
        f"peak window: the most requests the server saw arrive in any {limit.per:g} s for one "
        f"account (never above the limit). rate/limit: requests after the first window over "
        f"the time from first to last request, as a share of {limit.requests}/{limit.per:g} s.\n"
        f"Files: {out}"
    )
    return 0 if report.ok and total_429 == 0 else EXIT_FAILED


def command_demo(args: argparse.Namespace) -> int:
    return asyncio.run(run_demo(args))


def add_parser(commands: Any) -> None:
    """The command's parser, on the main parser's subparsers."""
    demo = commands.add_parser("demo", help="export dozens of fake accounts at once, live")
    demo.add_argument("--accounts", type=_positive_int, default=24)
    demo.add_argument("--page-size", type=_positive_int, default=10)
    demo.add_argument(
        "--windows", type=_positive_int, default=2, help="windows of requests per account"
    )
    demo.add_argument("--requests", type=_positive_int, default=120)
    demo.add_argument("--per", type=_positive_seconds, default=60.0)
    demo.add_argument("--out", help="output directory (default: a new temporary one)")
    demo.add_argument("--verbose", action="store_true", help="also print the per-stream table")
    _add_progress(demo)
