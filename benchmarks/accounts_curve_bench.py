"""How many accounts one client process keeps at the rate limit: the accounts -> rate curve.

Each point runs in a fresh client process against a fresh ``_page_server`` child (endless
100-item contact lists, Karbon's per-account sliding window, 20-40 ms latency), for a fixed
``--duration``, then stops the client (cancels it) and reports:

- ``rate_over_limit``: the aggregate sustained rate, defined as in ``export_accounts_bench.py``:
  successful pages beyond the first window's allowance (``requests`` per account), over the
  mean time from an account's first to its last page, divided by ``accounts x requests / per``;
  ``rate_over_limit_min`` is the slowest account's own figure;
- 429s as the client counted them and as the server sent them, and the most arrivals the server
  saw in any ``per`` seconds for any account;
- CPU of the client process (all threads) and of the server over the measured span, as a
  fraction of wall time (1.0 = one core busy), the client's time in garbage collection, and the
  event loop's lag (how late a 50 ms sleep wakes up: a busy loop makes every response late).

Modes: ``exporter`` is one ``Exporter`` over all accounts (contacts only, JSON Lines into a
temporary directory, durable as by default); ``typed`` is one ``KarbonClient`` per account, each
iterating ``client.contacts.list(page_size=100)`` with ``async for``, all in one event loop, the
collector as the SDK leaves it (tuned by itself since many listings run: ``ka.auto_gc``).

Each row carries the machine's load average (1 minute) before and after its point: on a shared
machine a point is only comparable with the points run beside it. ``--baseline CHECKOUT`` runs
every point a second time, right after, with that checkout's ``karbon_async`` (before/after).

    python benchmarks/accounts_curve_bench.py --mode exporter typed --accounts 50 200 500 1000
    python benchmarks/accounts_curve_bench.py --points exporter:1000 exporter:1500 typed:500
    python benchmarks/accounts_curve_bench.py --points typed:500 --baseline ../main --duration 20
    python benchmarks/accounts_curve_bench.py --mode exporter --accounts 500 --profile prof.txt
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import datetime as dt
import gc
import importlib
import json
import os
import platform
import resource
import subprocess
import sys
import tempfile
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).parent))

from _fake_server import cpu_seconds
from _page_server import PageServer, run_delay

import karbon_async as ka
from karbon_async.export import Account, Exporter

PAGE = 100
LAG_TICK = 0.05

Tally = tuple[int, float | None, float | None]
"""One account's successful pages, and the times of its first and last."""


class Probe:
    """Garbage-collection time (``gc.callbacks``) and event-loop lag while a point runs."""

    def __init__(self) -> None:
        self.gc_seconds = 0.0
        self.collections = 0
        self.longest = 0.0
        self._gc_start = 0.0
        self.lags: list[float] = []
        self.by_generation = [[0, 0.0], [0, 0.0], [0, 0.0]]
        """Per generation: collections and their seconds."""

    def _on_gc(self, phase: str, info: dict[str, int]) -> None:
        if phase == "start":
            self._gc_start = time.perf_counter()
        else:
            pause = time.perf_counter() - self._gc_start
            self.gc_seconds += pause
            self.longest = max(self.longest, pause)
            self.collections += 1
            tally = self.by_generation[info["generation"]]
            tally[0] += 1
            tally[1] += pause

    async def _tick(self) -> None:
        while True:
            before = time.monotonic()
            await asyncio.sleep(LAG_TICK)
            self.lags.append(time.monotonic() - before - LAG_TICK)

    @contextlib.asynccontextmanager
    async def running(self) -> AsyncIterator[Probe]:
        gc.callbacks.append(self._on_gc)
        ticker = asyncio.ensure_future(self._tick())
        try:
            yield self
        finally:
            ticker.cancel()
            gc.callbacks.remove(self._on_gc)

    def lag_ms(self) -> dict[str, float]:
        lags = sorted(self.lags) or [0.0]
        return {
            "mean": round(1000 * sum(lags) / len(lags), 1),
            "p99": round(1000 * lags[int(0.99 * (len(lags) - 1))], 1),
            "max": round(1000 * lags[-1], 1),
        }


