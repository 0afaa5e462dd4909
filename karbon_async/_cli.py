"""The ``karbon-async`` command line: ``export``, ``sandbox`` and ``demo``.

Progress (``--progress``) is rich live bars on a terminal and plain lines otherwise (one per
account every few seconds and one per finished stream, flushed as written, so a redirected log
fills during the run), or JSON Lines for programs. Bad input (an unknown resource or setting, an
unreadable accounts file, missing credentials, an output path that is a file, a busy port, an
interrupted export in the way) is one line on stderr and exit code 2, before anything is written;
a bad accounts file gives one line per bad field of every account. An export with failed
streams (one account's failure never stops the others) exits 1 after its summary, with one line
per account and error; so does a local file that cannot be written (the disk is full), with one
line naming it.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import gc
import json
import math
import os
import re
import signal
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import IO, Any, NoReturn

from ._cli_inputs import (
    UsageError,
    check_output_file,
    check_writable,
    load_accounts,
    parse_since,
    resolve_resources_arg,
)
from ._limits import RateLimit
from ._version import __version__
from .export import (
    DEFAULT_RESOURCES,
    FORMATS,
    RESOURCES,
    Account,
    AccountProgress,
    Exporter,
    ExportEvent,
    ExportReport,
    ExportStateError,
    LocalWriteError,
    StreamProgress,
    load_checkpoints,
)
from .export._progress import describe
from .export._state import DONE, FINISHING
from .fleet import _cli as fleet_cli

EXIT_FAILED = 1
EXIT_USAGE = 2
PROGRESS_MODES = ("auto", "rich", "plain", "json")
SUMMARY_VERSION = 1


def check_interrupted(exporter: Exporter, out: str, *, resume: bool, restart: bool) -> None:
    """Never overwrite an interrupted export unasked; never pretend to resume nothing.

    A stream interrupted before its first page holds no data, so it does not count (fixing the
    credentials and running again just works)."""
    if exporter.state_dir is None:  # a database destination resumes from its own checkpoints
        return
    states = load_checkpoints(exporter.state_dir)
    runs = [
        state.run
        for account in exporter.accounts
        for resource in exporter.resources
        if (state := states.get((account.name, resource.name))) is not None
        and state.run is not None
        and state.run.status != DONE
    ]
    if resume:
        if not runs:
            raise UsageError(
                f"nothing to resume in {out}: no interrupted export of these accounts and "
                "resources there; run without --resume"
            )
    elif not restart and any(r.pages > 0 or r.status == FINISHING for r in runs):
        raise UsageError(
            f"{out} holds an interrupted export: add --resume to continue it, "
            "or --restart to discard it and start over"
        )


# --------------------------------------------------------------------------- figures


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


def _written(stream: StreamProgress) -> str | None:
    """The stream's output file if this run (or the one resumed) completed it."""
    return stream.output if stream.status in ("done", "done-before") else None


def account_status(account: AccountProgress) -> str:
    statuses = {s.status for s in account.streams.values()}
    for status in ("failed", "stopped", "running", "pending"):
        if status in statuses:
            return status
    return "done"


def account_figures(account: AccountProgress) -> dict[str, Any]:
    return {
        "account": account.name,
        "status": account_status(account),
        "records": account.records,
        "requests": account.requests,
        "rate_limited": account.rate_limited,
        "seconds": round(account.elapsed(), 3),
    }


def stream_figures(stream: StreamProgress) -> dict[str, Any]:
    return {
        "account": stream.account,
        "resource": stream.resource,
        "status": stream.status,
        "mode": stream.mode,
        "records": stream.records,
        "pages": stream.pages,
        "count": stream.count,
        "page_retries": stream.page_retries,
        "file": _written(stream),
        "error": stream.error,
    }


