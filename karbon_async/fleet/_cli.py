"""``karbon-async fleet submit`` and ``karbon-async fleet worker``."""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import socket
import sys
from collections.abc import Callable, Sequence
from typing import Any

from .._cli_inputs import (
    UsageError,
    check_redis_url,
    load_accounts,
    parse_since,
    resolve_resources_arg,
)
from ._passes import WAIT_TIMEOUT
from ._shards import VISIBILITY_TIMEOUT

EXIT_FAILED = 1
"""Some shard failed or did not finish in time (``--wait``), or PostgreSQL could not be reached."""

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
    submit.add_argument(
        "--pass-id",
        help="resume this pass instead of starting a new one (same accounts, --shard-size, "
        "--resources and --since)",
    )
    submit.add_argument(
        "--wait",
        action="store_true",
        help="wait for every shard, report each one's outcome (from PostgreSQL); exit 0 if all "
        "completed, 1 if any failed or did not finish in time",
    )
    submit.add_argument(
        "--timeout",
        type=float,
        default=WAIT_TIMEOUT,
        help=f"seconds to --wait (default {WAIT_TIMEOUT:g})",
    )

    worker = sub.add_parser("worker", help="run a Celery worker for the fleet's shards")
    add_worker_arguments(worker)
    worker.add_argument(
        "--ledger",
        default=os.environ.get("KARBON_FLEET_LEDGER"),
        help="postgresql:// URL of passes to watch from the start: their shards that nobody "
        "holds are enqueued again (default: $KARBON_FLEET_LEDGER; a worker also watches the "
        "databases of the shards it is given)",
    )
    worker.add_argument("--schema", default="public", help="PostgreSQL schema of --ledger")

    status = sub.add_parser("status", help="each account's state in a pass, from PostgreSQL")
    status.add_argument("pass_id", nargs="?", help="the pass (default: the last one submitted)")
    status.add_argument(
        "--to",
        default=os.environ.get("KARBON_FLEET_LEDGER"),
        help="postgresql:// URL the pass was submitted --to (default: $KARBON_FLEET_LEDGER)",
    )
    status.add_argument("--schema", default="public", help="PostgreSQL schema of the tables")
    status.add_argument("--json", action="store_true", help="one JSON document")