def rates(tallies: list[Tally], limit: ka.RateLimit, started: float, wall: float) -> dict[str, Any]:
    per_account = limit.requests / limit.per
    beyond = [max(0, pages - limit.requests) for pages, _, _ in tallies]
    spans = [(last or 0.0) - (first or 0.0) for _, first, last in tallies]
    mean_span = sum(spans) / len(spans)
    own = [b / s / per_account if s > 0 else 0.0 for b, s in zip(beyond, spans, strict=True)]
    counts = sorted(pages for pages, _, _ in tallies)
    firsts = [first - started for _, first, _ in tallies if first is not None]
    return {
        "rate_over_limit": round(
            sum(beyond) / mean_span / (len(tallies) * per_account) if mean_span else 0.0, 4
        ),
        "rate_over_limit_min": round(min(own), 4),
        "throughput_over_limit": round(sum(counts) / wall / (len(tallies) * per_account), 4),
        "accounts_started": len(firsts),
        "slowest_first_page_s": round(max(firsts, default=0.0), 1),
        "pages_per_account_min_median_max": [counts[0], counts[len(counts) // 2], counts[-1]],
    }


# --- the two clients: each starts its work and returns a snapshot function ------------------

Snapshot = Callable[[], tuple[list[Tally], int]]
"""Per-account tallies and the client's count of 429s, at the moment it is called."""


async def run_for(
    duration: float, start: Callable[[], tuple[Awaitable[Any], Snapshot]]
) -> tuple[asyncio.Future[Any], Snapshot]:
    work, snapshot = start()
    task = asyncio.ensure_future(work)
    done, _ = await asyncio.wait([task], timeout=duration)
    if done:  # it should run until stopped: something failed
        task.result()
        raise RuntimeError("the client finished before the duration was up")
    return task, snapshot


def exporter_client(
    base_url: str, accounts: int, limit: ka.RateLimit, out: str, durable: bool
) -> tuple[Awaitable[Any], Snapshot]:
    exporter = Exporter(
        [Account(f"a{i}", f"t{i}", f"k{i}", base_url, limit) for i in range(accounts)],
        ["contacts"],
        out=out,
        page_size=PAGE,
        durable=durable,
    )

    def snapshot() -> tuple[list[Tally], int]:
        progress = exporter.refresh()
        tallies = [(a.pages_fetched, a.first_page_at, a.last_page_at) for a in progress]
        return tallies, sum(a.rate_limited for a in progress)

    return exporter.run(), snapshot


def typed_client(
    base_url: str, accounts: int, limit: ka.RateLimit
) -> tuple[Awaitable[Any], Snapshot]:
    clients = [
        ka.KarbonClient(
            bearer_token=f"t{i}", access_key=f"k{i}", base_url=base_url, rate_limit=limit
        )
        for i in range(accounts)
    ]
    items = [0] * accounts
    first: list[float | None] = [None] * accounts
    last: list[float | None] = [None] * accounts

    async def iterate(index: int, client: ka.KarbonClient) -> None:
        async with client:
            async for _contact in client.contacts.list(page_size=PAGE):
                count = items[index] = items[index] + 1
                if count % PAGE == 1:  # the first item of a page: the page just arrived
                    last[index] = now = time.monotonic()
                    if first[index] is None:
                        first[index] = now

    def snapshot() -> tuple[list[Tally], int]:
        tallies = [(-(-n // PAGE), f, t) for n, f, t in zip(items, first, last, strict=True)]
        return tallies, sum(c.budget.snapshot().rate_limited for c in clients)

    work = asyncio.gather(*(iterate(i, c) for i, c in enumerate(clients)))
    return work, snapshot


# --- one point, in this process ---------------------------------------------------------------


def start_profiler(path: str | None) -> Callable[[], None]:
    """pyinstrument (``pip install pyinstrument``; not a dependency) sampling this thread."""
    if path is None:
        return lambda: None
    pyinstrument = importlib.import_module("pyinstrument")
    renderers = importlib.import_module("pyinstrument.renderers")
    profiler = pyinstrument.Profiler(interval=0.001, async_mode="disabled")
    profiler.start()

    def stop() -> None:
        profiler.stop()
        flat = renderers.ConsoleRenderer(flat=True, show_all=True)
        tree = renderers.ConsoleRenderer(show_all=False)
        text = profiler.output(flat) + "\n\n" + profiler.output(tree)
        Path(path).write_text(text, encoding="utf-8")

    return stop


async def point(args: argparse.Namespace, mode: str, accounts: int) -> dict[str, Any]:
    limit = ka.RateLimit(args.requests, args.per)
    server = await asyncio.to_thread(
        PageServer,
        requests=args.requests,
        per=args.per,
        latency=(args.latency_min, args.latency_max),
        page_size=PAGE,
    )
    with tempfile.TemporaryDirectory(prefix="karbon-curve-") as out:
        if mode == "exporter":

            def start() -> tuple[Awaitable[Any], Snapshot]:
                return exporter_client(server.base_url, accounts, limit, out, not args.no_fsync)
        else:

            def start() -> tuple[Awaitable[Any], Snapshot]:
                return typed_client(server.base_url, accounts, limit)

        load = os.getloadavg()[0]
        server.mark("start")
        stop_profiler = start_profiler(args.profile)
        cpu0, wall0, wait0 = cpu_seconds(), time.monotonic(), run_delay()
        usage0 = resource.getrusage(resource.RUSAGE_SELF)
        if mode == "typed" and args.no_auto_gc and hasattr(ka, "auto_gc"):
            ka.auto_gc(False)
        tune = ka.tuned_gc() if mode == "typed" and args.tune_gc else contextlib.nullcontext()
        with tune:
            async with Probe().running() as probe:
                task, snapshot = await run_for(args.duration, start)
                tallies, client_429s = snapshot()
                cpu, wall = cpu_seconds() - cpu0, time.monotonic() - wall0
                usage = resource.getrusage(resource.RUSAGE_SELF)
                kernel = usage.ru_stime - usage0.ru_stime
                faults = usage.ru_minflt - usage0.ru_minflt
                waited = run_delay() - wait0
        stop_profiler()
        server.mark("stop")
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
    served = await asyncio.to_thread(server.stop)
    pages = sum(t[0] for t in tallies)
    return {
        "mode": mode,
        "accounts": accounts,
        "limit": f"{args.requests}/{args.per:g}s",
        "latency_ms": f"{1000 * args.latency_min:g}-{1000 * args.latency_max:g}",
        "page_size": PAGE,
        "duration_s": round(wall, 1),
        "fsync": mode == "exporter" and not args.no_fsync,
        "gc_tuned": gc_tuning(mode, args),
        "sdk": os.environ.get("KARBON_CURVE_LABEL", "this checkout"),
        "pages": pages,
        "pages_per_s": round(pages / wall, 1),
        **rates(tallies, limit, wall0, wall),
        "client_429s": client_429s,
        "server_429s": served["rejected_429"],
        "server_requests": served["requests"],
        "server_max_in_window": served["max_in_window"],
        "client_cpu": round(cpu / wall, 3),
        "client_gc_share": round(probe.gc_seconds / cpu, 3) if cpu else 0.0,
        "client_kernel_share": round(kernel / cpu, 3) if cpu else 0.0,
        "client_page_faults": faults,
        "client_collections": probe.collections,
        "client_gc_longest_ms": round(1000 * probe.longest, 1),
        "client_gc_by_generation": [[n, round(1000 * s)] for n, s in probe.by_generation],
        "loop_lag_ms": probe.lag_ms(),
        "client_peak_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024),
        "client_runqueue_wait": round(waited / wall, 3),
        "server_cpu": round(served["cpu_s"] / served["wall_s"], 3),
        "server_runqueue_wait": round(served["run_delay_s"] / served["wall_s"], 3),
        "server_not_found": served["not_found"],
        "load_avg_before": round(load, 2),
        "load_avg_after": round(os.getloadavg()[0], 2),
        "cores": os.cpu_count(),
        "python": platform.python_version(),
        "date": dt.date.today().isoformat(),
    }


def gc_tuning(mode: str, args: argparse.Namespace) -> str:
    if mode == "exporter" or args.tune_gc:
        return "tuned_gc()"
    if not hasattr(ka, "auto_gc"):
        return "untuned (no auto_gc in this checkout)"
    return "untuned (auto_gc off)" if args.no_auto_gc else "auto"


# --- the driver: one fresh process per point ---------------------------------------------------


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--mode", nargs="+", choices=("exporter", "typed"), default=["exporter"])
    parser.add_argument("--accounts", nargs="+", type=int, default=[50, 200, 500, 1000])
    parser.add_argument(
        "--points", nargs="+", help="mode:accounts pairs (exporter:1500 typed:500), in order"
    )
    parser.add_argument("--baseline", help="also run each point with this checkout's SDK")
    parser.add_argument(
        "--no-auto-gc", action="store_true", help="typed: ka.auto_gc(False) (the collector as is)"
    )
    parser.add_argument("--duration", type=float, default=30.0, help="seconds per point")
    parser.add_argument("--requests", type=int, default=4)
    parser.add_argument("--per", type=float, default=2.0)
    parser.add_argument("--latency-min", type=float, default=0.02)
    parser.add_argument("--latency-max", type=float, default=0.04)
    parser.add_argument("--no-fsync", action="store_true", help="exporter: durable=False")
    parser.add_argument(
        "--tune-gc", action="store_true", help="typed: ka.tuned_gc() around the run"
    )
    parser.add_argument("--profile", help="write a pyinstrument profile of the client here")
    parser.add_argument("--point", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.point:
        print(json.dumps(asyncio.run(point(args, args.mode[0], args.accounts[0]))), flush=True)
        return
    points = [(mode, n) for mode in args.mode for n in args.accounts]
    if args.points:
        points = [(p.split(":")[0], int(p.split(":")[1])) for p in args.points]
    if args.profile and len(points) > 1:
        parser.error("--profile takes one --mode and one --accounts")
    common = [
        "--duration", str(args.duration), "--requests", str(args.requests),
        "--per", str(args.per), "--latency-min", str(args.latency_min),
        "--latency-max", str(args.latency_max),
    ]  # fmt: skip
    if args.profile:
        common += ["--profile", args.profile]
    common += [
        f"--{flag}"
        for flag in ("no-fsync", "tune-gc", "no-auto-gc")
        if vars(args)[flag.replace("-", "_")]
    ]
    sdks = [("this checkout", None)]
    if args.baseline:
        sdks.append((f"baseline {args.baseline}", str(Path(args.baseline).resolve())))
    rows = []
    for mode, accounts in points:
        for label, path in sdks:
            command = [sys.executable, __file__, "--point", "--mode", mode]
            command += ["--accounts", str(accounts), *common]
            env = dict(os.environ, KARBON_CURVE_LABEL=label)
            if path is not None:  # found before this checkout's installed package
                env["PYTHONPATH"] = os.pathsep.join([path, env.get("PYTHONPATH", "")])
            result = subprocess.run(command, stdout=subprocess.PIPE, text=True, check=True, env=env)
            print(result.stdout.strip(), flush=True)
            rows.append(json.loads(result.stdout))
    print(markdown(rows), file=sys.stderr)


COLUMNS = {
    "sdk": "SDK",
    "mode": "mode",
    "accounts": "accounts",
    "rate_over_limit": "rate / limit",
    "rate_over_limit_min": "min account",
    "accounts_started": "accounts started",
    "pages_per_s": "pages/s",
    "server_429s": "429s",
    "server_max_in_window": "max in window",
    "client_cpu": "client CPU",
    "client_gc_share": "GC share of client CPU",
    "loop_lag_ms": "loop lag ms",
    "client_runqueue_wait": "client run-queue wait",
    "server_cpu": "server CPU",
    "load_avg_before": "load avg before",
    "load_avg_after": "load avg after",
}


def markdown(rows: list[dict[str, Any]]) -> str:
    """The README's table of these points."""
    lines = ["| " + " | ".join(COLUMNS.values()) + " |", "|" + "---|" * len(COLUMNS)]
    lines += ["| " + " | ".join(str(row[key]) for key in COLUMNS) + " |" for row in rows]
    return "\n".join(lines)


if __name__ == "__main__":
    main()