class StreamClock:
    """Seconds each stream ran, from the exporter's events (streams share their account's
    requests, so time is the per-stream figure worth having)."""

    def __init__(self) -> None:
        self._started: dict[tuple[str, str], float] = {}
        self._ended: dict[tuple[str, str], float] = {}

    def __call__(self, event: ExportEvent) -> None:
        if event.stream is None:
            return
        key = (event.account.name, event.stream.resource)
        if event.kind == "stream-started":
            self._started[key] = time.monotonic()
        elif event.kind in ("stream-done", "stream-failed"):
            self._ended[key] = time.monotonic()

    def seconds(self, account: str, resource: str) -> float | None:
        """None for a stream that never started (finished before a resume, or failed early)."""
        start = self._started.get((account, resource))
        if start is None:
            return None
        return round(self._ended.get((account, resource), time.monotonic()) - start, 3)


def summary_document(report: ExportReport, clock: StreamClock) -> dict[str, Any]:
    accounts = []
    for account in report.accounts:
        figures = account_figures(account)
        figures["resources"] = {
            name: {
                **{k: v for k, v in stream_figures(s).items() if k not in ("account", "resource")},
                "seconds": clock.seconds(account.name, name),
            }
            for name, s in account.streams.items()
        }
        accounts.append(figures)
    return {
        "version": SUMMARY_VERSION,
        "ok": report.ok,
        "error": report.error,
        "records": report.records,
        "requests": report.requests,
        "rate_limited": report.rate_limited,
        "seconds": round(report.seconds, 3),
        "accounts": accounts,
    }


def write_summary(path: str, document: dict[str, Any]) -> None:
    """Written whole or not at all: a temporary file beside it, then renamed."""
    target = Path(path)
    data = json.dumps(document, indent=2, ensure_ascii=False) + "\n"
    temporary: Path | None = None
    try:
        handle, name = tempfile.mkstemp(dir=target.parent, prefix=f".{target.name}.")
        temporary = Path(name)
        with open(handle, "w", encoding="utf-8") as file:
            file.write(data)
        os.replace(temporary, target)
    except OSError as exc:
        if temporary is not None:
            temporary.unlink(missing_ok=True)
        raise LocalWriteError(target, exc) from exc


_URL = re.compile(r"\S+://\S+")


def same_failure(stream: StreamProgress) -> tuple[str, str]:
    """Streams of one account failing alike (a refused token fails every one, each naming its
    own URL) are one failure."""
    return stream.account, _URL.sub("", stream.error or "failed")


def failure_lines(report: ExportReport) -> list[str]:
    """One line per account and failure, naming its streams; the first one's error in full."""
    grouped: dict[tuple[str, str], list[StreamProgress]] = {}
    for stream in report.failures:
        grouped.setdefault(same_failure(stream), []).append(stream)
    lines = []
    for (account, _), streams in grouped.items():
        which = (
            f"/{streams[0].resource}"
            if len(streams) == 1
            else f" ({', '.join(s.resource for s in streams)})"
        )
        lines.append(f"FAILED {account}{which}: {streams[0].error}")
    return lines


# --------------------------------------------------------------------------- progress views


def _rich_console() -> Any:
    try:
        from rich.console import Console
    except ImportError:
        return None
    return Console(stderr=True)


def _isatty(stream: IO[str]) -> bool:
    try:
        return stream.isatty()
    except (AttributeError, ValueError):  # no such method, or closed
        return False


def resolve_progress(mode: str, stream: IO[str] | None = None) -> str:
    """``auto``: rich live bars on a terminal (when rich is installed), plain lines otherwise,
    so a redirected log is never a terminal frame cut to 80 columns."""
    stream = sys.stderr if stream is None else stream
    if mode == "auto":
        return "rich" if _isatty(stream) and _rich_console() is not None else "plain"
    if mode == "rich" and _rich_console() is None:
        raise UsageError("--progress rich needs rich: pip install 'karbon-async[cli]'")
    return mode