def add_worker_arguments(worker: Any) -> None:
    """The arguments of a fleet worker (``fleet worker``, ``mirror worker``): see ``run_worker``."""
    worker.add_argument(
        "--broker",
        default=os.environ.get("KARBON_FLEET_BROKER"),
        help="Celery broker, a redis:// URL (default: $KARBON_FLEET_BROKER)",
    )
    worker.add_argument("--concurrency", type=int, default=1, help="pool processes")
    worker.add_argument("--name", default=f"karbon@{socket.gethostname()}-{os.getpid()}")
    worker.add_argument("--loglevel", default="INFO")
    worker.add_argument(
        "--visibility-timeout",
        type=float,
        help="seconds before the tasks of a worker that died whole go to another worker; "
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
    if args.fleet_command == "status":
        return _status(args)
    if args.fleet_command == "worker":
        return run_worker(args)
    make_app = app_maker(args.broker)
    if args.redis:
        check_redis_url(args.redis, "--redis")
    return _submit(make_app(args.broker), args)


def app_maker(
    broker: str | None, flag: str = "--broker", env: str | None = "KARBON_FLEET_BROKER"
) -> Callable[..., Any]:
    """``make_app``, once ``broker`` (given as ``flag`` or ``$env``) is known good and Celery
    installed."""
    if not broker:
        raise UsageError(f"give {flag} redis://..." + (f" (or set {env})" if env else ""))
    check_redis_url(broker, f"{flag} (or {env})" if env else flag)
    try:
        from ._app import make_app
    except ImportError as exc:
        raise UsageError("the fleet needs Celery: pip install 'karbon-async[fleet]'") from exc
    return make_app


def run_worker(
    args: argparse.Namespace,
    *,
    register: Callable[[Any], object] | None = None,
    queues: Sequence[str] = (),
) -> int:
    """Run a worker of the fleet's app from ``add_worker_arguments``'s arguments (and
    ``--ledger``, ``--schema`` where the command has them); ``register(app)`` adds tasks of
    its own, ``queues`` names the queues it takes tasks from (default: Celery's)."""
    make_app = app_maker(args.broker)
    ledgers = []
    if getattr(args, "ledger", None):
        _check_dsn(args.ledger, "--ledger")
        ledgers.append((args.ledger, args.schema))
    try:
        app = make_app(args.broker, visibility_timeout=visibility_timeout_of(args), ledgers=ledgers)
    except ValueError as exc:
        raise UsageError(f"--visibility-timeout: {exc}") from exc
    if register is not None:
        register(app)
    app.worker_main(
        [
            "worker",
            f"--concurrency={args.concurrency}",
            "--pool=prefork",
            f"--hostname={args.name}",
            f"--loglevel={args.loglevel}",
            "--without-gossip",
            "--without-mingle",
            *([f"--queues={','.join(queues)}"] if queues else []),
        ]
    )
    return 0


def _check_dsn(dsn: str | None, flag: str) -> str:
    from ..export._postgres import check_dsn

    if not dsn:
        raise UsageError(f"give {flag} postgresql://... (or set KARBON_FLEET_LEDGER)")
    try:
        return check_dsn(dsn)
    except ValueError as exc:
        raise UsageError(str(exc).replace("--to", flag)) from exc


def _submit(app: Any, args: argparse.Namespace) -> int:
    from ..export import DEFAULT_RESOURCES
    from . import _passes
    from ._app import TASK
    from ._ledger import PassMismatchError
    from ._shards import make_shards

    _check_dsn(args.to, "--to")
    if args.timeout <= 0:
        raise UsageError("--timeout must be a positive number of seconds")
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
    pass_id = shards[0]["pass_id"]
    try:  # the ledger first: whatever the broker loses from now on is sent again from it
        to_send = asyncio.run(_passes.record(args.to, args.schema, shards))
    except PassMismatchError as exc:  # nothing recorded, nothing sent
        raise UsageError(str(exc)) from None
    except Exception as exc:
        print(f"karbon-async: error: pass not recorded in PostgreSQL: {exc}", file=sys.stderr)
        return EXIT_FAILED
    try:
        for shard, task_id in to_send:
            app.send_task(TASK, args=[shard], task_id=task_id)
    except Exception as exc:
        print(
            f"karbon-async: pass {pass_id} is recorded but the broker refused its shards ({exc});"
            " workers watching the ledger send them when it is back",
            file=sys.stderr,
        )
        if not args.wait:
            return EXIT_FAILED
    print(
        f"pass {pass_id}: {len(to_send)} of {len(shards)} shard(s) of up to {args.shard_size} "
        "account(s) enqueued"
    )
    if not args.wait:
        return 0
    try:
        finished, all_done = asyncio.run(_passes.wait(args.to, args.schema, pass_id, args.timeout))
    except Exception as exc:  # not a restart (those are waited out): e.g. access revoked
        print(f"karbon-async: error: PostgreSQL: {exc}", file=sys.stderr)
        return EXIT_FAILED
    failed = 0
    for shard in finished:
        print(json.dumps({k: v for k, v in shard.items() if k not in ("leased",)}))
        if shard["state"] == "failed":
            failed += 1
            reasons = list(shard["failures"].values()) or [shard["error"] or "failed"]
            for reason in reasons:
                print(f"FAILED shard {shard['shard']}: {reason}", file=sys.stderr)
        elif shard["state"] != "complete":
            failed += 1
            where = f"running on {shard['worker']}" if shard["leased"] else "waiting"
            last = f"; last error: {shard['error']}" if shard["error"] else ""
            print(
                f"TIMED OUT shard {shard['shard']} ({', '.join(shard['accounts'])}): "
                f"{where} after {args.timeout:g} s{last}",
                file=sys.stderr,
            )
    if not finished:
        print(f"TIMED OUT: no shard of pass {pass_id} found in PostgreSQL", file=sys.stderr)
    print(
        f"pass {pass_id}: {sum(s['state'] == 'complete' for s in finished)} of {len(shards)} "
        f"shard(s) complete{'' if all_done else ' (timed out)'}",
        file=sys.stderr,
    )
    return EXIT_FAILED if failed or not finished else 0


def _status(args: argparse.Namespace) -> int:
    from . import _passes

    dsn = _check_dsn(args.to, "--to")
    try:
        report = asyncio.run(_passes.status(dsn, args.schema, args.pass_id))
    except Exception as exc:
        print(f"karbon-async: error: PostgreSQL: {exc}", file=sys.stderr)
        return EXIT_FAILED
    if report is None:
        which = f"pass {args.pass_id}" if args.pass_id else "any pass"
        raise UsageError(f"no record of {which} in schema {args.schema!r}")
    if args.json:
        print(json.dumps(report, indent=2))
        return 0
    counts = report["counts"]
    total = len(report["accounts"])
    print(
        f"pass {report['pass_id']} ({'open' if report['open'] else 'finished'}): "
        f"{counts['complete']}/{total} accounts complete, {counts['running']} running, "
        f"{counts['waiting']} waiting, {counts['failed']} failed; {report['pages']} pages"
    )
    width = max(len(a["account"]) for a in report["accounts"])
    for account in report["accounts"]:
        detail = ""
        if account["worker"]:
            detail = f"on {account['worker']}"
        elif account["reason"]:
            detail = (
                account["reason"]
                if account["state"] == "failed"
                else (f"last error: {account['reason']}")
            )
        print(
            f"  {account['account']:<{width}}  {account['state']:<8}  "
            f"{account['pages']:>6} pages  {detail}".rstrip()
        )
    return 0
