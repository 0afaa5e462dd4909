"""The ``karbon-async`` command line: ``export``, ``sandbox`` and ``demo``.

Progress uses rich when it is installed (``pip install 'karbon-async[cli]'``) and plain text
otherwise. Bad input (an unknown resource, an unreadable accounts file, missing credentials,
an unwritable directory) is one line on stderr and exit code 2, before anything is written; a bad
accounts file gives one line per bad field of every account. An export with failed streams (one
account's failure never stops the others) exits 1 after its summary; so does a local file that
cannot be written (the disk is full), with one line naming it.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import datetime as dt
import math
import os
import re
import signal
import sys
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any, NoReturn

from ._client import DEFAULT_BASE_URL
from ._converter import parse_datetime
from ._limits import RateLimit
from ._urls import origin_of
from .export import (
    DEFAULT_RESOURCES,
    FORMATS,
    RESOURCES,
    SINCE_LAST,
    Account,
    AccountProgress,
    Exporter,
    ExportReport,
    ExportStateError,
    resolve_resources,
)
from .fleet import _cli as fleet_cli

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - exercised on 3.10 only
    import tomli as tomllib

EXIT_FAILED = 1
EXIT_USAGE = 2


class UsageError(Exception):
    """Bad input: reported as one line and exit code 2."""


# --------------------------------------------------------------------------- input


def load_accounts(path: str | None, environ: dict[str, str] | None = None) -> list[Account]:
    """Accounts from a TOML file (one table per account) or from ``KARBON_*`` variables.

    ::

        [firm-a]
        bearer_token = "..."
        access_key = "..."
        # optional: base_url = "https://api.karbonhq.com", requests = 120, per = 60
    """
    env = os.environ if environ is None else environ
    if path is None:
        missing = [n for n in ("KARBON_BEARER_TOKEN", "KARBON_ACCESS_KEY") if not env.get(n)]
        if missing:
            raise UsageError(
                f"missing credentials: set {' and '.join(missing)}, or pass --accounts FILE"
            )
        return [
            Account(
                env.get("KARBON_ACCOUNT_NAME") or "default",
                env["KARBON_BEARER_TOKEN"],
                env["KARBON_ACCESS_KEY"],
                env.get("KARBON_BASE_URL") or DEFAULT_BASE_URL,
            )
        ]
    try:
        with open(path, "rb") as file:
            document = tomllib.load(file)
    except OSError as exc:
        raise UsageError(f"cannot read accounts file {path}: {exc.strerror or exc}") from exc
    except tomllib.TOMLDecodeError as exc:
        raise UsageError(f"accounts file {path} is not valid TOML: {exc}") from exc
    accounts: list[Account] = []
    problems: list[str] = []
    for name, table in document.items():
        if not isinstance(table, dict):
            problems.append(f"[{name}] must be a table")
            continue
        errors = _account_errors(name, table)
        problems += [f"[{name}] {field}: {error}" for field, error in errors]
        if not errors:
            accounts.append(
                Account(
                    name,
                    table["bearer_token"],
                    table["access_key"],
                    table.get("base_url", DEFAULT_BASE_URL),
                    RateLimit(table.get("requests", 120), table.get("per", 60.0)),
                )
            )
    if problems:
        raise UsageError("\n".join(f"accounts file {path}: {p}" for p in problems))
    if not accounts:
        raise UsageError(f"accounts file {path} has no accounts (one [table] per account)")
    return accounts


_ACCOUNT_KEYS = ("bearer_token", "access_key", "base_url", "requests", "per")
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")


def _account_errors(name: str, table: dict[str, Any]) -> list[tuple[str, str]]:
    """(field, what is wrong) for every bad field of one account's table; secrets not shown."""
    errors: list[tuple[str, str]] = []
    if not name.strip() or _CONTROL.search(name):
        errors.append(("name", "must be non-empty text without control characters"))
    for key in ("bearer_token", "access_key"):
        value = table.get(key)
        if value is None or value == "":
            errors.append((key, "missing"))
        elif not isinstance(value, str):
            errors.append((key, "must be a string"))
        elif _CONTROL.search(value) or value != value.strip():
            errors.append((key, "contains a line break, control character or edge space"))
    base_url = table.get("base_url", DEFAULT_BASE_URL)
    try:
        if not isinstance(base_url, str) or _CONTROL.search(base_url):
            raise ValueError
        origin_of(base_url)
    except ValueError:
        errors.append(("base_url", f"{base_url!r} is not an absolute http(s) URL"))
    requests = table.get("requests", 120)
    if isinstance(requests, bool) or not isinstance(requests, int) or requests < 1:
        errors.append(("requests", f"{requests!r} is not a positive whole number"))
    per = table.get("per", 60.0)
    if isinstance(per, bool) or not isinstance(per, int | float) or not 0 < per < math.inf:
        errors.append(("per", f"{per!r} is not a positive number of seconds"))
    errors += [(key, "unknown setting") for key in table if key not in _ACCOUNT_KEYS]
    return errors


