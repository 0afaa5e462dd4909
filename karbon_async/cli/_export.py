"""``karbon-async export``: list resources of one or many accounts to files or PostgreSQL."""

from __future__ import annotations

import argparse
import asyncio
import sys
from typing import Any

from .._cli_inputs import (
    UsageError,
    check_output_file,
    check_writable,
    load_accounts,
    parse_since,
    resolve_resources_arg,
)
from ..export import DEFAULT_RESOURCES, FORMATS, RESOURCES, Exporter, ExportReport, load_checkpoints
from ..export._state import DONE, FINISHING
from ._common import EXIT_FAILED, _positive_int
from ._progress import VIEWS, EventRelay, _add_progress, resolve_progress, run_with_view
from ._summary import StreamClock, print_summary, summary_document, write_summary


def check_interrupted(exporter: Exporter, out: str, *, resume: bool, restart: bool) -> None:
    """Never overwrite an interrupted export unasked; never pretend to resume a finished one.

    A stream interrupted before its first page holds no data, so it does not count (fixing the
    credentials and running again just works). ``--resume`` where none of the streams has a
    checkpoint at all (an export killed before its first one) starts the export afresh, and
    says so: nothing was written that could be resumed, and a retried ``--resume`` must not
    fail forever."""
    if exporter.state_dir is None:  # a database destination resumes from its own checkpoints
        return
    states = load_checkpoints(exporter.state_dir)
    known = [
        state.run
        for account in exporter.accounts
        for resource in exporter.resources
        if (state := states.get((account.name, resource.name))) is not None
        and state.run is not None
    ]
    runs = [run for run in known if run.status != DONE]
    if resume:
        if not known:
            print(
                f"karbon-async: --resume: no checkpoint in {out} for these accounts and "
                "resources (stopped before the first one?): starting the export afresh",
                file=sys.stderr,
                flush=True,
            )
        elif not runs:
            raise UsageError(
                f"nothing to resume in {out}: no interrupted export of these accounts and "
                "resources there; run without --resume"
            )
    elif not restart and any(r.pages > 0 or r.status == FINISHING for r in runs):
        raise UsageError(
            f"{out} holds an interrupted export: add --resume to continue it, "
            "or --restart to discard it and start over"
        )


def command_export(args: argparse.Namespace) -> int:
    resources = resolve_resources_arg(args.resources)
    since = parse_since(args.since)
    mode = resolve_progress(args.progress)
    accounts = load_accounts(args.accounts)
    if args.summary_json is not None:
        check_output_file(args.summary_json, "--summary-json")
    relay = EventRelay()
    sink = _destination(args)
    try:
        exporter = Exporter(
            accounts,
            resources,
            out=args.out,
            sink=sink,
            format=args.format,
            resume=args.resume,
            since=since,  # type: ignore[arg-type]
            page_size=args.page_size,
            on_event=relay,
        )
    except ValueError as exc:  # e.g. two accounts would share an output folder
        raise UsageError(str(exc)) from exc
    if args.out is not None:
        check_writable(args.out)
        check_interrupted(exporter, args.out, resume=args.resume, restart=args.restart)
    view = VIEWS[mode](exporter, args.progress_interval)
    clock = StreamClock()
    relay.listeners += [clock, view.on_event]
    report = asyncio.run(run_with_view(exporter, view))
    code = finish_export(report, plain=mode != "rich")
    if args.summary_json is not None:
        write_summary(args.summary_json, summary_document(report, clock))
    return code


def _destination(args: argparse.Namespace) -> Any:
    """``--to postgresql://...``: a PostgresSink (checkpoints in the database); else None for
    files in ``--out``."""
    if args.to is None:
        return None
    from ..export._postgres import PostgresSink, check_dsn

    try:
        return PostgresSink(check_dsn(args.to))
    except ValueError as exc:
        raise UsageError(str(exc)) from exc


def finish_export(report: ExportReport, plain: bool) -> int:
    """The summary, then the error that stopped the run, if one did; the exit code."""
    print_summary(report, plain)
    if report.error is not None:
        print(
            f"karbon-async: error: {report.error}; the export stopped. "
            "Fix that and run again with --resume.",
            file=sys.stderr,
        )
    return 0 if report.ok else EXIT_FAILED


def add_parser(commands: Any) -> None:
    """The command's parser, on the main parser's subparsers."""
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
