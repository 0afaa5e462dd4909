"""The end of an export: figures per account and stream, the summary tables, the
``--summary-json`` document and the failure lines."""

from __future__ import annotations

import json
import os
import re
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from ..export import (
    AccountProgress,
    ExportEvent,
    ExportReport,
    LocalWriteError,
    StreamProgress,
)
from ._common import _rich_console

SUMMARY_VERSION = 1


def _fmt_rate(rate: float | None) -> str:
    return "-" if rate is None else f"{rate:.2f}"


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