def check_writable(directory: str) -> None:
    """Create ``directory`` if needed and prove a file can be written and renamed there."""
    path = Path(directory)
    try:
        path.mkdir(parents=True, exist_ok=True)
        with tempfile.NamedTemporaryFile(dir=path, prefix=".karbon-probe-"):
            pass
    except OSError as exc:
        raise UsageError(f"cannot write to {directory}: {exc.strerror or exc}") from exc


def parse_since(value: str | None) -> dt.datetime | str | None:
    if value is None or value == SINCE_LAST:
        return value
    try:
        return parse_datetime(value)
    except ValueError as exc:
        raise UsageError(
            f"--since must be 'last' or an ISO date/time such as 2026-01-31T00:00:00Z, "
            f"got {value!r}"
        ) from exc


# --------------------------------------------------------------------------- progress views


def _rich_console() -> Any:
    try:
        from rich.console import Console
    except ImportError:
        return None
    return Console(stderr=True)


def _fmt_eta(seconds: float | None) -> str:
    if seconds is None:
        return "?"
    return f"{int(seconds) // 60}:{int(seconds) % 60:02d}"


def _fmt_rate(rate: float | None) -> str:
    return "-" if rate is None else f"{rate:.2f}"


def _totals(account: AccountProgress) -> tuple[int, int | None]:
    counts = [s.count for s in account.streams.values()]
    total = None if any(c is None for c in counts) else sum(c or 0 for c in counts)
    return account.records, total


class PlainView:
    """A line every few seconds; used without rich or when asked for."""

    def __init__(self, exporter: Exporter, every: float = 5.0) -> None:
        self.exporter = exporter
        self.every = every
        self._last = 0.0

    def __enter__(self) -> PlainView:
        return self

    def __exit__(self, *exc: object) -> None:
        self.update(force=True)

    def update(self, force: bool = False) -> None:
        now = time.monotonic()
        if not force and now - self._last < self.every:
            return
        self._last = now
        accounts = self.exporter.refresh()
        done = sum(a.done for a in accounts)
        records = sum(a.records for a in accounts)
        requests = sum(a.requests for a in accounts)
        limited = sum(a.rate_limited for a in accounts)
        etas = [a.eta() for a in accounts]
        eta = None if any(e is None for e in etas) else max((e or 0.0 for e in etas), default=0)
        print(
            f"[{_fmt_eta(now - (self.exporter.started or now))}] accounts {done}/{len(accounts)} "
            f"done, {records} records, {requests} requests, {limited} 429s, eta {_fmt_eta(eta)}",
            file=sys.stderr,
            flush=True,
        )


