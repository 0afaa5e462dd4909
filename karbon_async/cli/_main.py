"""The parser and ``main``: each command's arguments, and which function runs it."""

from __future__ import annotations

import argparse
import asyncio
import gc
import sys
from collections.abc import Sequence

from .._cli_inputs import UsageError
from .._version import __version__
from ..export import DEFAULT_RESOURCES, FORMATS, RESOURCES, ExportStateError, LocalWriteError
from ..fleet import _cli as fleet_cli
from ._common import (
    EXIT_FAILED,
    EXIT_USAGE,
    _count,
    _Parser,
    _positive_int,
    _positive_seconds,
    _seconds,
    _tcp_port,
)
from ._demo import run_demo
from ._export import command_export
from ._progress import _add_progress
from ._sandbox import run_sandbox


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="karbon-async", description="Karbon API v3 tools.")
    parser.add_argument("--version", action="version", version=f"karbon-async {__version__}")
    commands = parser.add_subparsers(dest="command", required=True, parser_class=_Parser)

    export = commands.add_parser(
        "export",
        help="export list resources of one or many accounts to files",
        description="Credentials come from KARBON_BEARER_TOKEN and KARBON_ACCESS_KEY (optional "
        "KARBON_BASE_URL, KARBON_ACCOUNT_NAME), or from --accounts FILE: a TOML file with "
        "one [table] per account holding bearer_token, access_key and optionally base_url, "
        "requests and per.",
    )
    export.add_argument(
        "--resources",
        default=",".join(DEFAULT_RESOURCES),
        help=f"comma-separated, of: {', '.join(RESOURCES)}; 'all' for every one "
        f"(default: {','.join(DEFAULT_RESOURCES)})",
    )
    destination = export.add_mutually_exclusive_group(required=True)
    destination.add_argument("--out", help="output directory")
    destination.add_argument(
        "--to", help="postgresql://... : upsert into PostgreSQL instead (needs [postgres])"
    )
    export.add_argument("--format", choices=sorted(FORMATS), default="jsonl")
    again = export.add_mutually_exclusive_group()
    again.add_argument(
        "--resume", action="store_true", help="continue the interrupted export in --out"
    )
    again.add_argument(
        "--restart",
        action="store_true",
        help="discard the interrupted export in --out and start over",
    )
    export.add_argument(
        "--since",
        help="'last' (since the previous sync's watermark) or an ISO date/time (taken as UTC "
        "without an offset): only records changed since then, for resources sorted by "
        "LastModifiedDateTime; others in full",
    )
    export.add_argument("--accounts", help="TOML file with one table per account")
    export.add_argument(
        "--page-size", type=_positive_int, default=100, help="records per page (default: 100)"
    )
    export.add_argument(
        "--summary-json",
        metavar="FILE",
        help="also write the per-account, per-resource summary to FILE as JSON",
    )
    _add_progress(export)

    sandbox = commands.add_parser("sandbox", help="serve FakeKarbon to try your own code on")
    sandbox.add_argument("--port", type=_tcp_port, default=8080, help="0: any free port")
    sandbox.add_argument("--host", default="127.0.0.1")
    sandbox.add_argument("--accounts", type=_positive_int, default=5)
    sandbox.add_argument("--size", type=_count, default=1000, help="records per collection")
    sandbox.add_argument("--seed", type=int, default=0)
    sandbox.add_argument("--requests", type=_positive_int, default=120)
    sandbox.add_argument("--per", type=_positive_seconds, default=60.0)
    sandbox.add_argument("--latency-min", type=_seconds, default=0.0)
    sandbox.add_argument("--latency-max", type=_seconds, default=0.0)
    sandbox.add_argument("--write-accounts", help="write an accounts TOML file for `export`")
    sandbox.add_argument(
        "--lenient",
        action="store_true",
        help="accept request bodies and parameters the spec forbids (default: answer 400)",
    )

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
    fleet_cli.add_parser(commands)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    if argv is None:  # the command itself, not a call from a program or a test
        # Set-up is done: what the imports made lives as long as the process, so collections
        # need not walk it again and again (an export tunes the rest: export.tuned_gc).
        gc.freeze()
    try:
        if args.command == "export":
            return command_export(args)
        if args.command == "sandbox":
            return asyncio.run(run_sandbox(args))
        if args.command == "demo":
            return asyncio.run(run_demo(args))
        if args.command == "fleet":
            return fleet_cli.command_fleet(args)
    except (UsageError, ExportStateError) as exc:
        for line in str(exc).splitlines():
            print(f"karbon-async: error: {line}", file=sys.stderr)
        return EXIT_USAGE
    except LocalWriteError as exc:  # e.g. the summary file, once the disk is full
        print(f"karbon-async: error: {exc}", file=sys.stderr)
        return EXIT_FAILED
    except KeyboardInterrupt:
        print("karbon-async: interrupted; run again with --resume to continue", file=sys.stderr)
        return 130
    return EXIT_USAGE  # pragma: no cover - argparse requires a command
