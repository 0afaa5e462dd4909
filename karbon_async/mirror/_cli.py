"""``karbon-async mirror``: run the mirror service, or (``--status``) report from PostgreSQL;
``karbon-async mirror worker``: a fleet worker that fetches the events a service sends it
(``--fleet-broker``)."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import signal
from typing import TYPE_CHECKING, Any

from .._cli_inputs import UsageError, check_redis_url, load_accounts, resolve_resources_arg
from ..export._postgres import check_dsn
from ..fleet import _cli as fleet_cli
from ._resources import DEFAULT_MIRROR_RESOURCES
from ._service import (
    DEFAULT_FULL_INTERVAL,
    DEFAULT_RECONCILE_INTERVAL,
    DEFAULT_SUBSCRIPTION_INTERVAL,
)

if TYPE_CHECKING:
    from ._fleet import FleetEvents

SIGNING_KEY_ENV = "KARBON_WEBHOOK_SIGNING_KEY"


def add_parser(commands: Any) -> None:
    """The ``mirror`` command, on the main parser's subparsers."""
    mirror = commands.add_parser(
        "mirror",
        help="keep a live copy of Karbon in PostgreSQL, fresh by webhooks",
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    mirror.add_argument("--to", help="postgresql:// URL of the mirror")
    mirror.add_argument("--schema", default="public", help="PostgreSQL schema of the tables")
    mirror.add_argument("--status", action="store_true", help="report the mirror's state, exit")
    mirror.add_argument("--json", action="store_true", help="with --status: one JSON document")
    mirror.add_argument("--accounts", help="TOML file with one table per account (as for export)")
    mirror.add_argument("--listen", default="127.0.0.1:8000", help="HOST:PORT to receive on")
    mirror.add_argument(
        "--public-url",
        help="the URL Karbon calls (what --listen is reachable as); each account's deliveries "
        "arrive at PUBLIC_URL/<account>",
    )
    mirror.add_argument(
        "--resources",
        default=",".join(DEFAULT_MIRROR_RESOURCES),
        help="comma-separated resources to mirror",
    )
    mirror.add_argument(
        "--reconcile-interval", type=float, default=DEFAULT_RECONCILE_INTERVAL,
        help="seconds between incremental reconciliations",
    )  # fmt: skip
    mirror.add_argument(
        "--full-interval", type=float, default=DEFAULT_FULL_INTERVAL,
        help="seconds between full reconciliations (which find deletions)",
    )  # fmt: skip
    mirror.add_argument(
        "--subscription-interval", type=float, default=DEFAULT_SUBSCRIPTION_INTERVAL,
        help="seconds between checks that the webhook subscriptions still exist",
    )  # fmt: skip
    mirror.add_argument(
        "--fleet-broker",
        help="a redis:// URL: send each event to the Celery workers of `mirror worker` on this "
        "broker instead of fetching here; every account's budget is then shared in Redis",
    )
    mirror.add_argument(
        "--fleet-redis", help="with --fleet-broker: Redis of the budgets (default: the broker)"
    )
    sub = mirror.add_subparsers(dest="mirror_command", metavar="{worker}")
    worker = sub.add_parser(
        "worker",
        help="run a fleet worker for the events of `mirror --fleet-broker`",
    )
    fleet_cli.add_worker_arguments(worker)


def command_mirror(args: argparse.Namespace) -> int:
    if args.mirror_command == "worker":
        from ._fleet import MIRROR_QUEUE, register_mirror_task

        return fleet_cli.run_worker(args, register=register_mirror_task, queues=[MIRROR_QUEUE])
    if not args.to:
        raise UsageError("give --to postgresql://... (the mirror's database)")
    try:
        check_dsn(args.to)
    except ValueError as exc:
        raise UsageError(str(exc)) from exc
    if args.status:
        return asyncio.run(_status(args))
    if not args.accounts:
        raise UsageError("give --accounts ACCOUNTS.toml (or --status)")
    if not args.public_url:
        raise UsageError("give --public-url: the URL Karbon calls to reach --listen")
    signing_key = os.environ.get(SIGNING_KEY_ENV)
    if not signing_key:
        raise UsageError(f"set {SIGNING_KEY_ENV}: the key every subscription is signed with")
    host, _, port = args.listen.rpartition(":")
    if not host or not port.isdigit() or not 0 < int(port) < 65536:
        raise UsageError(f"--listen must be HOST:PORT, got {args.listen!r}")
    accounts = load_accounts(args.accounts)
    resources = resolve_resources_arg(args.resources)
    events_to = None
    if args.fleet_broker:
        from ._fleet import FleetEvents

        make_app = fleet_cli.app_maker(args.fleet_broker, "--fleet-broker", None)
        if args.fleet_redis:
            check_redis_url(args.fleet_redis, "--fleet-redis")
        events_to = FleetEvents(
            make_app(args.fleet_broker),
            dsn=args.to,
            schema=args.schema,
            resources=resources,
            redis=args.fleet_redis or args.fleet_broker,
        )
    elif args.fleet_redis:
        raise UsageError("--fleet-redis goes with --fleet-broker")
    from urllib.parse import urlsplit

    public_host = urlsplit(args.public_url).hostname or ""
    loopback = public_host in ("127.0.0.1", "localhost", "::1")
    return asyncio.run(
        _run(args, accounts, resources, signing_key, host, int(port), loopback, events_to)
    )


async def _run(
    args: argparse.Namespace,
    accounts: Any,
    resources: list[str],
    signing_key: str,
    host: str,
    port: int,
    loopback: bool,
    events_to: FleetEvents | None,
) -> int:
    from aiohttp import web

    from ._mirror import Mirror
    from ._service import MirrorService

    mirror = Mirror(args.to, resources=resources, schema=args.schema)
    service = MirrorService(
        mirror,
        accounts,
        public_url=args.public_url,
        signing_key=signing_key,
        reconcile_interval=args.reconcile_interval,
        full_interval=args.full_interval,
        subscription_interval=args.subscription_interval,
        allow_insecure_loopback=loopback,
        events_to=events_to,
    )
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        with contextlib.suppress(NotImplementedError):
            loop.add_signal_handler(sig, stop.set)
    runner = web.AppRunner(service.app())
    await runner.setup()
    try:
        try:
            await web.TCPSite(runner, host, port).start()
        except OSError as exc:
            raise UsageError(f"cannot listen on {host}:{port}: {exc.strerror or exc}") from exc
        async with service:
            print(
                f"mirroring {len(accounts)} account(s) into {args.schema}; receiving on "
                f"{host}:{port} as {args.public_url}"
                + (f"; events go to the fleet at {args.fleet_broker}" if events_to else "")
                + ". Ctrl-C stops it.",
                flush=True,
            )
            await stop.wait()
    finally:
        await runner.cleanup()
    return 0


async def _status(args: argparse.Namespace) -> int:
    from ..export._postgres import connect_pool
    from ._store import MirrorStore

    try:
        pool = await connect_pool(args.to, max_size=2)
    except (OSError, ValueError) as exc:
        raise UsageError(f"cannot connect to {args.to.split('@')[-1]}: {exc}") from exc
    try:
        status = await MirrorStore(pool, schema=args.schema).status()
    finally:
        await pool.close()
    if args.json:
        print(json.dumps(status, default=str))
        return 0
    for row in status["streams"]:
        print(
            f"{row['account']:<20} {row['resource']:<15} live {row['live']:>7} "
            f"deleted {row['deleted']:>6}  last incremental {row['last_incremental_at'] or '-'}  "
            f"last full {row['last_full_at'] or '-'}"
            + ("  (pass under way)" if row["running"] else "")
        )
    for name, pending in status["handlers"].items():
        print(f"handler {name}: {pending} change(s) not yet delivered")
    print(f"changes committed: {status['changes']}")
    return 0