class RichView:
    """Live bars: one per account (up to ``rows``) and one overall."""

    def __init__(self, exporter: Exporter, console: Any, rows: int = 30) -> None:
        from rich.progress import (
            BarColumn,
            MofNCompleteColumn,
            Progress,
            TextColumn,
            TimeElapsedColumn,
        )

        self.exporter = exporter
        self.progress = Progress(
            TextColumn("{task.description}", style="bold"),
            BarColumn(bar_width=24),
            MofNCompleteColumn(),
            TextColumn("{task.fields[detail]}"),
            TimeElapsedColumn(),
            console=console,
            refresh_per_second=4,
        )
        self.overall = self.progress.add_task("all accounts", total=None, detail="")
        self.tasks = {
            a.name: self.progress.add_task(a.name[:28], total=None, detail="")
            for a in exporter.progress[:rows]
        }

    def __enter__(self) -> RichView:
        self.progress.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.update()
        self.progress.stop()

    def update(self, force: bool = False) -> None:
        accounts = self.exporter.refresh()
        all_records, all_total, all_requests, all_429 = 0, 0, 0, 0
        known = True
        for account in accounts:
            records, total = _totals(account)
            all_records += records
            all_requests += account.requests
            all_429 += account.rate_limited
            if total is None:
                known = False
            else:
                all_total += total
            task = self.tasks.get(account.name)
            if task is not None:
                state = "failed" if account.failed else ("done" if account.done else "")
                detail = (
                    f"{state or 'eta ' + _fmt_eta(account.eta()):>9} {account.requests:5} req "
                    f"{account.rate_limited} 429s  window {account.window_use():4.0%}"
                )
                self.progress.update(task, completed=records, total=total, detail=detail)
        self.progress.update(
            self.overall,
            completed=all_records,
            total=all_total if known else None,
            detail=f"{all_requests:5} req  {all_429} 429s",
        )


async def run_with_view(exporter: Exporter, plain: bool) -> ExportReport:
    console = None if plain else _rich_console()
    view: PlainView | RichView = (
        PlainView(exporter) if console is None else RichView(exporter, console)
    )
    task = asyncio.ensure_future(exporter.run())
    with view:
        while not task.done():
            await asyncio.wait([task], timeout=0.25)
            view.update()
    return task.result()


def print_summary(report: ExportReport, plain: bool) -> None:
    headers = ["account", "resource", "mode", "status", "records", "pages", "retries", "output"]
    rows = [
        [
            s.account,
            s.resource,
            s.mode,
            s.status,
            str(s.records),
            str(s.pages),
            str(s.page_retries),
            s.output or "",
        ]
        for a in report.accounts
        for s in a.streams.values()
    ]
    account_rows = [
        [
            a.name,
            str(a.records),
            str(a.requests),
            str(a.rate_limited),
            _fmt_rate(a.sustained_rate()),
            f"{a.elapsed():.1f}",
        ]
        for a in report.accounts
    ]
    account_headers = ["account", "records", "requests", "429s", "rate/limit", "seconds"]
    console = None if plain else _rich_console()
    if console is not None:
        from rich.table import Table

        for title, head, body in (
            ("Streams", headers, rows),
            ("Accounts", account_headers, account_rows),
        ):
            table = Table(title=title)
            for column in head:
                table.add_column(column, justify="right" if column != head[0] else "left")
            for row in body:
                table.add_row(*row)
            console.print(table)
    else:
        for head, body in ((headers, rows), (account_headers, account_rows)):
            widths = [max(len(h), *(len(r[i]) for r in body)) for i, h in enumerate(head)]
            print("  ".join(h.ljust(w) for h, w in zip(head, widths, strict=True)))
            for row in body:
                print("  ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)))
    print(
        f"{report.records} records, {report.requests} requests, {report.rate_limited} 429s "
        f"in {report.seconds:.1f} s; {len(report.failures)} stream(s) failed."
    )
    for failure in report.failures:
        print(f"FAILED {failure.account}/{failure.resource}: {failure.error}", file=sys.stderr)


# --------------------------------------------------------------------------- commands


def command_export(args: argparse.Namespace) -> int:
    resources = resolve_resources_arg(args.resources)
    since = parse_since(args.since)
    accounts = load_accounts(args.accounts)
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
        )
    except ValueError as exc:  # e.g. two accounts would share an output folder
        raise UsageError(str(exc)) from exc
    if args.out is not None:
        check_writable(args.out)
    report = asyncio.run(run_with_view(exporter, args.plain))
    return finish_export(report, args.plain)


