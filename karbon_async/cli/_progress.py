"""The three progress views of a running export (rich bars, plain lines, JSON Lines), the
``--progress`` options that choose one, and the loop that drives a view while the export runs."""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
import time
from collections.abc import Callable
from typing import IO, Any

from .._cli_inputs import UsageError
from ..export import AccountProgress, Exporter, ExportEvent, ExportReport
from ..export._progress import describe
from ._common import _isatty, _positive_seconds, _rich_console
from ._summary import account_figures, same_failure, stream_figures

PROGRESS_MODES = ("auto", "rich", "plain", "json")


def _fmt_eta(seconds: float | None) -> str:
    if seconds is None:
        return "?"
    return f"{int(seconds) // 60}:{int(seconds) % 60:02d}"


def _totals(account: AccountProgress) -> tuple[int, int | None]:
    counts = [s.count for s in account.streams.values()]
    total = None if any(c is None for c in counts) else sum(c or 0 for c in counts)
    return account.records, total


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