class ProgressView:
    """What every view does; the exporter's events arrive through ``on_event``, and ``tick``
    is called a few times a second while the export runs."""

    def __init__(self, exporter: Exporter, every: float, out: IO[str] | None = None) -> None:
        self.exporter = exporter
        self.every = every
        self.out = sys.stderr if out is None else out
        self._last = time.monotonic()

    def __enter__(self) -> ProgressView:
        self._last = time.monotonic()
        return self

    def __exit__(self, *exc: object) -> None:
        pass

    def on_event(self, event: ExportEvent) -> None:
        pass

    def tick(self) -> None:
        now = time.monotonic()
        if now - self._last >= self.every:
            self._last = now
            self.periodic()

    def periodic(self) -> None:
        pass

    def finished(self, report: ExportReport) -> None:
        pass

    def elapsed(self) -> float:
        started = self.exporter.started
        return 0.0 if started is None else time.monotonic() - started

    def running_accounts(self) -> list[AccountProgress]:
        return [a for a in self.exporter.refresh() if a.started is not None and not a.done]


class PlainView(ProgressView):
    """A line per running account every ``every`` seconds and one per finished stream."""

    def __init__(self, exporter: Exporter, every: float, out: IO[str] | None = None) -> None:
        super().__init__(exporter, every, out)
        self._errors_shown: set[tuple[str, str]] = set()

    def line(self, text: str) -> None:
        print(f"[{_fmt_eta(self.elapsed())}] {text}", file=self.out, flush=True)

    def periodic(self) -> None:
        for account in self.running_accounts():
            records, total = _totals(account)
            self.line(
                f"{account.name}: {records}{'' if total is None else f'/{total}'} records, "
                f"{account.requests} requests, {account.rate_limited} 429s, "
                f"eta {_fmt_eta(account.eta())}"
            )

    def on_event(self, event: ExportEvent) -> None:
        account, stream = event.account, event.stream
        if event.kind == "stream-done" and stream is not None:
            self.line(
                f"{account.name}/{stream.resource} done: {stream.records} records in "
                f"{stream.pages} pages -> {stream.output or 'sink'}"
            )
        elif event.kind == "stream-failed" and stream is not None:
            key = same_failure(stream)
            if key not in self._errors_shown:  # the same error of every stream: said once
                self._errors_shown.add(key)
                self.line(f"{account.name}/{stream.resource} failed: {stream.error}")
        elif event.kind == "page-retry" and stream is not None:
            cause = "" if event.error is None else f" after {describe(event.error)}"
            self.line(f"{account.name}/{stream.resource}: fetching a page again{cause}")
        elif event.kind == "account-done":
            failed = sum(s.status == "failed" for s in account.streams.values())
            self.line(
                f"{account.name} finished in {account.elapsed():.1f} s: {account.records} "
                f"records" + (f", {failed} stream(s) failed" if failed else "")
            )


class JsonView(ProgressView):
    """One JSON object per line: every exporter event, a ``progress`` object per running
    account every ``every`` seconds, and ``export-done`` at the end."""

    def emit(self, kind: str, figures: dict[str, Any]) -> None:
        line = {"event": kind, "elapsed": round(self.elapsed(), 3), **figures}
        print(json.dumps(line, ensure_ascii=False), file=self.out, flush=True)

    def on_event(self, event: ExportEvent) -> None:
        if event.stream is not None:
            figures = stream_figures(event.stream)
        else:
            figures = account_figures(event.account)
        if event.error is not None:
            figures["error"] = describe(event.error)
        self.emit(event.kind, figures)

    def periodic(self) -> None:
        for account in self.running_accounts():
            eta = account.eta()
            self.emit(
                "progress",
                {**account_figures(account), "eta": None if eta is None else round(eta, 1)},
            )

    def finished(self, report: ExportReport) -> None:
        self.emit(
            "export-done",
            {
                "ok": report.ok,
                "error": report.error,
                "records": report.records,
                "requests": report.requests,
                "rate_limited": report.rate_limited,
                "failed_streams": len(report.failures),
            },
        )