def _destination(args: argparse.Namespace) -> Any:
    """``--to postgresql://...``: a PostgresSink (checkpoints in the database); else None for
    files in ``--out``."""
    if args.to is None:
        if args.out is None:
            raise UsageError("give --out DIRECTORY or --to postgresql://...")
        return None
    from .export._postgres import PostgresSink, check_dsn

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


def resolve_resources_arg(text: str) -> list[str]:
    if text.strip() == "all":
        return list(RESOURCES)
    try:
        return [r.name for r in resolve_resources(n for n in text.split(",") if n.strip())]
    except ValueError as exc:
        raise UsageError(str(exc)) from exc


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
    from .testing import FakeKarbon

    limit = RateLimit(args.requests, args.per)
    latency = (args.latency_min, args.latency_max) if args.latency_max > 0 else None
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        with contextlib.suppress(NotImplementedError):
            loop.add_signal_handler(sig, stop.set)
    async with FakeKarbon(
        accounts=args.accounts,
        rate_limit=limit,
        latency=latency,
        size=args.size,
        seed=args.seed,
        host=args.host,
        port=args.port,
        strict=not args.lenient,
    ) as fake:
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
    return 0


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
    from .testing import FakeKarbon

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
        exporter = Exporter(
            accounts, list(DEFAULT_RESOURCES), out=out, page_size=args.page_size, resume=False
        )
        report = await run_with_view(exporter, args.plain)
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


# --------------------------------------------------------------------------- parser


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> NoReturn:
        self.exit(EXIT_USAGE, f"{self.prog}: error: {message}\n")


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="karbon-async", description="Karbon API v3 tools.")
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
    export.add_argument("--out", help="output directory")
    export.add_argument(
        "--to", help="postgresql://... : upsert into PostgreSQL instead (needs [postgres])"
    )
    export.add_argument("--format", choices=sorted(FORMATS), default="jsonl")
    export.add_argument("--resume", action="store_true", help="continue an interrupted export")
    export.add_argument(
        "--since",
        help="'last' (since the previous sync's watermark) or an ISO date/time: only records "
        "changed since then, for resources sorted by LastModifiedDateTime; others in full",
    )
    export.add_argument("--accounts", help="TOML file with one table per account")
    export.add_argument("--page-size", type=int, default=100)
    export.add_argument("--plain", action="store_true", help="plain text progress (no rich)")

    sandbox = commands.add_parser("sandbox", help="serve FakeKarbon to try your own code on")
    sandbox.add_argument("--port", type=int, default=8080)
    sandbox.add_argument("--host", default="127.0.0.1")
    sandbox.add_argument("--accounts", type=int, default=5)
    sandbox.add_argument("--size", type=int, default=1000, help="records per collection")
    sandbox.add_argument("--seed", type=int, default=0)
    sandbox.add_argument("--requests", type=int, default=120)
    sandbox.add_argument("--per", type=float, default=60.0)
    sandbox.add_argument("--latency-min", type=float, default=0.0)
    sandbox.add_argument("--latency-max", type=float, default=0.0)
    sandbox.add_argument("--write-accounts", help="write an accounts TOML file for `export`")
    sandbox.add_argument(
        "--lenient",
        action="store_true",
        help="accept request bodies and parameters the spec forbids (default: answer 400)",
    )

    demo = commands.add_parser("demo", help="export dozens of fake accounts at once, live")
    demo.add_argument("--accounts", type=int, default=24)
    demo.add_argument("--page-size", type=int, default=10)
    demo.add_argument("--windows", type=int, default=2, help="windows of requests per account")
    demo.add_argument("--requests", type=int, default=120)
    demo.add_argument("--per", type=float, default=60.0)
    demo.add_argument("--out", help="output directory (default: a new temporary one)")
    demo.add_argument("--plain", action="store_true")
    demo.add_argument("--verbose", action="store_true", help="also print the per-stream table")

    fleet_cli.add_parser(commands)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
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
    except KeyboardInterrupt:
        print("karbon-async: interrupted; run again with --resume to continue", file=sys.stderr)
        return 130
    return EXIT_USAGE  # pragma: no cover - argparse requires a command


if __name__ == "__main__":
    sys.exit(main())
