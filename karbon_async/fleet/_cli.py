"""``karbon-async fleet submit`` and ``karbon-async fleet worker``."""

from __future__ import annotations

import argparse
import json
import os
import socket
import sys
from typing import Any

from .._cli_inputs import (
    UsageError,
    check_redis_url,
    load_accounts,
    parse_since,
    resolve_resources_arg,
)
from ._shards import VISIBILITY_TIMEOUT

DEFAULT_SHARD_SIZE = 50
"""Accounts per task, measured (benchmarks/FLEET.md, "Shard size, measured"): the largest shard
that kept one worker process below 70% of a core with its accounts at 0.9 of their limit or
better (pages of 100 records at Karbon's pace, ~4.4 ms of CPU a page)."""


def add_parser(commands: Any) -> None:
    """The ``fleet`` command and its subcommands, on the main parser's subparsers."""
    fleet = commands.add_parser(
        "fleet", help="export many accounts on Celery workers into PostgreSQL"
    )
    sub = fleet.add_subparsers(dest="fleet_command", required=True)
    broker_help = "Celery broker, a redis:// URL (default: $KARBON_FLEET_BROKER)"

    submit = sub.add_parser("submit", help="enqueue shards of accounts")
    submit.add_argument("accounts", help="TOML file with one table per account")
    submit.add_argument("--to", required=True, help="postgresql:// URL the workers write to")
    submit.add_argument("--broker", default=os.environ.get("KARBON_FLEET_BROKER"), help=broker_help)
    submit.add_argument("--redis", help="Redis for the accounts' budgets (default: the broker)")
    submit.add_argument("--resources", default=None, help="as for export")
    submit.add_argument("--since", help="as for export")
    submit.add_argument("--page-size", type=int, default=100)
    submit.add_argument("--schema", default="public", help="PostgreSQL schema of the tables")
    submit.add_argument("--shard-size", type=int, default=DEFAULT_SHARD_SIZE)
    submit.add_argument("--pass-id", help="resume this pass instead of starting a new one")
    submit.add_argument("--wait", action="store_true", help="wait for every shard; summarise")
    submit.add_argument("--timeout", type=float, default=None, help="seconds to --wait")

    worker = sub.add_parser("worker", help="run a Celery worker for the fleet's shards")
    worker.add_argument("--broker", default=os.environ.get("KARBON_FLEET_BROKER"), help=broker_help)
    worker.add_argument("--concurrency", type=int, default=1, help="pool processes")
    worker.add_argument("--name", default=f"karbon@{socket.gethostname()}-{os.getpid()}")
    worker.add_argument("--loglevel", default="INFO")
    worker.add_argument(
        "--visibility-timeout",
        type=float,
        help="seconds before the shard of a worker that died whole goes to another worker; "
        "live workers renew theirs (default: $KARBON_FLEET_VISIBILITY_TIMEOUT or "
        f"{VISIBILITY_TIMEOUT:g})",
    )


def visibility_timeout_of(args: argparse.Namespace) -> float:
    """``--visibility-timeout``, else ``$KARBON_FLEET_VISIBILITY_TIMEOUT``, else the default."""
    if args.visibility_timeout is not None:
        return float(args.visibility_timeout)
    raw = os.environ.get("KARBON_FLEET_VISIBILITY_TIMEOUT")
    try:
        return float(raw) if raw else VISIBILITY_TIMEOUT
    except ValueError:
        raise UsageError(
            f"KARBON_FLEET_VISIBILITY_TIMEOUT must be a number of seconds, not {raw!r}"
        ) from None


def command_fleet(args: argparse.Namespace) -> int:
    if not args.broker:
        raise UsageError("give --broker redis://... (or set KARBON_FLEET_BROKER)")
    check_redis_url(args.broker, "--broker (or KARBON_FLEET_BROKER)")
    if getattr(args, "redis", None):
        check_redis_url(args.redis, "--redis")
    try:
        from ._app import make_app
    except ImportError as exc:
        raise UsageError("the fleet needs Celery: pip install 'karbon-async[fleet]'") from exc
    if args.fleet_command == "worker":
        try:
            app = make_app(args.broker, visibility_timeout=visibility_timeout_of(args))
        except ValueError as exc:
            raise UsageError(f"--visibility-timeout: {exc}") from exc
        app.worker_main(
            [
                "worker",
                f"--concurrency={args.concurrency}",
                "--pool=prefork",
                f"--hostname={args.name}",
                f"--loglevel={args.loglevel}",
                "--without-gossip",
                "--without-mingle",
            ]
        )
        return 0
    return _submit(make_app(args.broker), args)


def _submit(app: Any, args: argparse.Namespace) -> int:
    from ..export import DEFAULT_RESOURCES
    from ..export._postgres import check_dsn
    from ._app import TASK
    from ._shards import make_shards

    try:
        check_dsn(args.to)
    except ValueError as exc:
        raise UsageError(str(exc)) from exc
    accounts = load_accounts(args.accounts)
    resources = resolve_resources_arg(args.resources or ",".join(DEFAULT_RESOURCES))
    parse_since(args.since)  # refused here rather than in every worker
    try:
        shards = make_shards(
            accounts,
            resources,
            dsn=args.to,
            redis=args.redis or args.broker,
            shard_size=args.shard_size,
            page_size=args.page_size,
            schema=args.schema,
            since=args.since,
            pass_id=args.pass_id,
        )
    except ValueError as exc:
        raise UsageError(str(exc)) from exc
    results = [app.send_task(TASK, args=[shard]) for shard in shards]
    pass_id = shards[0]["pass_id"]
    print(f"pass {pass_id}: {len(shards)} shard(s) of up to {args.shard_size} account(s) enqueued")
    if not args.wait:
        return 0
    failed = 0
    for result in results:
        summary: dict[str, Any] = result.get(timeout=args.timeout)
        problems = summary["failures"] + ([summary["error"]] if summary["error"] else [])
        failed += bool(problems)
        print(json.dumps(summary))
        for problem in problems:
            print(f"FAILED {problem}", file=sys.stderr)
    return 1 if failed else 0
