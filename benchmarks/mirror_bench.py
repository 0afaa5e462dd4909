"""The mirror's freshness, burst drain and cost per change, against FakeKarbon and a throwaway
PostgreSQL (see benchmarks/README.md, "Mirror").

1. Steady: ``--accounts`` accounts, each changed ``--rate`` times a minute in Karbon (an update of
   a random contact or work item, with the event Karbon would send, delivered at once: the
   coalescing window set to 0). Freshness: webhook arrival -> change committed, p50 / p99.
2. Burst: ``--burst`` changes on one account at once: how long until all are committed, the
   share of the account's budget used meanwhile, 429s, and how long an interactive GET issued
   during the drain waited.
3. Cost: requests per change of the mirror, against polling (a full list read every 5 minutes,
   which is what it takes to be 5 minutes fresh without webhooks).

Limits are scaled (``--requests`` per ``--per`` seconds per account) so the run takes a minute.
"""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import os
import random
import socket
import statistics
import sys
import time
from pathlib import Path

from aiohttp import web

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))

from postgres_server import PostgresServer, find_bin_dir

import karbon_async as ka
from karbon_async import mirror as mr
from karbon_async.export import Account
from karbon_async.mirror import MirrorService
from karbon_async.testing import FakeKarbon

KEY = "mirror-bench-signing-key_01234"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def change(fake: FakeKarbon, rng: random.Random, index: int, position: int | None = None) -> None:
    """One update in Karbon and its event: a random record, or the ``position``-th."""
    account = fake.accounts[index]
    name, webhook = (
        rng.choice((("Contacts", "Contact"), ("WorkItems", "Work")))
        if position is None
        else (("Contacts", "Contact"), ("WorkItems", "Work"))[position % 2]
    )
    store = account.collection(name)
    slot = rng.randrange(store.base_size) if position is None else position // 2 % store.base_size
    key = store.key_of(slot)
    record = store.get(key)
    if record is None:
        return
    stamp = dt.datetime.now(dt.timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%f") + "0Z"
    if name == "Contacts":
        record["LastModifiedDateTime"] = stamp
        record["MiddleName"] = f"m{rng.random():.6f}"
    else:
        record["Description"] = f"d{rng.random():.6f}"
    store.put(key, record)
    fake.record_change(account, webhook, webhook, "Updated", key, {})


def quantile(values: list[float], q: int) -> float:
    return statistics.quantiles(values, n=100)[q - 1] if len(values) > 1 else float("nan")


async def run(args: argparse.Namespace, dsn: str) -> None:
    limit = ka.RateLimit(args.requests, args.per)
    rng = random.Random(1)
    async with FakeKarbon(
        accounts=args.accounts,
        size=args.size,
        rate_limit=limit,
        allow_insecure_webhooks=True,
        webhook_coalesce_window=0.0,
        webhook_retry_delays=(0.1,),
    ) as fake:
        accounts = [
            Account(f"a{a.index}", a.bearer_token, a.access_key, fake.base_url, limit)
            for a in fake.accounts
        ]
        port = free_port()
        mirror = mr.Mirror(dsn, resources=["contacts", "work-items"], schema=f"b{os.getpid()}")
        service = MirrorService(
            mirror,
            accounts,
            public_url=f"http://127.0.0.1:{port}",
            signing_key=KEY,
            reconcile_interval=3600,
            full_interval=3600 * 6,
            allow_insecure_loopback=True,
        )
        runner = web.AppRunner(service.app())
        await runner.setup()
        await web.TCPSite(runner, "127.0.0.1", port).start()
        started = time.monotonic()
        async with service:
            # The backfill first (it is the first reconciliation).
            while any(s["reconciliations"] == 0 for s in service.stats().values()):  # noqa: ASYNC110
                await asyncio.sleep(0.2)
            backfill = time.monotonic() - started
            requests_before = sum(len(a.arrivals) for a in fake.accounts)
            committed_before = sum(s.stats.changes for s in service._mirrors.values())
            print(f"backfill of {args.accounts} accounts x 2 x {args.size}: {backfill:.1f} s")

            # 1. steady
            interval = 60.0 / args.rate
            deadline = time.monotonic() + args.duration
            next_at = [time.monotonic() + rng.uniform(0, interval) for _ in accounts]
            changes = 0
            while time.monotonic() < deadline:
                now = time.monotonic()
                for index, due in enumerate(next_at):
                    if due <= now:
                        change(fake, rng, index)
                        changes += 1
                        next_at[index] = due + interval
                await asyncio.sleep(0.01)
            await asyncio.sleep(3)
            fresh = [f for s in service._mirrors.values() for f in s.stats.freshness]
            committed = sum(s.stats.changes for s in service._mirrors.values()) - committed_before
            requests = sum(len(a.arrivals) for a in fake.accounts) - requests_before
            print(
                f"steady: {changes} changes ({args.rate}/min/account, {args.accounts} accounts, "
                f"{args.duration:g} s): committed {committed}; freshness p50 "
                f"{quantile(fresh, 50) * 1000:.0f} ms, p99 {quantile(fresh, 99) * 1000:.0f} ms; "
                f"{requests / max(changes, 1):.2f} requests per change"
            )
            records = 2 * args.size
            mirror_per_5 = args.rate * 5 * requests / max(changes, 1)
            print(
                f"cost per account per 5 minutes: polling {records} records every 5 min = "
                f"{records / 100:.0f} requests whatever changed, stale up to 5 min; the mirror at "
                f"{args.rate:g} changes/min = {mirror_per_5:.0f} requests, fresh as above "
                f"(plus reconciliation: {records / 100:.0f} per full pass, every 6 h)"
            )

            # 2. burst on account 0, an interactive GET in the middle
            account = fake.accounts[0]
            before = len(account.arrivals)
            first = service._mirrors["a0"]
            base = first.stats.changes
            t0 = time.monotonic()
            for position in range(args.burst):  # distinct records: nothing to coalesce
                change(fake, rng, 0, position)
            await asyncio.sleep(0.5)
            key = account.collection("Contacts").key_of(0)
            asked = time.monotonic()
            await first.client.contacts.get(key)
            interactive = time.monotonic() - asked
            while first.worker.queued or first.worker._running:
                if time.monotonic() - t0 > 600:
                    break
                await asyncio.sleep(0.05)
            drain = time.monotonic() - t0
            used = len(account.arrivals) - before
            share = used / (drain * limit.requests / limit.per)
            print(
                f"burst: {args.burst} changes on one account ({first.stats.changes - base} "
                f"committed) drained in {drain:.1f} s, "
                f"{used} requests = {share:.2f} of the budget meanwhile; an interactive GET "
                f"waited {interactive * 1000:.0f} ms; 429s: "
                f"{sum(a.rejected_429 for a in fake.accounts)}; max in window: "
                f"{max(a.max_in_window() for a in fake.accounts)} / {limit.requests}"
            )
        await runner.cleanup()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--accounts", type=int, default=50)
    parser.add_argument("--size", type=int, default=200)
    parser.add_argument("--rate", type=float, default=60.0, help="changes/minute/account")
    parser.add_argument("--duration", type=float, default=30.0)
    parser.add_argument("--burst", type=int, default=1000)
    parser.add_argument("--requests", type=int, default=20)
    parser.add_argument("--per", type=float, default=1.0)
    args = parser.parse_args()
    bin_dir = find_bin_dir()
    if bin_dir is None:
        sys.exit("PostgreSQL is not installed (apt-get install postgresql)")
    server = PostgresServer(bin_dir)
    server.start()
    try:
        print(
            f"{dt.date.today()} {os.cpu_count()} cores, load {os.getloadavg()[0]:.2f}, "
            f"Python {sys.version.split()[0]}; limit {args.requests}/{args.per:g} s per account"
        )
        asyncio.run(run(args, server.dsn))
    finally:
        server.close()


if __name__ == "__main__":
    main()