class RichView(ProgressView):
    """Live bars: one per account (up to ``rows``) and one overall."""

    def __init__(
        self, exporter: Exporter, every: float, out: IO[str] | None = None, rows: int = 30
    ) -> None:
        from rich.progress import (
            BarColumn,
            MofNCompleteColumn,
            Progress,
            TextColumn,
            TimeElapsedColumn,
        )

        super().__init__(exporter, every, out)
        self.progress = Progress(
            TextColumn("{task.description}", style="bold"),
            BarColumn(bar_width=24),
            MofNCompleteColumn(),
            TextColumn("{task.fields[detail]}"),
            TimeElapsedColumn(),
            console=_rich_console(),
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
        self.tick()
        self.progress.stop()

    def tick(self) -> None:
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


VIEWS: dict[str, type[ProgressView]] = {"rich": RichView, "plain": PlainView, "json": JsonView}


class EventRelay:
    """The exporter's ``on_event``: the view is made after the exporter (it needs its
    accounts), so events are passed on to whoever is listening by then."""

    def __init__(self) -> None:
        self.listeners: list[Callable[[ExportEvent], None]] = []

    def __call__(self, event: ExportEvent) -> None:
        for listener in self.listeners:
            listener(event)


async def run_with_view(exporter: Exporter, view: ProgressView) -> ExportReport:
    task = asyncio.ensure_future(exporter.run())
    poll = min(0.25, view.every)
    with view:
        while not task.done():
            await asyncio.wait([task], timeout=poll)
            view.tick()
    report = task.result()
    view.finished(report)
    return report


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
            _written(s) or "",
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
            print("  ".join(h.ljust(w) for h, w in zip(head, widths, strict=True)).rstrip())
            for row in body:
                print("  ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)).rstrip())
    print(
        f"{report.records} records, {report.requests} requests, {report.rate_limited} 429s "
        f"in {report.seconds:.1f} s; {len(report.failures)} stream(s) failed.",
        flush=True,
    )
    for line in failure_lines(report):
        print(line, file=sys.stderr, flush=True)


# --------------------------------------------------------------------------- commands


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


# --------------------------------------------------------------------------- parser


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> NoReturn:
        self.exit(EXIT_USAGE, f"{self.prog}: error: {message}\n")


def _number(kind: Callable[[str], Any], low: float, what: str) -> Callable[[str], Any]:
    """An argparse type: ``kind`` (int or float), finite and at least ``low``."""

    def parse(text: str) -> Any:
        try:
            value = kind(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{text!r} is not {what}") from None
        if not low <= value < math.inf:
            raise argparse.ArgumentTypeError(f"{text!r} is not {what}")
        return value

    parse.__name__ = what  # argparse names the type in some messages
    return parse


_positive_int = _number(int, 1, "a positive whole number")
_count = _number(int, 0, "a whole number, 0 or more")
_seconds = _number(float, 0.0, "a number of seconds, 0 or more")
_port = _number(int, 0, "a port number")


def _positive_seconds(text: str) -> float:
    value: float = _seconds(text)
    if value == 0:
        raise argparse.ArgumentTypeError(f"{text!r} is not a positive number of seconds")
    return value


def _tcp_port(text: str) -> int:
    value: int = _port(text)
    if value > 65535:
        raise argparse.ArgumentTypeError(f"{text!r} is not a port number (0-65535)")
    return value


def _add_progress(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--progress",
        choices=PROGRESS_MODES,
        default="auto",
        help="auto (default): rich bars on a terminal, else plain; plain: a line per account "
        "every --progress-interval seconds and one per finished stream; json: one JSON "
        "object per event per line. All on stderr.",
    )
    parser.add_argument(
        "--plain", dest="progress", action="store_const", const="plain", help="--progress plain"
    )
    parser.add_argument(
        "--progress-interval",
        type=_positive_seconds,
        default=5.0,
        metavar="SECONDS",
        help="seconds between plain/json progress lines per account (default: 5)",
    )


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


if __name__ == "__main__":
    sys.exit(main())
