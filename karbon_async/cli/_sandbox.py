"""``karbon-async sandbox``: FakeKarbon served on a port, to try your own code on."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import signal
from pathlib import Path
from typing import Any

from .._cli_inputs import UsageError, check_output_file
from .._limits import RateLimit
from ._common import _count, _positive_int, _positive_seconds, _seconds, _tcp_port


def _accounts_toml(fake: Any, limit: RateLimit) -> str:
    lines = []
    for account in fake.accounts:
        lines += [
            f'["{account.name}"]',
            f'bearer_token = "{account.bearer_token}"',
            f'access_key = "{account.access_key}"',
            f'base_url = "{fake.base_url}"',
            f"requests = {limit.requests}",
            f"per = {limit.per}",
            "",
        ]
    return "\n".join(lines)


async def run_sandbox(args: argparse.Namespace) -> int:
    from ..testing import FakeKarbon

    if args.latency_min > args.latency_max:
        raise UsageError("--latency-min must not be above --latency-max")
    if args.write_accounts is not None:
        check_output_file(args.write_accounts, "--write-accounts")
    limit = RateLimit(args.requests, args.per)
    latency = (args.latency_min, args.latency_max) if args.latency_max > 0 else None
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        with contextlib.suppress(NotImplementedError):
            loop.add_signal_handler(sig, stop.set)
    fake = FakeKarbon(
        accounts=args.accounts,
        rate_limit=limit,
        latency=latency,
        size=args.size,
        seed=args.seed,
        host=args.host,
        port=args.port,
        strict=not args.lenient,
        allow_insecure_webhooks=True,  # the sandbox lives on loopback: so do its receivers
        webhook_coalesce_window=args.webhook_coalesce,
    )
    try:
        await fake.start()
    except OSError as exc:
        raise UsageError(
            f"cannot serve on {args.host}:{args.port}: {exc.strerror or exc}"
            + (" (choose another --port, or 0 for any free one)" if args.port else "")
        ) from exc
    try:
        text = _accounts_toml(fake, limit)
        if args.write_accounts:
            await asyncio.to_thread(Path(args.write_accounts).write_text, text, encoding="utf-8")
        print(f"FakeKarbon serving {args.accounts} account(s) at {fake.base_url}", flush=True)
        print(
            f"limit {limit.requests} requests per {limit.per:g} s per account; "
            f"{args.size} records per collection. Ctrl-C stops it.",
            flush=True,
        )
        if args.write_accounts:
            print(f"accounts written to {args.write_accounts}", flush=True)
        else:
            print(text, flush=True)
        await stop.wait()
    finally:
        await fake.close()
    return 0


def command_sandbox(args: argparse.Namespace) -> int:
    return asyncio.run(run_sandbox(args))


def add_parser(commands: Any) -> None:
    """The command's parser, on the main parser's subparsers."""
    sandbox = commands.add_parser("sandbox", help="serve FakeKarbon to try your own code on")
    default = " (default: %(default)s)"
    sandbox.add_argument("--port", type=_tcp_port, default=8080, help="0: any free one" + default)
    sandbox.add_argument("--host", default="127.0.0.1", help="address to listen on" + default)
    sandbox.add_argument(
        "--accounts", type=_positive_int, default=5, help="fake accounts" + default
    )
    sandbox.add_argument(
        "--size", type=_count, default=1000, help="records per collection" + default
    )
    sandbox.add_argument("--seed", type=int, default=0, help="seed of the generated data" + default)
    sandbox.add_argument(
        "--requests", type=_positive_int, default=120, help="each account's limit" + default
    )
    sandbox.add_argument(
        "--per", type=_positive_seconds, default=60.0, help="...per SECONDS" + default
    )
    sandbox.add_argument(
        "--latency-min", type=_seconds, default=0.0, help="least added latency" + default
    )
    sandbox.add_argument(
        "--latency-max", type=_seconds, default=0.0, help="most added latency, 0: none" + default
    )
    sandbox.add_argument(
        "--write-accounts",
        metavar="FILE",
        help="write an accounts TOML file for `export` (default: print it)",
    )
    sandbox.add_argument(
        "--webhook-coalesce",
        type=_seconds,
        default=60.0,
        help="seconds a webhook waits for more changes of its record (Karbon's)" + default,
    )
    sandbox.add_argument(
        "--lenient",
        action="store_true",
        help="accept request bodies and parameters the spec forbids (default: answer 400)",
    )
